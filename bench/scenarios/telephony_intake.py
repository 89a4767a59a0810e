"""Call events: webhook -> merged and stored -> the call's final event on crm.calls."""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx

from localservers import free_port, start_service
from scenarios.common import consumer_at_end

if TYPE_CHECKING:
    from scenarios import BenchContext

description = (
    "a telephony process takes canonical JSON call events (a start and an end per call, answered) from 32 concurrent clients; "
    "'events' counts 200 answers, 'calls completed' counts call.completed events read back from crm.calls"
)
KEY = "bench-telephony-key-0123"


async def run(ctx: BenchContext) -> list[dict[str, Any]]:
    calls = ctx.size(1_500, 150)
    unique = uuid.uuid4().hex[:8]
    providers = ctx.workdir / f"providers-{unique}.json"
    providers.write_text(
        json.dumps({"providers": [{"id": "bench", "format": "json", "secret": KEY, "extensions": {"101": "nobody"}}]})
    )
    server = start_service(
        "telephony",
        env={
            "KAFKA_BOOTSTRAP_SERVERS": ctx.kafka,
            "MONGODB_URL": ctx.mongo,
            "TELEPHONY_MONGODB_DATABASE": f"bench_calls_{unique}",
            "TELEPHONY_PROVIDERS_FILE": str(providers),
            "TELEPHONY_LOG_LEVEL": "WARNING",
        },
        port=free_port(),
        log_path=ctx.workdir / "bench-telephony.log",
        python=sys.executable,
    )
    consumer = await consumer_at_end(ctx.kafka, "crm.calls")
    try:
        completed: set[str] = set()
        stop = asyncio.Event()

        async def drain() -> None:
            while not stop.is_set():
                batch = await consumer.getmany(timeout_ms=100)
                for records in batch.values():
                    completed.update(
                        r.key.decode() for r in records if r.key and dict(r.headers).get("ce_type") == b"call.completed"
                    )

        reader = asyncio.create_task(drain())
        ids: set[str] = set()
        unanswered = 0
        queue = iter(range(calls))
        base = datetime.now(UTC)
        async with httpx.AsyncClient(
            base_url=server.address, timeout=60, limits=httpx.Limits(max_connections=64)
        ) as http:

            async def client() -> None:
                for i in queue:
                    at = base + timedelta(seconds=i)
                    number = f"+7916{i:07d}"
                    start = {
                        "call_id": f"b{i}",
                        "event": "started",
                        "at": at.isoformat(),
                        "direction": "inbound",
                        "caller": number,
                        "callee": "+74951110000",
                    }
                    end = {
                        "call_id": f"b{i}",
                        "event": "ended",
                        "at": (at + timedelta(seconds=60)).isoformat(),
                        "outcome": "answered",
                        "talk_seconds": 50,
                    }
                    for body in (start, end):
                        response = await _send(http, body)
                    ids.add(response.json()["calls"][0])

            async def _send(http: httpx.AsyncClient, body: dict[str, Any]) -> httpx.Response:
                # a provider sends again what got no answer (the webhook is idempotent); how
                # often that happens is a figure of its own (issue: no request without an answer)
                nonlocal unanswered
                for _ in range(5):
                    try:
                        response = await http.post("/v1/telephony/bench/events", json=body, headers={"X-Api-Key": KEY})
                    except httpx.TransportError:
                        unanswered += 1
                        continue
                    response.raise_for_status()
                    return response
                raise RuntimeError("a call event got no answer five times")

            started = time.perf_counter()
            await asyncio.gather(*(client() for _ in range(32)))
            stored = time.perf_counter() - started
            while not ids <= completed:
                if time.perf_counter() - started > 300:
                    raise RuntimeError(f"only {len(ids & completed)} of {len(ids)} calls were announced")
                await asyncio.sleep(0.05)
            announced = time.perf_counter() - started
        stop.set()
        await reader
    finally:
        await consumer.stop()
        server.stop()
    return [
        ctx.rate_figure("call events stored (HTTP 200)", 2 * calls / stored, "events/s"),
        ctx.rate_figure("calls completed and announced (2 events each)", calls / announced, "calls/s"),
        {"name": "requests that got no answer (sent again)", "value": unanswered, "unit": "requests"},
    ]
