"""Deal and task events on `crm.deals` (key = deal id, or the client's task list id), published
by the deals service; and `deal.activity_reported`, which integrators (accounting, 1C, a site)
publish onto `crm.deals` for the deals service to record on a deal.

Every activity a manager's funnel counts (calls, meetings, proposals, invoices, payments) is a
`deal.activity_recorded` with the manager and the time it happened, so the motivation service
counts them without reading the deals service's database.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from crmhub import topics
from crmhub.events import EventData
from crmhub.schemas.leads import LeadContact

ActivityKind = Literal[
    "measurement_scheduled",
    "measurement_accepted",
    "measurement_rejected",
    "design_ready",
    "proposal_saved",
    "proposal_sent",
    "client_invited",
    "decision_postponed",
    "invoice_issued",
    "payment_received",
    "handed_to_production",
    "work_delivered",
    "review_collected",
    "meeting_scheduled",
    "meeting_held",
    "meeting_cancelled",
    "call_linked",
    "note",
    "document",
    "feedback",
]
ACTIVITY_KINDS: tuple[str, ...] = ActivityKind.__args__  # type: ignore[attr-defined]
Sentiment = Literal["positive", "neutral", "negative"]
TaskStatus = Literal["open", "done", "cancelled"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class DealSummary(_Model):
    """What a person needs to act on a deal: which one, whose, where it stands, how big."""

    deal_id: str
    title: str
    pipeline_id: str
    stage: str
    manager_id: str | None
    department_id: str | None
    contact: LeadContact = LeadContact()
    amount: Decimal = Decimal(0)
    currency: str = "RUB"
    region: str | None = None
    product: str | None = None


class DealCreated(EventData):
    """A new deal: from a converted lead (`lead_id` set) or through the API."""

    event_type: ClassVar[str] = "deal.created"
    topic: ClassVar[topics.Topic] = topics.DEALS

    deal: DealSummary
    lead_id: str | None = None
    source_id: str | None = None
    campaign: str | None = None
    created_at: datetime


class DealStageChanged(EventData):
    """The deal moved between stages (by a person, or by a rule). A move to a `lost` stage
    carries the reason and the comment."""

    event_type: ClassVar[str] = "deal.stage_changed"
    topic: ClassVar[topics.Topic] = topics.DEALS

    deal: DealSummary
    from_stage: str
    to_stage: str
    outcome: Literal["open", "won", "lost"]
    days_in_previous_stage: float
    rule_id: str | None = None
    lost_reason: str | None = None
    comment: str | None = None
    at: datetime


class DealUpdated(EventData):
    """The deal's products, amount, manager or fields changed; `changes` holds the new values."""

    event_type: ClassVar[str] = "deal.updated"
    topic: ClassVar[topics.Topic] = topics.DEALS

    deal: DealSummary
    changes: dict[str, Any]
    previous_manager_id: str | None = None
    rule_id: str | None = None
    at: datetime


class DealActivityRecorded(EventData):
    """Something happened on the deal: a measurement, a meeting, a proposal, an invoice, a
    payment, a linked call, a note, a document, the client's feedback. What the funnel counts."""

    event_type: ClassVar[str] = "deal.activity_recorded"
    topic: ClassVar[topics.Topic] = topics.DEALS

    deal: DealSummary
    activity_id: str
    kind: ActivityKind
    manager_id: str | None
    department_id: str | None
    happened_at: datetime
    amount: Decimal | None = None
    sentiment: Sentiment | None = None
    text: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)


class DealAlert(EventData):
    """A rule asks for people to be told about the deal at once (negative feedback to the head,
    a paid order to production). `recipient_ids` are resolved from the team directory."""

    event_type: ClassVar[str] = "deal.alert"
    topic: ClassVar[topics.Topic] = topics.DEALS

    deal: DealSummary
    alert: str
    rule_id: str
    audience: list[str]
    recipient_ids: list[str]
    manager_id: str | None
    head_manager_id: str | None
    text: str | None = None
    at: datetime


