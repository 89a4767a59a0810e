"""The management reports: events taken into the reporting model, and report latency for a
1,000-manager company over a month and a year."""

from __future__ import annotations

import asyncio
import random
import statistics
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import httpx
from aiokafka import AIOKafkaProducer
from pymongo import AsyncMongoClient

from crmhub import topics
from crmhub.events import EventData, new_event, to_record
from crmhub.mongo import IDS_KEPT_BESIDE_OFFSETS, guard_kept
from crmhub.schemas.calls import CallCompleted, CallRecord
from crmhub.schemas.deals import DealActivityRecorded, DealSummary
from motivation.domain.reporting import DIMENSIONS, cell_key
from scenarios.common import Committed, kafka_headers, motivation_with_admin, offsets_taken_so_far, publish_team

if TYPE_CHECKING:
    from scenarios import BenchContext

description = (
    "the reporting model of the motivation service: (1) call.completed and payment events for 1,000 managers "
    "produced onto crm.calls and crm.deals and taken in exactly once (a poll's events at a time: references "
    "read and written at once, one guarded bulk write per collection, next to the KPI counting of the same "
    "events), into documents that already hold nine days of June (cells, and the ids and offsets their guard "
    "keeps); rate = events from the first produced until the reporting groups have committed the "
    "last (each commits a poll once stored; the reports are then checked to show them all), and the rate the "
    "backlog left when producing ended was worked off at; (2) a year of a 1,000-manager "
    "company's cells (about 1,400 events per manager and month) written directly, then report latency p50/p99 over "
    "repeated requests: a month and a year, JSON and XLSX"
)
MANAGERS = 1_000
REPORTING_GROUPS = {"motivation.reports.calls": topics.CALLS.name, "motivation.reports.deals": topics.DEALS.name}
YEAR = 2025
PRODUCTS = ("Кухня", "Шкаф-купе", "Гардеробная", "Прихожая")
REGIONS = ("Москва", "Московская область", "Тверь")
SOURCES = (("site-form", "yandex"), ("site-form", "vk"), ("phone", "radio"), ("partner", ""))


async def _ingest(
    ctx: BenchContext, http: httpx.AsyncClient, managers: list[str], department: str
) -> tuple[float, float]:
    """Events per second from the first produced until the reporting groups have committed the
    last (each commits a poll once it is stored), and the rate the backlog left when producing
    ended was worked off at; then the reports must show every event."""
    count = ctx.size(10_000, 2_000)
    producer = AIOKafkaProducer(bootstrap_servers=ctx.kafka, enable_idempotence=True, linger_ms=20)
    await producer.start()
    base = datetime(2026, 6, 10, 9, 0, tzinfo=UTC)
    payments = 0
    try:
        started = time.perf_counter()
        for i in range(count):
            manager = managers[i % len(managers)]
            at = base + timedelta(seconds=i)
            payload: EventData
            if i % 5 == 4:
                deal = DealSummary(
                    deal_id=f"bench-deal-{uuid.uuid4().hex[:10]}",
                    title="Bench",
                    pipeline_id="client_service",
                    stage="invoice",
                    manager_id=manager,
                    department_id=department,
                    amount=Decimal(100_000),
                    product=PRODUCTS[i % len(PRODUCTS)],
                    region=REGIONS[i % len(REGIONS)],
                )
                payload = DealActivityRecorded(
                    deal=deal,
                    activity_id=str(i),
                    kind="payment_received",
                    manager_id=manager,
                    department_id=department,
                    happened_at=at,
                    amount=Decimal(100_000),
                )
                subject = deal.deal_id
                payments += 1
            else:
                payload = CallCompleted(
                    call=CallRecord(
                        call_id=f"bench-r-{uuid.uuid4().hex[:12]}",
                        provider_id="bench",
                        provider_call_id=str(i),
                        direction="outbound",
                        caller="+74950000000",
                        callee="+79160000000",
                        line="+74950000000",
                        manager_id=manager,
                        started_at=at,
                        outcome="answered",
                    )
                )
                subject = payload.call.call_id
            record = to_record(new_event(payload, source="/bench", subject=subject))
            await producer.send(record.topic, record.value, key=record.key, headers=list(kafka_headers(record.headers)))
        await producer.flush()
    finally:
        await producer.stop()
    produced = time.perf_counter()
    async with Committed(ctx.kafka) as committed:
        ends = {group: await committed.ends([topic]) for group, topic in REPORTING_GROUPS.items()}
        backlog = sum([await committed.behind(group, ends[group]) for group in REPORTING_GROUPS])
        done = max([await committed.through(group, ends[group]) for group in REPORTING_GROUPS])
    calls = count - payments
    params = {"from": "2026-06-10", "to": "2026-06-10", "department": department, "group_by": ""}
    totals = (await http.get("/v1/reports/funnel", params=params)).json()["totals"]
    paid = (await http.get("/v1/reports/sales", params=params)).json()["totals"]["payments"]
    if (totals["calls"], paid) != (calls, payments):
        raise RuntimeError(f"the reports show {totals['calls']} calls and {paid} payments, not {calls} and {payments}")
    return count / (done - started), backlog / max(done - produced, 1e-9)


