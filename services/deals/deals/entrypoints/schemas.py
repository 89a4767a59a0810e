"""The public HTTP schemas of the deals service: what clients send and what they get back, kept
apart from the aggregates so their internals can change without changing the API."""

# No `from __future__ import annotations`: FastAPI reads these models at route definition.

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from crmhub.contacts import normalize_email, normalize_phone
from crmhub.moments import Moment
from crmhub.schemas.deals import ActivityKind, Sentiment, TaskStatus
from crmhub.schemas.leads import LeadContact
from crmhub.schemas.team import ENTITY_ID_PATTERN
from crmhub.timers import Timer
from deals.domain.deal import Activity, Deal, ProductLine, StageVisit
from deals.domain.tasks import Task

ManagerId = Annotated[str, StringConstraints(pattern=ENTITY_ID_PATTERN)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Money = Annotated[Decimal, Field(ge=0, le=Decimal("1e12"), decimal_places=2)]
Quantity = Annotated[Decimal, Field(gt=0, le=Decimal("1e6"), decimal_places=3)]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
FieldName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
FieldValue = Annotated[str, StringConstraints(max_length=500)] | int | float | bool | None


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ClientIn(_Body):
    name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = None
    phone: Annotated[str, StringConstraints(max_length=32)] | None = None
    email: Annotated[str, StringConstraints(max_length=254)] | None = None

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        if value is None:
            return None
        phone = normalize_phone(value)
        if phone is None:
            raise ValueError("not a valid phone number")
        return phone

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is None:
            return None
        email = normalize_email(value)
        if email is None:
            raise ValueError("not a valid e-mail address")
        return email

    def contact(self) -> LeadContact:
        return LeadContact(name=self.name, phone=self.phone, email=self.email)


class ProductIn(_Body):
    name: Title
    quantity: Quantity = Decimal(1)
    price: Money

    def line(self) -> ProductLine:
        return ProductLine(name=self.name, quantity=self.quantity, price=self.price)


class NewDeal(_Body):
    """A person opens a deal for themselves (`manager_id` may be left out); a head or an
    administrator may name the manager they act for; an integration token names the manager."""

    title: Title
    pipeline_id: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,39}$")] | None = None
    manager_id: ManagerId | None = None
    client: ClientIn = ClientIn()
    region: Annotated[str, StringConstraints(max_length=100)] | None = None
    product: Annotated[str, StringConstraints(max_length=200)] | None = None
    products: Annotated[list[ProductIn], Field(max_length=200)] = []
    amount: Money | None = None
    currency: Currency = "RUB"


class MoveDeal(_Body):
    """Move to a stage. To the `lost` stage: a `reason` from `GET /v1/pipelines` and a `comment`."""

    to: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
    reason: Annotated[str, StringConstraints(max_length=40)] | None = None
    comment: Text | None = None


class NewActivity(_Body):
    """Something that happened on the deal. `planned_at` (a scheduled measurement or meeting) and
    `until` (the date a client asked to decide by) set the due time of the tasks they cause."""

    kind: ActivityKind
    happened_at: Moment | None = None
    text: Text | None = None
    amount: Money | None = None
    sentiment: Sentiment | None = None
    planned_at: Moment | None = None
    until: Moment | None = None
    executor: Annotated[str, StringConstraints(max_length=200)] | None = None
    reason: Text | None = None

    def details(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for name in ("planned_at", "until"):
            value = getattr(self, name)
            if value is not None:
                found[name] = value.isoformat()
        for name in ("executor", "reason"):
            if getattr(self, name) is not None:
                found[name] = getattr(self, name)
        return found


class ChangeDeal(_Body):
    title: Title | None = None
    manager_id: ManagerId | None = None
    products: Annotated[list[ProductIn], Field(max_length=200)] | None = None
    amount: Money | None = None
    fields: Annotated[dict[FieldName, FieldValue], Field(max_length=50)] | None = None


class NewTask(_Body):
    """A task by hand, on a deal (`deal_id`) or on a client (`client`: phone or e-mail)."""

    title: Title
    due_at: Moment
    manager_id: ManagerId | None = None
    deal_id: Annotated[str, StringConstraints(pattern=r"^deal-[a-z0-9]{1,40}$")] | None = None
    client: ClientIn | None = None


class CompleteTask(_Body):
    result: Text


class RescheduleTask(_Body):
    due_at: Moment


class ReassignTask(_Body):
    manager_id: ManagerId


class CancelTask(_Body):
    reason: Text


class TaskView(BaseModel):
    id: str
    title: str
    manager_id: str
    department_id: str | None
    due_at: datetime
    status: TaskStatus
    overdue: bool
    deal_id: str | None
    client: LeadContact | None
    rule_id: str | None
    created_at: datetime
    created_by: str | None
    result: str | None
    closed_at: datetime | None
    cancel_reason: str | None

    @classmethod
    def of(cls, task: Task, *, deal_id: str | None, client: LeadContact | None, now: datetime) -> "TaskView":
        return cls(
            **task.model_dump(include=set(cls.model_fields) - {"overdue", "deal_id", "client"}),
            overdue=task.status == "open" and task.due_at < now,
            deal_id=deal_id,
            client=client,
        )


class TimerView(BaseModel):
    rule_id: str
    occurrence: str
    due_at: datetime

    @classmethod
    def of(cls, timer: Timer) -> "TimerView":
        occurrence = str(timer.payload.get("occurrence", ""))
        return cls(rule_id=occurrence.split("@")[0], occurrence=occurrence, due_at=timer.due_at)


class DealView(BaseModel):
    """A deal as the API shows it: where it stands, its money, its history and activities, its
    open tasks and the rule timers waiting on it. `version` is what `If-Match` expects."""

    id: str
    version: int
    title: str
    pipeline_id: str
    stage: str
    outcome: Literal["open", "won", "lost"]
    allowed_moves: list[str]
    manager_id: str | None
    department_id: str | None
    client: LeadContact
    region: str | None
    product: str | None
    source_id: str | None
    campaign: str | None
    lead_id: str | None
    products: list[ProductLine]
    amount: Decimal
    currency: str
    fields: dict[str, Any]
    lost_reason: str | None
    lost_comment: str | None
    created_at: datetime
    closed_at: datetime | None
    history: list[StageVisit]
    activities: list[Activity]
    open_tasks: list[TaskView]
    timers: list[TimerView]

    @classmethod
    def of(
        cls, deal: Deal, *, allowed_moves: list[str], now: datetime, timers: list[Timer] | None = None
    ) -> "DealView":
        return cls(
            **deal.model_dump(
                include={
                    "id",
                    "title",
                    "pipeline_id",
                    "stage",
                    "outcome",
                    "manager_id",
                    "department_id",
                    "region",
                    "product",
                    "source_id",
                    "campaign",
                    "lead_id",
                    "amount",
                    "currency",
                    "fields",
                    "lost_reason",
                    "lost_comment",
                    "created_at",
                    "closed_at",
                }
            ),
            version=deal.version or 1,
            allowed_moves=allowed_moves,
            client=deal.contact,
            products=deal.products,
            history=deal.history,
            activities=deal.activities,
            open_tasks=[TaskView.of(t, deal_id=deal.id, client=deal.contact, now=now) for t in deal.open_tasks()],
            timers=[TimerView.of(t) for t in timers or []],
        )


class DealPage(BaseModel):
    items: list[DealView]
    total: int
    limit: int
    offset: int


class TaskList(BaseModel):
    items: list[TaskView]
    count: int