class DealActivityReported(EventData):
    """Published by an integration (accounting, 1C, a site) onto crm.deals: record this activity
    on the deal. `report_id` makes a repeated report a no-op."""

    event_type: ClassVar[str] = "deal.activity_reported"
    topic: ClassVar[topics.Topic] = topics.DEALS

    deal_id: str
    report_id: str = Field(min_length=1, max_length=200)
    kind: ActivityKind
    happened_at: datetime | None = None
    amount: Decimal | None = Field(default=None, ge=0, le=Decimal("1e12"))
    sentiment: Sentiment | None = None
    text: str | None = Field(default=None, max_length=4000)
    details: dict[str, Any] = Field(default_factory=dict)


class TaskSummary(_Model):
    """One task: what to do, for whom, by when, and where it came from."""

    task_id: str
    title: str
    manager_id: str
    department_id: str | None
    due_at: datetime
    status: TaskStatus
    deal_id: str | None = None
    deal_title: str | None = None
    client: LeadContact | None = None
    rule_id: str | None = None
    created_by: str | None = None


class TaskCreated(EventData):
    """A task was set: by a rule, or by a person (`created_by`)."""

    event_type: ClassVar[str] = "task.created"
    topic: ClassVar[topics.Topic] = topics.DEALS

    task: TaskSummary
    manager_id: str
    at: datetime


class TaskDue(EventData):
    """A reminder at the task's due time: it is still open."""

    event_type: ClassVar[str] = "task.due"
    topic: ClassVar[topics.Topic] = topics.DEALS

    task: TaskSummary
    manager_id: str
    at: datetime


class TaskOverdue(EventData):
    """The task is still open a grace period after its due time: the manager and the head hear."""

    event_type: ClassVar[str] = "task.overdue"
    topic: ClassVar[topics.Topic] = topics.DEALS

    task: TaskSummary
    manager_id: str
    head_manager_id: str | None
    at: datetime


class TaskCompleted(EventData):
    """The task was done, with its result."""

    event_type: ClassVar[str] = "task.completed"
    topic: ClassVar[topics.Topic] = topics.DEALS

    task: TaskSummary
    manager_id: str
    result: str
    on_time: bool
    at: datetime


class TaskCancelled(EventData):
    """The task is no longer needed: the deal moved on, the reason for it went away, or a person cancelled it."""

    event_type: ClassVar[str] = "task.cancelled"
    topic: ClassVar[topics.Topic] = topics.DEALS

    task: TaskSummary
    manager_id: str
    reason: str
    at: datetime


class TaskRescheduled(EventData):
    """The task's due time moved."""

    event_type: ClassVar[str] = "task.rescheduled"
    topic: ClassVar[topics.Topic] = topics.DEALS

    task: TaskSummary
    manager_id: str
    previous_due_at: datetime
    at: datetime


class TaskReassigned(EventData):
    """The task went to another manager."""

    event_type: ClassVar[str] = "task.reassigned"
    topic: ClassVar[topics.Topic] = topics.DEALS

    task: TaskSummary
    manager_id: str
    previous_manager_id: str
    at: datetime


class DocumentSummary(_Model):
    """A document made from a template on a deal's data: which, its number, its file."""

    document_id: str
    deal_id: str
    template_id: str
    kind: str
    title: str
    number: str | None = None
    file_name: str
    media_type: str = "application/pdf"
    sha256: str
    size: int
    amount: Decimal | None = None
    currency: str = "RUB"


class Attachment(_Model):
    """A file an e-mail carries by reference: fetched from `url` when the message goes out and
    checked against `sha256`."""

    name: str
    url: str
    media_type: str
    sha256: str
    size: int


class DocumentCreated(EventData):
    """A document was rendered on the deal's data and stored (an invoice with its number)."""

    event_type: ClassVar[str] = "document.created"
    topic: ClassVar[topics.Topic] = topics.DEALS
    document: DocumentSummary
    deal: DealSummary
    manager_id: str | None
    created_by: str
    at: datetime


class DocumentSent(EventData):
    """Send this document to the client: the notifier e-mails `address` with the file attached
    (once per document and address)."""

    event_type: ClassVar[str] = "document.sent"
    topic: ClassVar[topics.Topic] = topics.DEALS
    document: DocumentSummary
    deal: DealSummary
    manager_id: str | None
    address: str
    channel: Literal["email"] = "email"
    message: str | None = None
    attachments: list[Attachment]
    sent_by: str
    at: datetime
