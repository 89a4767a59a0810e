"""The Lead aggregate: its state and the transitions of its life. Each transition records the
events it causes and the timers it needs (the first-response SLA, the next try to assign) on the
lead itself; no I/O: the store writes the new state and those events in one update."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from crmhub.aggregate import Aggregate
from crmhub.schemas.leads import (
    OPEN_STATUSES,
    AssignReason,
    LeadAssigned,
    LeadContact,
    LeadConverted,
    LeadCreated,
    LeadDuplicate,
    LeadRejected,
    LeadSlaBreached,
    LeadStatus,
    LeadSummary,
    LeadTaken,
    RejectReason,
    Utm,
)
from leads.domain.submission import Channel, Submission

SOURCE = "/crm/leads"
TOUCHES_KEPT = 100
# Timer kinds the lead asks for (crmhub.timers): its first-response deadline, and the next try
# to find a manager when nobody could take it.
SLA_TIMER = "lead.sla"
ASSIGN_TIMER = "lead.assign"


class LeadConflict(Exception):
    """The transition is not allowed in the lead's current state (HTTP 409)."""


class Touch(BaseModel):
    model_config = ConfigDict(frozen=True)

    touch_id: str
    at: datetime
    channel: Channel
    source_id: str
    contact: LeadContact
    message: str | None = None
    utm: Utm = Utm()
    call_id: str | None = None


class Assignment(BaseModel):
    model_config = ConfigDict(frozen=True)

    manager_id: str
    department_id: str
    at: datetime
    reason: AssignReason
    sla_deadline: datetime | None


