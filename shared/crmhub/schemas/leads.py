"""Lead events on `crm.leads` (key = lead id), published by the leads service."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from crmhub import topics
from crmhub.events import EventData

LeadStatus = Literal["new", "assigned", "in_work", "converted", "rejected"]
OPEN_STATUSES: tuple[LeadStatus, ...] = ("new", "assigned", "in_work")
RejectReason = Literal["spam", "duplicate", "no_answer", "not_interested", "out_of_area", "bought_elsewhere", "other"]
AssignReason = Literal["new_lead", "shift_start", "sla_escalation", "call_answered", "manual"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class Utm(_Model):
    source: str | None = None
    medium: str | None = None
    campaign: str | None = None
    content: str | None = None
    term: str | None = None


class LeadContact(_Model):
    name: str | None = None
    phone: str | None = None
    email: str | None = None


class LeadSummary(_Model):
    """What a person needs to act on a lead: who, how to reach them, what they want."""

    lead_id: str
    source_id: str
    contact: LeadContact
    product: str | None = None
    region: str | None = None
    message: str | None = None
    utm: Utm = Utm()


class LeadCreated(EventData):
    """A new lead, stored before this was published."""

    event_type: ClassVar[str] = "lead.created"
    topic: ClassVar[topics.Topic] = topics.LEADS

    lead: LeadSummary
    channel: Literal["form", "phone", "api"]
    page_url: str | None = None
    consent: bool | None = None
    custom: dict[str, Any] = Field(default_factory=dict)
    call_id: str | None = None
    created_at: datetime


class LeadDuplicate(EventData):
    """A submission matched an open lead by phone or e-mail and was merged into it as a touch."""

    event_type: ClassVar[str] = "lead.duplicate"
    topic: ClassVar[topics.Topic] = topics.LEADS

    lead_id: str
    manager_id: str | None = None
    touch_channel: Literal["form", "phone", "api"]
    touch_source_id: str
    matched_by: Literal["phone", "email"]
    touches: int
    call_id: str | None = None
    at: datetime


class LeadAssigned(EventData):
    """A manager was given the lead and must take it before the SLA deadline."""

    event_type: ClassVar[str] = "lead.assigned"
    topic: ClassVar[topics.Topic] = topics.LEADS

    lead: LeadSummary
    manager_id: str
    department_id: str
    previous_manager_id: str | None = None
    reason: AssignReason
    assigned_at: datetime
    sla_deadline: datetime | None


class LeadTaken(EventData):
    """The assigned manager took the lead into work."""

    event_type: ClassVar[str] = "lead.taken"
    topic: ClassVar[topics.Topic] = topics.LEADS

    lead_id: str
    manager_id: str
    source_id: str
    taken_at: datetime
    response_seconds: float
    within_sla: bool


class LeadSlaBreached(EventData):
    """Nobody took the lead before its first-response deadline; it is escalated."""

    event_type: ClassVar[str] = "lead.sla_breached"
    topic: ClassVar[topics.Topic] = topics.LEADS

    lead: LeadSummary
    manager_id: str
    department_id: str
    head_manager_id: str | None
    deadline: datetime
    breached_at: datetime
    breach_number: int


class LeadConverted(EventData):
    """The lead became a deal; carries what the deal needs."""

    event_type: ClassVar[str] = "lead.converted"
    topic: ClassVar[topics.Topic] = topics.LEADS

    lead: LeadSummary
    manager_id: str
    department_id: str | None
    converted_at: datetime
    comment: str | None = None
    page_url: str | None = None
    custom: dict[str, Any] = Field(default_factory=dict)
    touches: int


class LeadRejected(EventData):
    """The lead was closed without a deal, with a reason from the list."""

    event_type: ClassVar[str] = "lead.rejected"
    topic: ClassVar[topics.Topic] = topics.LEADS

    lead_id: str
    manager_id: str | None
    source_id: str
    reason: RejectReason
    comment: str | None = None
    rejected_at: datetime
    # the lead's phone: whoever followed the number through this lead lets go of it
    phone: str | None = None
