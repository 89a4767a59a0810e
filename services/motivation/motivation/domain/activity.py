"""What a manager did, as the events of the other services tell it: each event becomes counts
of KPIs for a manager at the moment it happened (not when it arrived). No I/O.

KPIs: incoming calls answered, outgoing calls, missed calls called back, leads taken within
the SLA, meetings held, proposals sent, invoices issued, deals won, and revenue (payments
received, per currency, in minor units: kopecks for RUB).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

ActivityKpi = Literal[
    "incoming_calls",
    "outgoing_calls",
    "callbacks_made",
    "leads_taken_in_sla",
    "meetings_held",
    "proposals_sent",
    "invoices_issued",
    "deals_won",
]
ACTIVITY_KPIS: tuple[str, ...] = ActivityKpi.__args__  # type: ignore[attr-defined]
REVENUE = "revenue"
FUNNEL_STEPS: tuple[str, ...] = (
    "incoming_calls",
    "outgoing_calls",
    "meetings_held",
    "proposals_sent",
    "invoices_issued",
    "deals_won",
)
PERIOD_FORMAT = r"^\d{4}-(0[1-9]|1[0-2])$"


@dataclass(frozen=True)
class Count:
    """One KPI of one manager went up, at a moment, because of something (`ref`: a deal, a call)."""

    manager_id: str
    at: datetime
    kpi: str
    amount_minor: int = 1
    currency: str | None = None
    ref: str | None = None


def to_minor(amount: Decimal) -> int:
    return int((amount * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _at(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def counts_of(event_type: str, data: dict[str, Any], event_time: datetime) -> list[Count]:
    """The counts an event stands for (none for events that are not a manager's result)."""
    if event_type == "call.completed":
        call = data["call"]
        manager = call.get("manager_id")
        if not manager:
            return []
        kpi = {"inbound": "incoming_calls", "outbound": "outgoing_calls"}.get(call["direction"])
        return [Count(manager, _at(call["started_at"]), kpi, ref=f"call:{call['call_id']}")] if kpi else []
    if event_type == "call.callback_made":
        manager = data.get("manager_id")
        return [Count(manager, event_time, "callbacks_made", ref=f"call:{data['callback_call_id']}")] if manager else []
    if event_type == "lead.taken":
        if not data.get("within_sla"):
            return []
        return [Count(data["manager_id"], _at(data["taken_at"]), "leads_taken_in_sla", ref=f"lead:{data['lead_id']}")]
    if event_type == "deal.activity_recorded":
        manager = data.get("manager_id")
        if not manager:
            return []
        at = _at(data["happened_at"])
        ref = f"deal:{data['deal']['deal_id']}"
        kind = data["kind"]
        simple = {
            "meeting_held": "meetings_held",
            "proposal_sent": "proposals_sent",
            "invoice_issued": "invoices_issued",
        }
        if kind in simple:
            return [Count(manager, at, simple[kind], ref=ref)]
        if kind == "payment_received" and data.get("amount") is not None:
            currency = data["deal"].get("currency") or "RUB"
            return [Count(manager, at, REVENUE, to_minor(Decimal(str(data["amount"]))), currency, ref)]
        return []
    if (
        event_type == "deal.stage_changed"
        and data.get("outcome") == "won"
        and data.get("to_stage") != data.get("from_stage")
    ):
        manager = data["deal"].get("manager_id")
        return [Count(manager, _at(data["at"]), "deals_won", ref=f"deal:{data['deal']['deal_id']}")] if manager else []
    return []


def period_of(day: date, start_day: int = 1) -> str:
    """The plan period a local date belongs to: a month starting on `start_day`, named by the
    month it starts in."""
    if day.day < start_day:
        day = day.replace(day=1) - timedelta(days=1)
    return f"{day.year:04d}-{day.month:02d}"


def period_days(period: str, start_day: int = 1) -> tuple[date, date]:
    """First and last local date of a period."""
    year, month = int(period[:4]), int(period[5:7])
    first = date(year, month, start_day)
    following = date(year + (month == 12), month % 12 + 1, start_day)
    return first, following - timedelta(days=1)


def previous_period(period: str) -> str:
    year, month = int(period[:4]), int(period[5:7])
    return f"{year - (month == 1):04d}-{(month - 2) % 12 + 1:02d}"


def year_before(period: str) -> str:
    return f"{int(period[:4]) - 1:04d}{period[4:]}"