class Lead(Aggregate):
    event_source: ClassVar[str] = SOURCE

    source_id: str
    channel: Channel
    status: LeadStatus = "new"
    contact: LeadContact
    phone_raw: str | None = None
    message: str | None = None
    product: str | None = None
    region: str | None = None
    page_url: str | None = None
    utm: Utm = Utm()
    consent: bool | None = None
    custom: dict[str, Any] = {}
    call_id: str | None = None
    created_at: datetime
    manager_id: str | None = None
    department_id: str | None = None
    sla_deadline: datetime | None = None
    sla_breaches: int = 0
    assign_after: datetime | None = None
    taken_at: datetime | None = None
    taken_within_sla: bool | None = None
    closed_at: datetime | None = None
    reject_reason: RejectReason | None = None
    close_comment: str | None = None
    assignments: list[Assignment] = []
    touches: list[Touch] = []
    touch_count: int = 1

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def summary(self) -> LeadSummary:
        return LeadSummary(
            lead_id=self.id,
            source_id=self.source_id,
            contact=self.contact,
            product=self.product,
            region=self.region,
            message=(self.message or "")[:1000] or None,
            utm=self.utm,
        )

    # --- creation and touches ---------------------------------------------------------------

    @property
    def answered_by_call_back(self) -> bool:
        """Born of a missed call: its first response is the call-back telephony owes the number
        (one obligation, one owner — the lead's manager), so it runs no SLA clock of its own."""
        return self.channel == "phone" and self.call_id is not None and self.custom.get("call_outcome") != "answered"

    @classmethod
    def new(cls, lead_id: str, submission: Submission, *, call_id: str | None = None) -> Lead:
        lead = cls(
            id=lead_id,
            source_id=submission.source_id,
            channel=submission.channel,
            contact=submission.contact,
            phone_raw=submission.phone_raw,
            message=submission.message,
            product=submission.product,
            region=submission.region,
            page_url=submission.page_url,
            utm=submission.utm,
            consent=submission.consent,
            custom=submission.custom,
            call_id=call_id,
            created_at=submission.received_at,
        )
        created = LeadCreated(
            lead=lead.summary(),
            channel=submission.channel,
            page_url=lead.page_url,
            consent=lead.consent,
            custom=lead.custom,
            call_id=call_id,
            created_at=lead.created_at,
        )
        lead.record_event(created, at=submission.received_at)
        return lead

    def add_touch(self, touch_id: str, submission: Submission, *, matched_by: str, call_id: str | None = None) -> None:
        """A later submission (or call) from the same person: kept as history, no second lead."""
        if any(t.touch_id == touch_id for t in self.touches):
            return
        touch = Touch(
            touch_id=touch_id,
            at=submission.received_at,
            channel=submission.channel,
            source_id=submission.source_id,
            contact=submission.contact,
            message=submission.message,
            utm=submission.utm,
            call_id=call_id,
        )
        self.touches = [*self.touches, touch][-TOUCHES_KEPT:]
        self.touch_count += 1
        if self.contact.phone is None and submission.contact.phone:
            self.contact = self.contact.model_copy(update={"phone": submission.contact.phone})
        if self.contact.email is None and submission.contact.email:
            self.contact = self.contact.model_copy(update={"email": submission.contact.email})
        duplicate = LeadDuplicate(
            lead_id=self.id,
            manager_id=self.manager_id,
            touch_channel=submission.channel,
            touch_source_id=submission.source_id,
            matched_by="phone" if matched_by == "phone" else "email",
            touches=self.touch_count,
            call_id=call_id,
            at=submission.received_at,
        )
        self.record_event(duplicate, at=submission.received_at)

    # --- assignment --------------------------------------------------------------------------

    def assign(
        self, *, manager_id: str, department_id: str, now: datetime, sla_deadline: datetime | None, reason: AssignReason
    ) -> None:
        if not self.is_open or self.status == "in_work":
            raise LeadConflict(f"lead {self.id} is {self.status}; it cannot be assigned")
        previous = self.manager_id
        self.status = "assigned"
        self.manager_id = manager_id
        self.department_id = department_id
        self.sla_deadline = sla_deadline
        self.assign_after = None
        self.assignments = [
            *self.assignments,
            Assignment(
                manager_id=manager_id, department_id=department_id, at=now, reason=reason, sla_deadline=sla_deadline
            ),
        ]
        self.cancel_timer(ASSIGN_TIMER)
        if sla_deadline is not None:
            self.schedule(SLA_TIMER, sla_deadline)
        else:
            self.cancel_timer(SLA_TIMER)
        assigned = LeadAssigned(
            lead=self.summary(),
            manager_id=manager_id,
            department_id=department_id,
            previous_manager_id=previous,
            reason=reason,
            assigned_at=now,
            sla_deadline=sla_deadline,
        )
        self.record_event(assigned, at=now)

    def wait_until(self, moment: datetime) -> None:
        """Nobody can take the lead now: try again at `moment` (the next shift start)."""
        self.assign_after = moment
        self.schedule(ASSIGN_TIMER, moment)

    def extend_sla(self, deadline: datetime) -> None:
        """Nobody else can take it over after a breach: the same manager gets a new deadline."""
        self.sla_deadline = deadline
        self.assign_after = None
        self.schedule(SLA_TIMER, deadline)

    def _closed_for_timers(self) -> None:
        self.cancel_timer(SLA_TIMER)
        self.cancel_timer(ASSIGN_TIMER)

    def breach_sla(self, *, now: datetime, head_manager_id: str | None) -> None:
        if (
            self.status != "assigned"
            or self.sla_deadline is None
            or self.manager_id is None
            or self.department_id is None
        ):
            raise LeadConflict(f"lead {self.id} is not waiting for its first response")
        self.sla_breaches += 1
        breached = LeadSlaBreached(
            lead=self.summary(),
            manager_id=self.manager_id,
            department_id=self.department_id,
            head_manager_id=head_manager_id,
            deadline=self.sla_deadline,
            breached_at=now,
            breach_number=self.sla_breaches,
        )
        self.record_event(breached, at=now)

    # --- the manager's actions ------------------------------------------------------------------

    def take(self, manager_id: str, *, now: datetime) -> None:
        if self.status == "in_work" and self.manager_id == manager_id:
            return
        if self.status != "assigned":
            raise LeadConflict(f"lead {self.id} is {self.status}; only an assigned lead can be taken")
        if self.manager_id != manager_id:
            raise LeadConflict(f"lead {self.id} is assigned to {self.manager_id}, not {manager_id}")
        # The promise is to the client: the first response within the SLA. A lead that was
        # escalated was not answered in time, whoever takes it afterwards.
        within = self.sla_breaches == 0 and (self.sla_deadline is None or now <= self.sla_deadline)
        self.status = "in_work"
        self._closed_for_timers()
        self.taken_at = now
        self.taken_within_sla = within
        assigned_at = self.assignments[-1].at if self.assignments else self.created_at
        taken = LeadTaken(
            lead_id=self.id,
            manager_id=manager_id,
            source_id=self.source_id,
            taken_at=now,
            response_seconds=max(0.0, (now - assigned_at).total_seconds()),
            within_sla=within,
        )
        self.record_event(taken, at=now)

    def convert(self, *, manager_id: str, now: datetime, comment: str | None) -> None:
        if self.status != "in_work":
            raise LeadConflict(f"lead {self.id} is {self.status}; take it into work before converting it")
        if self.manager_id != manager_id:
            raise LeadConflict(f"lead {self.id} is in the work of {self.manager_id}, not {manager_id}")
        self.status = "converted"
        self._closed_for_timers()
        self.closed_at = now
        self.close_comment = comment
        converted = LeadConverted(
            lead=self.summary(),
            manager_id=manager_id,
            department_id=self.department_id,
            converted_at=now,
            comment=comment,
            page_url=self.page_url,
            custom=self.custom,
            touches=self.touch_count,
        )
        self.record_event(converted, at=now)

    def reject(self, *, reason: RejectReason, comment: str | None, now: datetime) -> None:
        if not self.is_open:
            raise LeadConflict(f"lead {self.id} is already {self.status}")
        self.status = "rejected"
        self._closed_for_timers()
        self.closed_at = now
        self.reject_reason = reason
        self.close_comment = comment
        rejected = LeadRejected(
            lead_id=self.id,
            manager_id=self.manager_id,
            source_id=self.source_id,
            reason=reason,
            comment=comment,
            rejected_at=now,
            phone=self.contact.phone,
        )
        self.record_event(rejected, at=now)
