"""Plans, payouts and performance flags on `crm.motivation` (key = manager id or `department:<id>`
or `period:<YYYY-MM>`), published by the motivation service. Money is a decimal string."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar, Literal

from crmhub import topics
from crmhub.events import EventData

PlanScope = Literal["department", "manager"]


class PlanSet(EventData):
    """A plan for a period was set or changed (the whole plan, as it is now)."""

    event_type: ClassVar[str] = "plan.set"
    topic: ClassVar[topics.Topic] = topics.MOTIVATION

    period: str
    scope: PlanScope
    scope_id: str
    activity: list[dict[str, Any]]
    sales_target: Decimal
    currency: str
    version: int
    at: datetime


class PayoutCalculated(EventData):
    """A manager's payout for a closed period, with its parts (the explanation is at the API)."""

    event_type: ClassVar[str] = "payout.calculated"
    topic: ClassVar[topics.Topic] = topics.MOTIVATION

    period: str
    manager_id: str
    department_id: str | None
    revision: int
    currency: str
    base_salary: Decimal
    salary_share_percent: Decimal
    salary: Decimal
    commission_rate_percent: Decimal
    commission: Decimal
    adjustments: Decimal
    total: Decimal
    activity_fulfilment_percent: Decimal
    sales_fulfilment_percent: Decimal | None
    at: datetime


class PeriodClosed(EventData):
    """A period's figures are frozen and its payouts calculated."""

    event_type: ClassVar[str] = "period.closed"
    topic: ClassVar[topics.Topic] = topics.MOTIVATION

    period: str
    revision: int
    managers: int
    total_payout: Decimal
    currency: str
    at: datetime


class PeriodReopened(EventData):
    """A head reopened a closed period (its next close supersedes the payouts)."""

    event_type: ClassVar[str] = "period.reopened"
    topic: ClassVar[topics.Topic] = topics.MOTIVATION

    period: str
    by: str
    reason: str
    at: datetime


class PlanUnrealistic(EventData):
    """More than the threshold share of a department's managers missed the sales plan in each of
    the last N closed periods: the plan, not the people, is probably wrong."""

    event_type: ClassVar[str] = "plan.unrealistic"
    topic: ClassVar[topics.Topic] = topics.MOTIVATION

    department_id: str
    head_manager_id: str | None
    periods: list[str]
    missed_shares: list[Decimal]
    threshold: Decimal
    at: datetime


class PlanReviewSuggested(EventData):
    """A seasonal department missed like an unrealistic plan would: compare with the same months
    of the previous year before calling the plan wrong."""

    event_type: ClassVar[str] = "plan.review_suggested"
    topic: ClassVar[topics.Topic] = topics.MOTIVATION

    department_id: str
    head_manager_id: str | None
    periods: list[str]
    missed_shares: list[Decimal]
    revenue: list[Decimal]
    revenue_year_before: list[Decimal]
    currency: str
    at: datetime


class ManagerUnderperforming(EventData):
    """Only a few of a department's managers missed the plan; this is one of them, with the step
    of the funnel furthest below the department's median."""

    event_type: ClassVar[str] = "manager.underperforming"
    topic: ClassVar[topics.Topic] = topics.MOTIVATION

    period: str
    manager_id: str
    department_id: str
    head_manager_id: str | None
    sales_fulfilment_percent: Decimal
    weakest_step: str
    value: Decimal
    department_median: Decimal
    diagnosis: str
    at: datetime
