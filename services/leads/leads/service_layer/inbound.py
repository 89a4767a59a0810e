"""Leads published to crm.inbound.leads by outside systems: the same pipeline as the HTTP intake
(validation, normalisation, duplicates by `ce_id` and by submission, spam, assignment). What
cannot be taken in is a PoisonMessage: the consumer dead-letters it to crm.inbound.leads.dlq
with the reason in its headers, and the partition moves on."""

from __future__ import annotations

from pydantic import ValidationError

from crmhub.events import CloudEvent, PoisonMessage
from crmhub.intake import IntakeError
from crmhub.schemas.inbound import LeadSubmitted
from leads.adapters.formats import Parsed
from leads.service_layer.context import Leads
from leads.service_layer.intake import Taken, accept, without_secrets


async def take_in_published(deps: Leads, event: CloudEvent, payload: LeadSubmitted) -> Taken:
    source = deps.sources.by_id(payload.source_id)
    if source is None:
        raise PoisonMessage(f"source_id: no intake source {payload.source_id!r} is configured")
    fields = dict(payload.lead)
    honeypot = fields.pop(source.honeypot_field, None) if source.honeypot_field else None
    # the sender's own submission_id is the submission (as over HTTP); without one, the event id
    key = None if fields.get("submission_id") else f"ce:{event.id}"
    parsed = without_secrets(Parsed(fields=fields, honeypot=honeypot), source)
    try:
        return await accept(deps, source, parsed, channel="api", submission_key=key, now=deps.now())
    except IntakeError as exc:
        raise PoisonMessage(f"{exc.field + ': ' if exc.field else ''}{exc} ({exc.code})") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "lead"
        raise PoisonMessage(f"lead.{where}: {first['msg']}") from None
