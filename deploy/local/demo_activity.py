"""`make demo-activity`: four months of synthetic work by the demo team, for the motivation demo.

Publishes, onto the running hub's Kafka, the events the leads, telephony and deals services would
have published for July to October 2026: leads by source and campaign, calls by tracking line
(some missed and called back), deals by product and region (won, paid or lost with a reason),
meetings, proposals and invoices of anna, boris and olga (Moscow) and dmitry (Novosibirsk, a
seasonal department). The
motivation service counts them like any others. The story the numbers tell (docs/motivation.md):
July to September nobody in Moscow reaches the example plan (an unrealistic plan); in October
anna and olga do and boris does not, with few meetings (an underperformer, diagnosed); dmitry's
seasonal department misses throughout (a review against last year, not an alarm).

    python deploy/local/demo_activity.py [--kafka 127.0.0.1:9092]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "shared")]

import httpx  # noqa: E402
from aiokafka import AIOKafkaProducer  # noqa: E402

from crmhub.events import EventData, new_event, to_record  # noqa: E402
from crmhub.schemas.calls import CallbackMade, CallCompleted, CallMissed, CallRecord  # noqa: E402
from crmhub.schemas.deals import DealActivityRecorded, DealCreated, DealStageChanged, DealSummary  # noqa: E402
from crmhub.schemas.leads import LeadAssigned, LeadContact, LeadCreated, LeadSummary, LeadTaken, Utm  # noqa: E402

MONTHS = ("2026-07", "2026-08", "2026-09", "2026-10")
# a dozen regular clients: their first inbound call became a lead, the rest are touches of it
CLIENTS = tuple(f"+7916555{n:04d}" for n in range(12))
COUNTED = ("incoming_calls", "outgoing_calls", "meetings_held", "proposals_sent", "invoices_issued", "deals_won")
# per month: outgoing calls, incoming calls, meetings, proposals, invoices, payments (RUB), deals won
WEAK = (180, 60, 8, 4, 2, [Decimal(300_000)], 1)
STRONG = (260, 80, 22, 12, 6, [Decimal(450_000), Decimal(400_000), Decimal(420_000)], 3)
FEW_MEETINGS = (250, 75, 3, 2, 1, [Decimal(200_000)], 1)


def plan_of(manager: str, month: str) -> tuple[int, int, int, int, int, list[Decimal], int]:
    if manager in ("anna", "olga") and month == "2026-10":
        return STRONG
    if manager == "boris" and month == "2026-10":
        return FEW_MEETINGS
    return WEAK


def moments(month: str, count: int, rng: random.Random) -> list[datetime]:
    start = datetime.fromisoformat(f"{month}-01T06:00:00+00:00")
    return sorted(start + timedelta(days=rng.randrange(0, 28), minutes=rng.randrange(0, 600)) for _ in range(count))


PRODUCTS = ("Кухня", "Шкаф-купе", "Гардеробная")
REGIONS = {"sales-msk": ("Москва", "Московская область"), "sales-nsk": ("Новосибирск",)}
# where leads come from: the site's form by advertising campaign, and the tracking phone lines
SOURCES = (("site-form", "yandex-kitchens"), ("site-form", "vk-autumn"), ("phone", "radio-line"), ("partner", None))
LINES = {"+74951110000": None, "+74951112233": "radio-line"}
LOST_REASONS = ("Дорого", "Купил у конкурента", "Передумал")
Timed = tuple[EventData, str, datetime | None]


def events_for(manager: str, department: str, month: str, rng: random.Random) -> list[Timed]:
    """A manager's month: calls (some missed and called back), leads by source, deals by product
    and region (won, paid and lost), meetings, proposals and invoices."""
    outgoing, incoming, meetings, proposals, invoices, payments, won = plan_of(manager, month)
    regions = REGIONS[department]
    found: list[Timed] = []
    for direction, count in (("outbound", outgoing), ("inbound", incoming)):
        for at in moments(month, count, rng):
            call_id = f"demo-{uuid.uuid4().hex[:12]}"
            line = rng.choice(tuple(LINES))
            ring = rng.uniform(3, 25) if direction == "inbound" else None
            record = CallRecord(
                call_id=call_id,
                provider_id="demo-pbx",
                provider_call_id=call_id,
                direction=direction,
                caller=line if direction == "outbound" else rng.choice(CLIENTS),
                callee=rng.choice(CLIENTS) if direction == "outbound" else line,
                line=line,
                campaign=LINES[line],
                manager_id=manager,
                started_at=at,
                answered_at=at + timedelta(seconds=ring or 5),
                ended_at=at + timedelta(minutes=3),
                ring_seconds=ring,
                talk_seconds=175,
                outcome="answered",
            )
            found.append((CallCompleted(call=record), call_id, None))
    for at in moments(month, 6, rng):
        call_id = f"demo-missed-{uuid.uuid4().hex[:10]}"
        line = rng.choice(tuple(LINES))
        missed = CallRecord(
            call_id=call_id,
            provider_id="demo-pbx",
            provider_call_id=call_id,
            direction="inbound",
            caller=rng.choice(CLIENTS),
            callee=line,
            line=line,
            campaign=LINES[line],
            manager_id=manager,
            started_at=at,
            ended_at=at + timedelta(seconds=40),
            ring_seconds=40,
            outcome="missed",
        )
        found.append((CallMissed(call=missed), call_id, None))
        if rng.random() < 0.85:
            delay = rng.uniform(120, 5400)
            callback = CallbackMade(
                missed_call_id=call_id,
                callback_call_id=f"{call_id}-cb",
                number=missed.caller,
                manager_id=manager,
                delay_seconds=delay,
            )
            found.append((callback, call_id, at + timedelta(seconds=delay)))
    for at in moments(month, 15, rng):
        source, campaign = rng.choice(SOURCES)
        lead = LeadSummary(
            lead_id=f"lead-demo{uuid.uuid4().hex[:12]}",
            source_id=source,
            contact=LeadContact(name="Клиент"),
            product=rng.choice(PRODUCTS),
            region=rng.choice(regions),
            utm=Utm(source=source, campaign=campaign),
        )
        custom = {"line": "+74951112233"} if source == "phone" else {}
        response = rng.uniform(60, 400) if rng.random() < 0.8 else rng.uniform(900, 3600)
        found += [
            (LeadCreated(lead=lead, channel="form", custom=custom, created_at=at), lead.lead_id, None),
            (
                LeadAssigned(
                    lead=lead,
                    manager_id=manager,
                    department_id=department,
                    reason="new_lead",
                    assigned_at=at,
                    sla_deadline=at + timedelta(minutes=15),
                ),
                lead.lead_id,
                None,
            ),
            (
                LeadTaken(
                    lead_id=lead.lead_id,
                    manager_id=manager,
                    source_id=source,
                    taken_at=at + timedelta(seconds=response),
                    response_seconds=response,
                    within_sla=response <= 900,
                ),
                lead.lead_id,
                None,
            ),
        ]

    def new_deal(amount: Decimal, at: datetime) -> DealSummary:
        deal = DealSummary(
            deal_id=f"deal-demo{uuid.uuid4().hex[:12]}",
            title="Demo",
            pipeline_id="client_service",
            stage="decision",
            manager_id=manager,
            department_id=department,
            amount=amount,
            region=rng.choice(regions),
            product=rng.choice(PRODUCTS),
        )
        source, campaign = rng.choice(SOURCES)
        found.append((DealCreated(deal=deal, source_id=source, campaign=campaign, created_at=at), deal.deal_id, None))
        return deal

    first = datetime.fromisoformat(f"{month}-01T06:00:00+00:00")
    deal = new_deal(Decimal(350_000), first)
    kinds = [("meeting_held", meetings), ("proposal_sent", proposals), ("invoice_issued", invoices)]
    for kind, count in kinds:
        for at in moments(month, count, rng):
            found.append((_activity(deal, kind, manager, department, at), deal.deal_id, None))
    # each payment is a deal of its own, paid and won
    for amount, at in zip(payments, moments(month, len(payments), rng), strict=True):
        paid = new_deal(amount, first)
        found.append((_activity(paid, "payment_received", manager, department, at, amount), paid.deal_id, None))
        found.append((_moved(paid, "won", at), paid.deal_id, None))
    for at in moments(month, max(0, won - len(payments)), rng):
        other = new_deal(Decimal(300_000), first)
        found.append((_moved(other, "won", at), other.deal_id, None))
    for at in moments(month, rng.randrange(1, 4), rng):
        lost = new_deal(Decimal(rng.randrange(150, 500) * 1000), first)
        found.append((_moved(lost, "lost", at, rng.choice(LOST_REASONS)), lost.deal_id, None))
    return found


def _moved(deal: DealSummary, outcome: str, at: datetime, reason: str | None = None) -> DealStageChanged:
    return DealStageChanged(
        deal=deal.model_copy(update={"stage": outcome}),
        from_stage="review" if outcome == "won" else "decision",
        to_stage=outcome,
        outcome=outcome,
        days_in_previous_stage=1,
        lost_reason=reason,
        at=at,
    )


def counted_in_funnel(payload: EventData) -> bool:
    """Whether the motivation counters count this event among COUNTED (what wait_counted waits for)."""
    if isinstance(payload, CallCompleted):
        return True
    if isinstance(payload, DealActivityRecorded):
        return payload.kind in ("meeting_held", "proposal_sent", "invoice_issued")
    return isinstance(payload, DealStageChanged) and payload.outcome == "won"


def _activity(
    deal: DealSummary, kind: str, manager: str, department: str, at: datetime, amount: Decimal | None = None
) -> DealActivityRecorded:
    return DealActivityRecorded(
        deal=deal,
        activity_id=f"a-{uuid.uuid4().hex[:8]}",
        kind=kind,
        manager_id=manager,
        department_id=department,
        happened_at=at,
        amount=amount,
    )


async def wait_counted(motivation: str, password: str, expected: int, reportable: int) -> None:
    """Until the motivation service has counted every event and the reports show every call and
    won deal (it is a consumer like any other)."""
    async with httpx.AsyncClient(base_url=motivation, timeout=30) as http:
        signed_in = await http.post("/v1/auth/login", json={"login": "admin", "password": password})
        signed_in.raise_for_status()
        headers = {"Authorization": f"Bearer {signed_in.json()['access_token']}"}
        counted = reported = 0
        period = {"from": "2026-07-01", "to": "2026-10-31"}
        for _ in range(600):
            answer = await http.get("/v1/funnel", params=period, headers=headers)
            counted = sum(int(answer.json()["total"][k]) for k in COUNTED)
            funnel = await http.get("/v1/reports/funnel", params={**period, "group_by": ""}, headers=headers)
            reported = sum(int(funnel.json()["totals"][k]) for k in ("calls", "deals_won"))
            if counted >= expected and reported >= reportable:
                print(f"counted: {counted} calls, meetings, proposals, invoices and won deals; close the months now")
                print("reports: http://127.0.0.1:8004/reports (sign in as olga or admin)")
                return
            print(
                f"  counting ... {counted} of {expected}; reports: {reported} of {reportable} calls and won deals",
                end="\r",
                flush=True,
            )
            await asyncio.sleep(1)
    print(f"\nonly {counted} of {expected} counted so far; the motivation service keeps counting")


async def main(kafka: str, motivation: str, password: str) -> None:
    rng = random.Random(2026)  # noqa: S311 - synthetic data, the same every run
    team = {"anna": "sales-msk", "boris": "sales-msk", "olga": "sales-msk", "dmitry": "sales-nsk"}
    expected = won = calls = 0
    producer = AIOKafkaProducer(bootstrap_servers=kafka, enable_idempotence=True, linger_ms=20)
    await producer.start()
    sent = 0
    try:
        for month in MONTHS:
            for manager, department in team.items():
                for payload, subject, at in events_for(manager, department, month, rng):
                    expected += counted_in_funnel(payload)
                    won += isinstance(payload, DealStageChanged) and payload.outcome == "won"
                    calls += isinstance(payload, CallCompleted)
                    event = new_event(payload, source="/demo", subject=subject, time=at or datetime.now(UTC))
                    record = to_record(event)
                    await producer.send(
                        record.topic,
                        record.value,
                        key=record.key,
                        headers=[(k, v.encode()) for k, v in record.headers.items()],
                    )
                    sent += 1
        await producer.flush()
    finally:
        await producer.stop()
    print(f"published {sent} events of {', '.join(MONTHS)} for {', '.join(team)}")
    await wait_counted(motivation, password, expected, won + calls)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kafka", default="127.0.0.1:9092")
    parser.add_argument("--motivation", default="http://127.0.0.1:8004")
    parser.add_argument(
        "--admin-password", default=os.environ.get("MOTIVATION_BOOTSTRAP_ADMIN_PASSWORD", "demo-admin-password")
    )
    args = parser.parse_args()
    asyncio.run(main(args.kafka, args.motivation, args.admin_password))
