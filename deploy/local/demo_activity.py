"""`make demo-activity`: four months of synthetic work by the demo team, for the motivation demo.

Publishes, onto the running hub's Kafka, the events the telephony and deals services would have
published for July to October 2026: calls, meetings, proposals, invoices, payments and won
deals of anna, boris and olga (Moscow) and dmitry (Novosibirsk, a seasonal department). The
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
from crmhub.schemas.calls import CallCompleted, CallRecord  # noqa: E402
from crmhub.schemas.deals import DealActivityRecorded, DealStageChanged, DealSummary  # noqa: E402

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


def events_for(manager: str, department: str, month: str, rng: random.Random) -> list[tuple[EventData, str]]:
    outgoing, incoming, meetings, proposals, invoices, payments, won = plan_of(manager, month)
    found: list[tuple[EventData, str]] = []
    for direction, count in (("outbound", outgoing), ("inbound", incoming)):
        for at in moments(month, count, rng):
            call_id = f"demo-{uuid.uuid4().hex[:12]}"
            record = CallRecord(
                call_id=call_id,
                provider_id="demo-pbx",
                provider_call_id=call_id,
                direction=direction,
                caller="+74951110000" if direction == "outbound" else rng.choice(CLIENTS),
                callee=rng.choice(CLIENTS) if direction == "outbound" else "+74951110000",
                manager_id=manager,
                started_at=at,
                answered_at=at + timedelta(seconds=5),
                ended_at=at + timedelta(minutes=3),
                talk_seconds=175,
                outcome="answered",
            )
            found.append((CallCompleted(call=record), call_id))
    deal = DealSummary(
        deal_id=f"deal-demo{uuid.uuid4().hex[:12]}",
        title="Demo",
        pipeline_id="client_service",
        stage="decision",
        manager_id=manager,
        department_id=department,
    )
    kinds = [("meeting_held", meetings), ("proposal_sent", proposals), ("invoice_issued", invoices)]
    for kind, count in kinds:
        for at in moments(month, count, rng):
            found.append((_activity(deal, kind, manager, department, at), deal.deal_id))
    for amount, at in zip(payments, moments(month, len(payments), rng), strict=True):
        found.append((_activity(deal, "payment_received", manager, department, at, amount), deal.deal_id))
    for at in moments(month, won, rng):
        won_deal = deal.model_copy(update={"deal_id": f"deal-demo{uuid.uuid4().hex[:12]}", "stage": "won"})
        found.append(
            (
                DealStageChanged(
                    deal=won_deal, from_stage="review", to_stage="won", outcome="won", days_in_previous_stage=1, at=at
                ),
                won_deal.deal_id,
            )
        )
    return found


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


async def wait_counted(motivation: str, password: str, expected: int) -> None:
    """Until the motivation service has counted every event (it is a consumer like any other)."""
    async with httpx.AsyncClient(base_url=motivation, timeout=30) as http:
        signed_in = await http.post("/v1/auth/login", json={"login": "admin", "password": password})
        signed_in.raise_for_status()
        headers = {"Authorization": f"Bearer {signed_in.json()['access_token']}"}
        counted = 0
        for _ in range(600):
            answer = await http.get("/v1/funnel", params={"from": "2026-07-01", "to": "2026-10-31"}, headers=headers)
            counted = sum(int(answer.json()["total"][k]) for k in COUNTED)
            if counted >= expected:
                print(f"counted: {counted} calls, meetings, proposals, invoices and won deals; close the months now")
                return
            print(f"  counting ... {counted} of {expected}", end="\r", flush=True)
            await asyncio.sleep(1)
    print(f"\nonly {counted} of {expected} counted so far; the motivation service keeps counting")


async def main(kafka: str, motivation: str, password: str) -> None:
    rng = random.Random(2026)  # noqa: S311 - synthetic data, the same every run
    team = {"anna": "sales-msk", "boris": "sales-msk", "olga": "sales-msk", "dmitry": "sales-nsk"}
    expected = 0
    producer = AIOKafkaProducer(bootstrap_servers=kafka, enable_idempotence=True, linger_ms=20)
    await producer.start()
    sent = 0
    try:
        for month in MONTHS:
            for manager, department in team.items():
                for payload, subject in events_for(manager, department, month, rng):
                    expected += not isinstance(payload, DealActivityRecorded) or payload.kind != "payment_received"
                    record = to_record(new_event(payload, source="/demo", subject=subject, time=datetime.now(UTC)))
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
    await wait_counted(motivation, password, expected)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kafka", default="127.0.0.1:9092")
    parser.add_argument("--motivation", default="http://127.0.0.1:8004")
    parser.add_argument(
        "--admin-password", default=os.environ.get("MOTIVATION_BOOTSTRAP_ADMIN_PASSWORD", "demo-admin-password")
    )
    args = parser.parse_args()
    asyncio.run(main(args.kafka, args.motivation, args.admin_password))
