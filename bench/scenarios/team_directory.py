"""The team directory's write path: HTTP create -> stored with its event in one update -> relayed to crm.team."""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from typing import TYPE_CHECKING, Any

import httpx

from scenarios.common import consumer_at_end, motivation_with_admin

if TYPE_CHECKING:
    from scenarios import BenchContext

description = (
    "POST /v1/team/managers to a motivation service process from 16 concurrent clients; "
    "rate counts managers whose team.manager.upserted event reached crm.team; latency is per HTTP request"
)


async def run(ctx: BenchContext) -> list[dict[str, Any]]:
    count = ctx.size(1_500, 150)
    unique = uuid.uuid4().hex[:8]
    server, admin = motivation_with_admin(ctx, unique, "motivation.log")
    consumer = await consumer_at_end(ctx.kafka, "crm.team")
    try:
        async with httpx.AsyncClient(base_url=server.address, timeout=30, headers=admin) as http:
            (
                await http.post("/v1/team/departments", json={"id": f"d-{unique}", "name": "Bench", "region": "Moscow"})
            ).raise_for_status()
            latencies: list[float] = []
            queue = iter(range(count))

            async def client() -> None:
                for i in queue:
                    body = {
                        "id": f"m-{unique}-{i}",
                        "name": f"Manager {i}",
                        "department_id": f"d-{unique}",
                        "email": f"m{i}.{unique}@bench.example",
                    }
                    sent = time.perf_counter()
                    response = await http.post("/v1/team/managers", json=body)
                    latencies.append(time.perf_counter() - sent)
                    response.raise_for_status()

            started = time.perf_counter()
            await asyncio.gather(*(client() for _ in range(16)))
            stored = time.perf_counter() - started
            prefix = f"manager:m-{unique}-".encode()
            seen = 0
            while seen < count:
                batch = await consumer.getmany(timeout_ms=1000)
                seen += sum(1 for records in batch.values() for r in records if r.key and r.key.startswith(prefix))
                if time.perf_counter() - started > 300:
                    raise RuntimeError(f"only {seen} of {count} events reached crm.team")
            relayed = time.perf_counter() - started
    finally:
        await consumer.stop()
        server.stop()
    latencies.sort()
    return [
        ctx.rate_figure("managers stored and announced on crm.team", count / relayed, "managers/s"),
        {"name": "managers stored (HTTP 201)", "value": count / stored, "unit": "managers/s"},
        {"name": "HTTP latency p50", "value": statistics.median(latencies) * 1000, "unit": "ms"},
        {"name": "HTTP latency p99", "value": latencies[int(len(latencies) * 0.99) - 1] * 1000, "unit": "ms"},
    ]
