"""The public HTTP schemas of the leads service: what clients send and what they get back,
kept apart from the Lead aggregate so its internals can change without changing the API."""

# No `from __future__ import annotations`: FastAPI reads these models at route definition.

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints

from crmhub.schemas.leads import AssignReason, LeadContact, LeadStatus, RejectReason, Utm
from crmhub.schemas.team import ENTITY_ID_PATTERN
from leads.domain.lead import Lead

ManagerId = Annotated[str, StringConstraints(pattern=ENTITY_ID_PATTERN)]
Comment = Annotated[str, StringConstraints(max_length=2000)]


class IntakeAccepted(BaseModel):
    lead_id: str | None
    status: Literal["created", "merged", "repeated", "discarded"]


class TakeLead(BaseModel):
    """A person takes a lead as themselves (`manager_id` may be left out); an administrator or a
    head may name the manager they act for; an integration token names the manager."""

    model_config = ConfigDict(extra="forbid")
    manager_id: ManagerId | None = None


class ConvertLead(BaseModel):
    model_config = ConfigDict(extra="forbid")
    manager_id: ManagerId | None = None
    comment: Comment | None = None


class RejectLead(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: RejectReason
    comment: Comment | None = None


class AssignmentView(BaseModel):
    manager_id: str
    department_id: str
    at: datetime
    reason: AssignReason
    sla_deadline: datetime | None


class TouchView(BaseModel):
    touch_id: str
    at: datetime
    channel: str
    source_id: str
    contact: LeadContact
    message: str | None = None
    utm: Utm = Utm()
    call_id: str | None = None


class LeadView(BaseModel):
    """A lead as the API shows it: contact, attribution, where it is in its life, its history."""

    id: str
    source_id: str
    channel: str
    status: LeadStatus
    contact: LeadContact
    phone_raw: str | None
    message: str | None
    product: str | None
    region: str | None
    page_url: str | None
    utm: Utm
    consent: bool | None
    custom: dict[str, Any]
    call_id: str | None
    created_at: datetime
    manager_id: str | None
    department_id: str | None
    sla_deadline: datetime | None
    sla_breaches: int
    # When a lead nobody could take is offered to managers again (the next shift start).
    assign_after: datetime | None
    taken_at: datetime | None
    taken_within_sla: bool | None
    closed_at: datetime | None
    reject_reason: RejectReason | None
    close_comment: str | None
    assignments: list[AssignmentView]
    touches: list[TouchView]
    touch_count: int

    @classmethod
    def of(cls, lead: Lead) -> "LeadView":
        return cls.model_validate(lead.model_dump())


class LeadPage(BaseModel):
    items: list[LeadView]
    total: int
    limit: int
    offset: int