def _company_year(
    managers: list[str], department: str, rng: random.Random
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
    """report_months and report_days documents as ReportStore leaves them after a year of about 1,000 events per
    manager and month: each working day a few cells (calls by line, deals by product, region and
    source), and the month's roll-up beside them."""
    docs: list[dict[str, Any]] = []
    days_docs: list[dict[str, Any]] = []
    events = 0
    for month in range(1, 13):
        first = date(YEAR, month, 1)
        days = [first + timedelta(days=d) for d in range(28) if (first + timedelta(days=d)).weekday() < 5]
        month_docs, month_days, month_events = _month_of_cells(first, days, managers, department, rng)
        docs += month_docs
        days_docs += month_days
        events += month_events
    return docs, days_docs, events


def _month_of_cells(
    first: date, days: list[date], managers: list[str], department: str, rng: random.Random
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
    """One month's report_months and report_days documents for these days (see `_company_year`)."""
    docs: list[dict[str, Any]] = []
    days_docs: list[dict[str, Any]] = []
    events = 0
    for manager in managers:
        day_cells: dict[str, Any] = {}
        month_cells: dict[str, Any] = {}
        for day in days:
            for _ in range(2):
                source, campaign = rng.choice(SOURCES)
                dims = dict.fromkeys(DIMENSIONS, "") | {
                    "manager": manager,
                    "department": department,
                    "product": rng.choice(PRODUCTS),
                    "region": rng.choice(REGIONS),
                    "source": source,
                    "campaign": campaign,
                }
                values = [dims[d] for d in DIMENSIONS]
                measures = {
                    "calls_outgoing": rng.randint(10, 25),
                    "calls_incoming": rng.randint(5, 12),
                    "calls_answered": rng.randint(4, 10),
                    "meetings_held": rng.randint(0, 2),
                    "proposals_sent": rng.randint(0, 1),
                    "deals_won": rng.randint(0, 1),
                    "revenue_RUB": rng.randint(0, 1) * rng.randint(100_000, 600_000) * 100,
                }
                events += sum(v for k, v in measures.items() if not k.startswith("revenue")) + 1
                day_cells[cell_key(dims, day)] = {"day": day.isoformat(), "k": values, "m": measures}
                rolled = month_cells.setdefault(cell_key(dims), {"k": values, "m": {}})
                for name, value in measures.items():
                    rolled["m"][name] = rolled["m"].get(name, 0) + value
        key = f"{first:%Y-%m}|{manager}"
        days_docs.append({"_id": key, "month": f"{first:%Y-%m}", "c": day_cells})
        totals: dict[str, int] = {}
        for cell in month_cells.values():
            for name, value in cell["m"].items():
                totals[name] = totals.get(name, 0) + value
        lean_dims = {"manager": manager, "department": department}
        lean = {cell_key(lean_dims): {"k": [lean_dims.get(d, "") for d in DIMENSIONS], "m": totals}}
        docs.append({"_id": key, "month": f"{first:%Y-%m}", "c": month_cells, "t": lean})
    return docs, days_docs, events


async def _month_so_far(ctx: BenchContext, db: Any, managers: list[str], department: str) -> None:
    """The reporting documents of June 2026 as nine days of traffic leave them before the events
    of the 10th come: cells, and what their guard keeps (`applied_events` as many ids as the
    store keeps, `applied_at` up to where crm.calls and crm.deals end now)."""
    first = date(2026, 6, 1)
    days = [first + timedelta(days=d) for d in range(9) if (first + timedelta(days=d)).weekday() < 5]
    months, days_docs, _ = _month_of_cells(first, days, managers, department, random.Random(11))
    marks = await offsets_taken_so_far(ctx.kafka, [topics.CALLS.name, topics.DEALS.name])
    for docs in (months, days_docs):
        for doc in docs:
            doc.update(guard_kept([f"{uuid.uuid4()}#0" for _ in range(IDS_KEPT_BESIDE_OFFSETS)], marks))
    await db["report_months"].insert_many(months)
    await db["report_days"].insert_many(days_docs)


async def _timed(
    http: httpx.AsyncClient, runs: int, params: dict[str, str], report: str = "sales"
) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        answer = await http.get(f"/v1/reports/{report}", params=params)
        answer.raise_for_status()
        times.append(time.perf_counter() - started)
    times.sort()
    p99 = times[min(len(times) - 1, round(0.99 * (len(times) - 1)))]
    return statistics.median(times) * 1000, p99 * 1000


async def run(ctx: BenchContext) -> list[dict[str, Any]]:
    unique = uuid.uuid4().hex[:8]
    department = f"rep-{unique}"
    managers = [f"r{i:04d}-{unique}" for i in range(MANAGERS)]
    await publish_team(ctx.kafka, department, managers)
    server, admin = motivation_with_admin(ctx, unique, "bench-reports.log")
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(ctx.mongo, tz_aware=True)
    db = mongo[f"bench_team_{unique}"]
    figures: list[dict[str, Any]] = []
    try:
        async with httpx.AsyncClient(base_url=server.address, headers=admin, timeout=600) as http:
            for _ in range(300):  # the thousand managers reach the service through crm.team
                if (await http.get(f"/v1/team/managers/{managers[-1]}")).status_code == 200:
                    break
                await asyncio.sleep(0.2)
            await _month_so_far(ctx, db, managers, department)
            rate, drained = await _ingest(ctx, http, managers, department)
            figures.append(ctx.rate_figure("events taken into the reporting model (1,000 managers)", rate, "events/s"))
            figures.append(ctx.rate_figure("  the backlog left when producing ended, taken in at", drained, "events/s"))
            months, days, events = _company_year(managers, department, random.Random(11))
            for collection, docs in (("report_months", months), ("report_days", days)):
                for start in range(0, len(docs), 500):
                    await db[collection].insert_many(docs[start : start + 500])
            await db["report_index"].insert_many(
                [
                    {"_id": f"{YEAR}-{m:02d}", "docs": [f"{YEAR}-{m:02d}|{manager}" for manager in managers]}
                    for m in range(1, 13)
                ]
            )
            runs = ctx.size(20, 5)
            month = {"from": f"{YEAR}-10", "to": f"{YEAR}-10", "department": department}
            year = {"from": f"{YEAR}-01", "to": f"{YEAR}-12", "department": department}
            cases = [
                ("a month by manager, JSON", "sales", {**month, "group_by": "manager"}),
                ("a month by manager, XLSX", "sales", {**month, "group_by": "manager", "format": "xlsx"}),
                ("a month by product and region, JSON", "sales", {**month, "group_by": "product,region"}),
                ("a month by week (day cells), JSON", "funnel", {**month, "group_by": "week"}),
                ("a year by month, JSON", "sales", {**year, "group_by": "month"}),
                ("a year by manager, JSON", "funnel", {**year, "group_by": "manager"}),
                ("a year by manager, XLSX", "sales", {**year, "group_by": "manager", "format": "xlsx"}),
            ]
            for name, report, params in cases:
                count = runs if "year" not in name else max(3, runs // 4)
                p50, p99 = await _timed(http, count, params, report)
                label = f"{report} report, {name} ({MANAGERS:,} managers, ~{events // 12:,} events a month)"
                figures.append({"name": f"{label}: p50", "value": p50, "unit": "ms"})
                figures.append({"name": f"{label}: p99 of {count}", "value": p99, "unit": "ms"})
    finally:
        await mongo.close()
        server.stop()
    return figures
