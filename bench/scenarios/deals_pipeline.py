"""The deals service: deals taken through the whole default pipeline over HTTP, and durable
timers firing on time with 10,000 other timers pending."""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
from pymongo import AsyncMongoClient

from localservers import RunningServer, free_port, start_service
from scenarios.common import consumer_at_end, motivation_with_admin

if TYPE_CHECKING:
    from scenarios import BenchContext

description = (
    "a deals process: 16 concurrent clients take deals from creation to `won` through the seed's pipeline "
    "(9 requests per deal, each a versioned update with the rules run and audit recorded); then tasks due at one "
    "moment fire on the durable timers while 10,000 other timers are pending (lateness = the task.due event's time "
    "minus the task's due time, read back from crm.deals)"
)
PENDING = 10_000
STEPS: list[tuple[str, dict[str, Any]]] = [
    ("activities", {"kind": "measurement_accepted"}),
    ("move", {"to": "proposal"}),
    ("activities", {"kind": "proposal_saved"}),
    ("activities", {"kind": "invoice_issued", "amount": "100000"}),
    ("activities", {"kind": "payment_received", "amount": "100000"}),
    ("activities", {"kind": "work_delivered"}),
    ("activities", {"kind": "review_collected", "text": "5/5"}),
]


def _deals(ctx: BenchContext, unique: str, issuer: str) -> RunningServer:
    return start_service(
        "deals",
        env={
            "KAFKA_BOOTSTRAP_SERVERS": ctx.kafka,
            "MONGODB_URL": ctx.mongo,
            "DEALS_MONGODB_DATABASE": f"bench_deals_{unique}",
            "DEALS_LOG_LEVEL": "WARNING",
            "DEALS_AUTH_ISSUER": issuer,
            "DEALS_AUTH_JWKS_URL": f"{issuer}/.well-known/jwks.json",
            "DEALS_TIMER_POLL_SECONDS": "0.5",
            "DEALS_TIMER_CONCURRENCY": "16",
        },
        port=free_port(),
        log_path=ctx.workdir / "bench-deals.log",
        python=sys.executable,
    )


async def run(ctx: BenchContext) -> list[dict[str, Any]]:
    deals_count = ctx.size(300, 30)
    due_count = ctx.size(1_000, 100)
    unique = uuid.uuid4().hex[:8]
    motivation, admin = motivation_with_admin(ctx, unique, "bench-deals-motivation.log")
    manager = f"m-{unique}"
    async with httpx.AsyncClient(base_url=motivation.address, headers=admin, timeout=30) as http:
        department = {"id": f"d-{unique}", "name": "Bench", "region": "Moscow"}
        (await http.post("/v1/team/departments", json=department)).raise_for_status()
        person = {"id": manager, "name": "Bench", "department_id": f"d-{unique}", "email": f"{manager}@bench.example"}
        (await http.post("/v1/team/managers", json=person)).raise_for_status()
    server = _deals(ctx, unique, motivation.address)
    consumer = await consumer_at_end(ctx.kafka, "crm.deals")
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(ctx.mongo, tz_aware=True)
    try:
        async with httpx.AsyncClient(
            base_url=server.address, headers=admin, timeout=60, limits=httpx.Limits(max_connections=32)
        ) as http:
            for _ in range(100):  # the directory reaches the deals service through crm.team
                if (await http.post("/v1/deals", json={"title": "warmup", "manager_id": manager})).status_code == 201:
                    break
                await asyncio.sleep(0.2)
            queue = iter(range(deals_count))

            async def client() -> None:
                for i in queue:
                    created = await http.post("/v1/deals", json={"title": f"Deal {i}", "manager_id": manager})
                    created.raise_for_status()
                    deal_id = created.json()["id"]
                    for path, body in STEPS:
                        (await http.post(f"/v1/deals/{deal_id}/{path}", json=body)).raise_for_status()

            started = time.perf_counter()
            await asyncio.gather(*(client() for _ in range(16)))
            through = time.perf_counter() - started

            # 10,000 timers pending far ahead, as a busy hub has them
            timers = mongo[f"bench_deals_{unique}"]["timers"]
            far = datetime(2030, 1, 1, tzinfo=UTC)
            epoch = datetime(1970, 1, 1, tzinfo=UTC)
            await timers.insert_many(
                [
                    {
                        "_id": f"deals.task:pending-{i}-t1",
                        "kind": "deals.task",
                        "due_at": far,
                        "payload": {"holder": f"pending-{i}"},
                        "lease_until": epoch,
                        "attempts": 0,
                        "generation": 1,
                    }
                    for i in range(PENDING)
                ]
            )
            due_at = datetime.now(UTC) + timedelta(seconds=ctx.size(60, 20))
            queue = iter(range(due_count))

            async def setter() -> None:
                holder = ""
                for n, i in enumerate(queue):
                    if n % 50 == 0:  # each client its own deals, 50 tasks on each (one deal is one document)
                        deal = await http.post("/v1/deals", json={"title": f"Timers {i}", "manager_id": manager})
                        holder = deal.json()["id"]
                    body = {
                        "title": f"Task {i}",
                        "due_at": due_at.isoformat(),
                        "deal_id": holder,
                        "manager_id": manager,
                    }
                    (await http.post("/v1/tasks", json=body)).raise_for_status()

            await asyncio.gather(*(setter() for _ in range(8)))
            if datetime.now(UTC) > due_at:
                raise RuntimeError("setting the tasks took longer than the time before they fall due")
        lateness: list[float] = []
        deadline = time.monotonic() + 600
        while len(lateness) < due_count and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for record in records:
                    if dict(record.headers).get("ce_type") != b"task.due":
                        continue
                    data = json.loads(record.value)
                    if data["task"]["title"].startswith("Task "):
                        fired = datetime.fromisoformat(data["at"])
                        lateness.append((fired - datetime.fromisoformat(data["task"]["due_at"])).total_seconds())
        if len(lateness) < due_count:
            raise RuntimeError(f"only {len(lateness)} of {due_count} timers fired")
    finally:
        await consumer.stop()
        await mongo.close()
        server.stop()
        motivation.stop()
    lateness.sort()
    spread = max(lateness[-1] - lateness[0], 1e-3)
    return [
        ctx.rate_figure("deals taken from creation to won (9 requests each)", deals_count / through, "deals/s"),
        ctx.rate_figure(f"timers fired with {PENDING:,} pending", due_count / max(lateness[-1], spread), "timers/s"),
        {"name": "timer lateness p50", "value": statistics.median(lateness) * 1000, "unit": "ms"},
        {"name": "timer lateness p99", "value": lateness[int(len(lateness) * 0.99) - 1] * 1000, "unit": "ms"},
    ]
