"""The motivation service: KPI counters fed from crm.calls, and a month close for 1,000 managers."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
from aiokafka import AIOKafkaProducer
from pymongo import AsyncMongoClient

from crmhub import topics
from crmhub.events import new_event, to_record
from crmhub.mongo import IDS_KEPT_BESIDE_OFFSETS, guard_kept
from crmhub.schemas.calls import CallCompleted, CallRecord
from scenarios.common import Committed, kafka_headers, motivation_with_admin, offsets_taken_so_far, publish_team

if TYPE_CHECKING:
    from scenarios import BenchContext

description = (
    "a motivation process: (1) call.completed events produced onto crm.calls for 1,000 managers, counted exactly "
    "once into each manager's period document (the period's and each day's counters; a poll's events at a time, "
    "one guarded bulk write per batch), documents that already hold nine days of November (counts, and the ids "
    "and offsets their guard keeps); rate = events from the first produced until the counting group has committed "
    "the last (it commits a poll once stored), and the rate the backlog left when producing ended was worked off "
    "at; (2) a month of 1,000,000 events' worth of counters for 1,000 managers (a realistic mix: calls, meetings, "
    "proposals, invoices, payments, deals won), a department plan and pay profiles: time to close the month "
    "(1,000 explained payouts and their events stored) and to read every payout back"
)
MANAGERS = 1_000
COUNTING_GROUP = "motivation.calls"
PERIOD = "2026-10"
PLAN = {
    "activity": [
        {"kpi": "outgoing_calls", "target": 600, "weight": "0.4"},
        {"kpi": "meetings_held", "target": 30, "weight": "0.4"},
        {"kpi": "proposals_sent", "target": 15, "weight": "0.2"},
    ],
    "sales_target": "1500000",
}


async def _ingest(ctx: BenchContext, http: httpx.AsyncClient, db: Any, managers: list[str]) -> tuple[float, float]:
    """Events per second from the first produced to the last counted (committed by the counting
    group, which commits a poll once it is stored), and the rate the backlog left when producing
    ended was worked off at."""
    count = ctx.size(20_000, 2_000)
    producer = AIOKafkaProducer(bootstrap_servers=ctx.kafka, enable_idempotence=True, linger_ms=20)
    await producer.start()
    base = datetime(2026, 11, 10, 9, 0, tzinfo=UTC)
    try:
        started = time.perf_counter()
        for i in range(count):
            manager = managers[i % len(managers)]
            call = CallRecord(
                call_id=f"bench-{uuid.uuid4().hex[:12]}",
                provider_id="bench",
                provider_call_id=str(i),
                direction="outbound",
                caller="+74950000000",
                callee="+79160000000",
                manager_id=manager,
                started_at=base + timedelta(seconds=i),
                outcome="answered",
            )
            record = to_record(new_event(CallCompleted(call=call), source="/bench", subject=call.call_id))
            await producer.send(record.topic, record.value, key=record.key, headers=list(kafka_headers(record.headers)))
        await producer.flush()
    finally:
        await producer.stop()
    produced = time.perf_counter()
    async with Committed(ctx.kafka) as committed:
        ends = await committed.ends([topics.CALLS.name])
        backlog = await committed.behind(COUNTING_GROUP, ends)
        done = await committed.through(COUNTING_GROUP, ends)
    keys = [f"month:2026-11:{m}" for m in managers]
    docs = await db["counters"].find({"_id": {"$in": keys}}, {"days": 1}).to_list()
    counted = sum(int(d["days"].get("2026-11-10", {}).get("kpis", {}).get("outgoing_calls", 0)) for d in docs)
    if counted != count:
        raise RuntimeError(f"{counted} calls counted once the counting group committed, not {count}")
    return count / (done - started), backlog / max(done - produced, 1e-9)


async def _month_so_far(ctx: BenchContext, db: Any, managers: list[str]) -> None:
    """The counters of November 2026 as nine days of traffic leave them before the calls of the
    10th come: each day's counts, and what the guard keeps (`applied_events` as many ids as the
    store keeps, `applied_at` up to where crm.calls ends now)."""
    rng = random.Random(5)
    marks = await offsets_taken_so_far(ctx.kafka, [topics.CALLS.name])
    docs = []
    for manager in managers:
        days = {
            f"2026-11-{d:02d}": {"kpis": {"outgoing_calls": rng.randint(20, 40), "incoming_calls": rng.randint(10, 20)}}
            for d in range(1, 10)
        }
        docs.append(
            {
                "_id": f"month:2026-11:{manager}",
                "manager_id": manager,
                "period": "2026-11",
                "kpis": {
                    kpi: sum(day["kpis"][kpi] for day in days.values()) for kpi in ("outgoing_calls", "incoming_calls")
                },
                "days": days,
                **guard_kept([str(uuid.uuid4()) for _ in range(IDS_KEPT_BESIDE_OFFSETS)], marks),
            }
        )
    await db["counters"].insert_many(docs)


async def _month_of_counters(db: Any, managers: list[str], rng: random.Random) -> int:
    """The month counters 1,000,000 events leave behind, written directly (what counting them
    through Kafka would take an hour to produce on this machine)."""
    docs = []
    events = 0
    for manager in managers:
        kpis = {
            "outgoing_calls": rng.randint(400, 800),
            "incoming_calls": rng.randint(250, 450),
            "meetings_held": rng.randint(10, 45),
            "proposals_sent": rng.randint(5, 25),
            "invoices_issued": rng.randint(3, 15),
            "deals_won": rng.randint(1, 8),
            "leads_taken_in_sla": rng.randint(0, 5),
        }
        payments = rng.randint(2, 6)
        events += sum(kpis.values()) + payments
        revenue = sum(rng.randint(100_000, 600_000) * 100 for _ in range(payments))
        refs = {"meetings_held": [f"deal:deal-{uuid.uuid4().hex[:10]}" for _ in range(20)]}
        docs.append(
            {
                "_id": f"month:{PERIOD}:{manager}",
                "manager_id": manager,
                "period": PERIOD,
                "kpis": kpis,
                "revenue": {"RUB": revenue},
                "refs": refs,
            }
        )
    await db["counters"].insert_many(docs)
    await db["pay_profiles"].insert_many([{"_id": m, "base_salary": str(rng.randint(40, 90) * 1000)} for m in managers])
    return events


async def run(ctx: BenchContext) -> list[dict[str, Any]]:
    unique = uuid.uuid4().hex[:8]
    department = f"pay-{unique}"
    managers = [f"p{i:04d}-{unique}" for i in range(MANAGERS)]
    await publish_team(ctx.kafka, department, managers)
    server, admin = motivation_with_admin(ctx, unique, "bench-motivation-pay.log")
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(ctx.mongo, tz_aware=True)
    db = mongo[f"bench_team_{unique}"]
    try:
        async with httpx.AsyncClient(base_url=server.address, headers=admin, timeout=600) as http:
            for _ in range(300):  # the thousand managers reach the service through crm.team
                answer = await http.put(f"/v1/plans/{PERIOD}/departments/{department}", json=PLAN)
                if answer.status_code in (200, 201):
                    break
                await asyncio.sleep(0.2)
            answer.raise_for_status()
            await _month_so_far(ctx, db, managers)
            rate, drained = await _ingest(ctx, http, db, managers)
            events = await _month_of_counters(db, managers, random.Random(7))
            started = time.perf_counter()
            closed = await http.post(f"/v1/periods/{PERIOD}/close")
            closed.raise_for_status()
            close_seconds = time.perf_counter() - started
            if closed.json()["managers"] != MANAGERS:
                raise RuntimeError(f"closed {closed.json()['managers']} payouts, not {MANAGERS}")
            started = time.perf_counter()
            listed = await http.get(f"/v1/payouts/{PERIOD}")
            listed.raise_for_status()
            read_all = time.perf_counter() - started
            if len(listed.json()["items"]) != MANAGERS:
                raise RuntimeError("not every payout was read back")
            sample = managers[:50]
            started = time.perf_counter()
            for manager in sample:
                (await http.get(f"/v1/payouts/{PERIOD}/{manager}")).raise_for_status()
            one = (time.perf_counter() - started) / len(sample)
    finally:
        await mongo.close()
        server.stop()
    return [
        ctx.rate_figure("call events counted exactly once (1,000 managers)", rate, "events/s"),
        ctx.rate_figure("  the backlog left when producing ended, counted at", drained, "events/s"),
        {
            "name": f"month close: {MANAGERS:,} managers, {events:,} events' counters",
            "value": close_seconds,
            "unit": "s",
        },
        {"name": f"read all {MANAGERS:,} payouts of the closed month", "value": read_all * 1000, "unit": "ms"},
        {"name": "read one explained payout (mean of 50)", "value": one * 1000, "unit": "ms"},
    ]
