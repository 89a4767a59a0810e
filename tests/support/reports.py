"""A small company's October for the reports tests: one department in Moscow, two managers, leads
from a site form and a tracking line, calls, call-backs, deals won and lost, published on the
real topics as the other services would publish them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from crmhub.events import EventData, new_event, to_record
from crmhub.schemas.calls import CallbackMade, CallCompleted, CallMissed, CallRecord
from crmhub.schemas.deals import DealActivityRecorded, DealCreated, DealStageChanged, DealSummary
from crmhub.schemas.leads import LeadAssigned, LeadContact, LeadCreated, LeadSummary, LeadTaken, Utm
from crmhub.schemas.team import Department
from support.kafka import produce
from support.team import manager, publish_team

MID_OCTOBER = datetime(2026, 10, 15, 12, tzinfo=UTC)


@dataclass(frozen=True)
class Company:
    department: str
    anna: str
    boris: str
    head: str
    site: str  # lead sources, unique to the test
    phone: str
    campaign: str


def company(unique: str) -> Company:
    return Company(
        department=f"sales-{unique}",
        anna=f"anna-{unique}",
        boris=f"boris-{unique}",
        head=f"olga-{unique}",
        site=f"site-{unique}",
        phone=f"phone-{unique}",
        campaign=f"autumn-{unique}",
    )


async def publish(kafka: str, payloads: list[tuple[EventData, str]], *, twice: bool = False) -> None:
    """Publish events as of mid-October (the time of events that carry no time of their own)."""
    records = []
    for payload, subject in payloads:
        record = to_record(new_event(payload, source="/tests", subject=subject, time=MID_OCTOBER))
        records += [record, record] if twice else [record]
    await produce(kafka, records[0].topic, [(r.key, r.value, r.headers) for r in records])


def _lead(c: Company, lead_id: str, source: str, product: str, region: str) -> LeadSummary:
    utm = Utm(source="yandex", campaign=c.campaign) if source == c.site else Utm(source="phone", campaign="radio")
    return LeadSummary(
        lead_id=lead_id, source_id=source, contact=LeadContact(name="Клиент"), product=product, region=region, utm=utm
    )


def _deal(c: Company, deal_id: str, manager_id: str, product: str, region: str, amount: str) -> DealSummary:
    return DealSummary(
        deal_id=deal_id,
        title=f"Кухня {deal_id}",
        pipeline_id="client_service",
        stage="invoice",
        manager_id=manager_id,
        department_id=c.department,
        amount=Decimal(amount),
        region=region,
        product=product,
    )


def _call(manager_id: str | None, at: str, direction: str, ring: float | None, line: str, outcome: str) -> CallRecord:
    return CallRecord(
        call_id=f"call-{uuid.uuid4().hex[:10]}",
        provider_id="pbx",
        provider_call_id=uuid.uuid4().hex,
        direction=direction,  # type: ignore[arg-type]
        caller="+74950000000",
        callee="+79160000000",
        line=line,
        campaign="radio",
        manager_id=manager_id,
        started_at=at,  # type: ignore[arg-type]
        ring_seconds=ring,
        outcome=outcome,  # type: ignore[arg-type]
    )


async def publish_october(kafka: str, c: Company) -> dict[str, Any]:
    """Publish the month (every event twice: a redelivery must change nothing); returns what the
    reports must say."""
    department = Department(
        id=c.department, name="Продажи Москва", region="Moscow", timezone="Europe/Moscow", head_manager_id=c.head
    )
    await publish_team(
        kafka,
        [department],
        [
            manager(c.anna, c.department, name="Анна"),
            manager(c.boris, c.department, name="Борис"),
            manager(c.head, c.department),
        ],
    )
    leads = [
        (f"lead-a-{c.site}", c.site, "kitchen", "Moscow", c.anna, True),
        (f"lead-b-{c.site}", c.site, "wardrobe", "Tver", c.boris, False),
        (f"lead-c-{c.site}", c.phone, "kitchen", "Moscow", c.anna, True),
    ]
    lead_events: list[tuple[EventData, str]] = []
    for lead_id, source, product, region, who, in_sla in leads:
        summary = _lead(c, lead_id, source, product, region)
        custom = {"line": "+74951112233"} if source == c.phone else {}
        lead_events += [
            (LeadCreated(lead=summary, channel="form", custom=custom, created_at="2026-10-05T09:00:00Z"), lead_id),  # type: ignore[arg-type]
            (
                LeadAssigned(
                    lead=summary,
                    manager_id=who,
                    department_id=c.department,
                    reason="new_lead",
                    assigned_at="2026-10-05T09:00:01Z",  # type: ignore[arg-type]
                    sla_deadline=None,
                ),
                lead_id,
            ),
            (
                LeadTaken(
                    lead_id=lead_id,
                    manager_id=who,
                    source_id=source,
                    taken_at="2026-10-05T09:05:00Z",  # type: ignore[arg-type]
                    response_seconds=299 if in_sla else 3600,
                    within_sla=in_sla,
                ),
                lead_id,
            ),
        ]
    await publish(kafka, lead_events, twice=True)
    missed = _call(None, "2026-10-06T10:00:00Z", "inbound", 30, "+74951112233", "missed")
    calls: list[tuple[EventData, str]] = [
        (CallCompleted(call=_call(c.anna, "2026-10-06T09:00:00Z", "inbound", 8, "+74951112233", "answered")), "c1"),
        (CallCompleted(call=_call(c.boris, "2026-10-06T09:10:00Z", "inbound", 25, "+74951112233", "answered")), "c2"),
        (CallCompleted(call=_call(c.anna, "2026-10-07T09:00:00Z", "outbound", None, "+74951112233", "answered")), "c3"),
        (CallMissed(call=missed), missed.call_id),
        (
            CallbackMade(
                missed_call_id=missed.call_id,
                callback_call_id="cb-1",
                number="+79160000000",
                manager_id=c.boris,
                delay_seconds=400,
            ),
            missed.call_id,
        ),
    ]
    await publish(kafka, calls, twice=True)
    won = _deal(c, f"deal-won-{c.site}", c.anna, "kitchen", "Moscow", "150000.50")
    won_b = _deal(c, f"deal-won2-{c.site}", c.boris, "wardrobe", "Tver", "80000")
    lost = _deal(c, f"deal-lost-{c.site}", c.boris, "wardrobe", "Tver", "50000")
    deals: list[tuple[EventData, str]] = []
    for deal, source in ((won, c.site), (won_b, c.site), (lost, c.phone)):
        deals.append(
            (
                DealCreated(deal=deal, source_id=source, campaign=c.campaign, created_at="2026-10-08T10:00:00Z"),
                deal.deal_id,
            )  # type: ignore[arg-type]
        )
    for deal, kind, amount in (
        (won, "meeting_held", None),
        (won, "proposal_sent", None),
        (won, "invoice_issued", None),
        (won, "payment_received", "150000.50"),
        (won_b, "payment_received", "80000"),
    ):
        deals.append(
            (
                DealActivityRecorded(
                    deal=deal,
                    activity_id=uuid.uuid4().hex,
                    kind=kind,  # type: ignore[arg-type]
                    manager_id=deal.manager_id,
                    department_id=c.department,
                    happened_at="2026-10-10T12:00:00Z",  # type: ignore[arg-type]
                    amount=Decimal(amount) if amount else None,
                ),
                deal.deal_id,
            )
        )
    for deal, outcome, reason in ((won, "won", None), (won_b, "won", None), (lost, "lost", "Дорого")):
        deals.append(
            (
                DealStageChanged(
                    deal=deal,
                    from_stage="invoice",
                    to_stage="won" if outcome == "won" else "lost",
                    outcome=outcome,  # type: ignore[arg-type]
                    days_in_previous_stage=2,
                    lost_reason=reason,
                    at="2026-10-12T12:00:00Z",  # type: ignore[arg-type]
                ),
                deal.deal_id,
            )
        )
    await publish(kafka, deals, twice=True)
    return {
        "revenue": {c.anna: Decimal("150000.50"), c.boris: Decimal("80000.00")},
        "deals_won": {c.anna: 1, c.boris: 1},
        "deals_lost": {c.anna: 0, c.boris: 1},
    }


OCTOBER_TOTALS = {
    "deals_lost": 1,
    "revenue": "230000.50",
    "leads_assigned": 3,
    "meetings_held": 1,
    "callbacks_made": 1,
    "leads_taken": 3,
    "calls_incoming": 2,
}


async def await_october(http: Any, c: Company, timeout: float = 40) -> None:
    """Wait until the reports show the whole month (the department's totals), or fail saying what they show."""
    import pytest

    from support.kafka import eventually

    seen: dict[str, Any] = {}

    async def counted() -> bool:
        for report in ("sales", "funnel", "responsiveness"):
            params = {"from": "2026-10-01", "to": "2026-10-31", "department": c.department}
            got = (await http.get(f"/v1/reports/{report}", params=params)).json()
            seen.update({k: v for k, v in got["totals"].items() if k in OCTOBER_TOTALS})
        return seen == OCTOBER_TOTALS

    try:
        await eventually(counted, timeout=timeout, interval=0.5)
    except AssertionError:
        pytest.fail(f"the reports did not reach {OCTOBER_TOTALS}: {seen}")
