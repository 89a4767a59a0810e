"""Events outside systems publish for the hub to take in (crm.inbound.*): the same shapes as the
HTTP intake, so a system that publishes to Kafka instead of calling webhooks goes through exactly
the same pipeline. Access is Kafka's (ACLs on the topics); the hub never publishes these."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import Field, StringConstraints

from crmhub import topics
from crmhub.events import EventData
from crmhub.schemas.team import ENTITY_ID_PATTERN

Id = Annotated[str, StringConstraints(pattern=ENTITY_ID_PATTERN)]


class LeadSubmitted(EventData):
    """A lead for the hub: `lead` is the canonical lead exactly as `POST /v1/leads` takes it
    (docs/leads.md: name, phone, email, message, product, region, page_url, utm, consent,
    custom, submission_id), taken in under the configured source `source_id` (its assignment,
    SLA, duplicates window and blocklist apply). The same `ce_id`, or the same
    `lead.submission_id`, again is the same submission."""

    event_type: ClassVar[str] = "lead.submitted"
    topic: ClassVar[topics.Topic] = topics.INBOUND_LEADS

    source_id: Id
    lead: dict[str, Any] = Field(description="the canonical lead, as POST /v1/leads takes it")


class CallReported(EventData):
    """One call event for the hub: `call` is the canonical call event exactly as the `json`
    telephony webhook takes it (docs/telephony.md: call_id, event, at, direction, caller, callee,
    line, extension, outcome, talk_seconds, recording_url, redirect_to, seq), under the
    configured provider `provider_id` (format `json`: its lines and extensions apply)."""

    event_type: ClassVar[str] = "call.reported"
    topic: ClassVar[topics.Topic] = topics.INBOUND_CALLS

    provider_id: Id
    call: dict[str, Any] = Field(description="the canonical call event, as the json provider webhook takes it")
