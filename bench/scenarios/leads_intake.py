"""Lead intake: sustained rate, and request-to-assignment latency at a steady 200 leads/s."""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from aiokafka import AIOKafkaConsumer

from crmhub.kafka import ensure_topics
from crmhub.topics import Topic
from localservers import RunningServer, free_port, start_service
from scenarios.common import consumer_at_end, motivation_with_admin

if TYPE_CHECKING:
    from scenarios import BenchContext

description = (
    "a leads process (with motivation for its team of 4 managers) takes POST /v1/leads from 32 concurrent clients; "
    "'stored' counts 202 answers, 'announced' counts lead.created events read back from crm.leads. "
    "The naive peer (bench/naive_peer.py: HTTP in -> insert_one -> Kafka produce -> 202, as a low-code flow does it, "
    "with none of the hub's guarantees) takes the same load from the same generator on the same servers. "
    "Latency: open-loop schedules of 50 and 200 leads/s for 20 s, from sending the request to reading its lead.assigned event"
)
ALL_WEEK = {d: [{"start": "00:00", "end": "00:00"}] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
KEY = "bench-key-0123456789"


_numbers = iter(range(random.randint(0, 4_000_000), 10_000_000))


def _phone() -> str:
    """A number not used before in this run: a repeated one would merge into an older lead."""
    return f"+7916{next(_numbers):07d}"


def _start_hub(ctx: BenchContext, unique: str) -> tuple[RunningServer, RunningServer]:
    base = {"KAFKA_BOOTSTRAP_SERVERS": ctx.kafka, "MONGODB_URL": ctx.mongo}
    motivation, admin = motivation_with_admin(ctx, unique, "bench-motivation.log")
    department = f"bench-{unique}"
    with httpx.Client(base_url=motivation.address, timeout=30, headers=admin) as http:
        http.post(
            "/v1/team/departments", json={"id": department, "name": "Bench", "region": "Moscow"}
        ).raise_for_status()
        for i in range(4):
            email = f"b{i}.{unique}@bench.example"
            manager = {
                "id": f"b{i}-{unique}",
                "name": f"B{i}",
                "department_id": department,
                "email": email,
                "working_hours": ALL_WEEK,
                "capacity": 10_000,
            }
            http.post("/v1/team/managers", json=manager).raise_for_status()
    time.sleep(2)  # the relay publishes the team; leads reads it from crm.team at start
    sources = {
        "sources": [
            {
                "id": f"bench-{unique}",
                "format": "json",
                "auth": {"type": "api_key", "secret": KEY},
                "assignment": {"pool": {"department_id": department}},
                "rate_limit_per_minute": 10_000_000,
                "ip_rate_limit_per_minute": 10_000_000,
            }
        ]
    }
    path = Path(ctx.workdir / f"sources-{unique}.json")
    path.write_text(json.dumps(sources))
    leads = start_service(
        "leads",
        env={
            **base,
            "LEADS_MONGODB_DATABASE": f"bench_leads_{unique}",
            "LEADS_SOURCES_FILE": str(path),
            "LEADS_LOG_LEVEL": "WARNING",
        },
        port=free_port(),
        log_path=ctx.workdir / "bench-leads.log",
        python=sys.executable,
    )
    deadline = time.monotonic() + 60
    while httpx.get(f"{leads.address}/ready", timeout=5).status_code != 200:
        if time.monotonic() > deadline:
            raise RuntimeError("leads never became ready")
        time.sleep(0.2)
    return motivation, leads


async def _watch(kafka: str, topic: str = "crm.leads") -> tuple[AIOKafkaConsumer, dict[str, float]]:
    """A consumer positioned at the end of `topic`, and where to record when each lead's event arrives."""
    return await consumer_at_end(kafka, topic), {}


NAIVE_TOPIC = "bench.naive.leads"
NAIVE_PEER = Path(__file__).resolve().parents[1] / "naive_peer.py"


async def _naive_peer(ctx: BenchContext) -> list[dict[str, Any]]:
    await ensure_topics(ctx.kafka, [Topic(NAIVE_TOPIC)], with_dead_letters=False)
    port = free_port()
    command = [sys.executable, str(NAIVE_PEER), "--port", str(port)]
    command += ["--kafka", ctx.kafka, "--mongo", ctx.mongo, "--topic", NAIVE_TOPIC]
    log = (ctx.workdir / "bench-naive-peer.log").open("w")
    peer = await asyncio.create_subprocess_exec(*command, stdout=log, stderr=log)
    try:
        async with httpx.AsyncClient(timeout=5) as http:
            for _ in range(300):
                try:
                    if (await http.get(f"http://127.0.0.1:{port}/ready")).status_code == 200:
                        break
                except httpx.HTTPError:
                    await asyncio.sleep(0.1)
        return await _sustained(ctx, f"http://127.0.0.1:{port}", topic=NAIVE_TOPIC, label="naive peer: ")
    finally:
        peer.terminate()
        await peer.wait()
        log.close()


async def _drain(consumer: AIOKafkaConsumer, seen: dict[str, float], wanted: str, stop: asyncio.Event) -> None:
    while not stop.is_set():
        batch = await consumer.getmany(timeout_ms=100)
        now = time.perf_counter()
        for records in batch.values():
            for record in records:
                if dict(record.headers).get("ce_type") == wanted.encode() and record.key:
                    seen.setdefault(record.key.decode(), now)


async def run(ctx: BenchContext) -> list[dict[str, Any]]:
    unique = uuid.uuid4().hex[:8]
    motivation, leads = _start_hub(ctx, unique)
    try:
        sustained = await _sustained(ctx, leads.address)
        latency = await _latency(ctx, leads.address, rate=50) + await _latency(ctx, leads.address, rate=200)
    finally:
        leads.stop()
        motivation.stop()
    naive = await _naive_peer(ctx)
    versus = {
        "name": "leads stored (HTTP 202), hub / naive peer",
        "value": sustained[0]["value"] / naive[0]["value"],
        "unit": "x (aim: 2)",
    }
    return [*sustained, *naive[:2], versus, *latency]


async def _sustained(
    ctx: BenchContext, address: str, *, topic: str = "crm.leads", label: str = ""
) -> list[dict[str, Any]]:
    count = ctx.size(3_000, 300)
    consumer, seen = await _watch(ctx.kafka, topic)
    stop = asyncio.Event()
    drain = asyncio.create_task(_drain(consumer, seen, "lead.created", stop))
    ids: list[str] = []
    unanswered = 0
    queue = iter(range(count))
    async with httpx.AsyncClient(base_url=address, timeout=60, limits=httpx.Limits(max_connections=64)) as http:

        async def client() -> None:
            nonlocal unanswered
            for i in queue:
                body = {"phone": _phone(), "message": "bench"}
                # a site sends again what got no answer, with the same Idempotency-Key: the same lead
                headers = {"X-Api-Key": KEY, "Idempotency-Key": f"bench-{i}-{body['phone']}"}
                for _ in range(5):
                    try:
                        response = await http.post("/v1/leads", json=body, headers=headers)
                        break
                    except httpx.TransportError:
                        unanswered += 1
                else:
                    raise RuntimeError("a lead got no answer five times")
                response.raise_for_status()
                ids.append(response.json()["lead_id"])

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(32)))
        stored = time.perf_counter() - started
        while not set(ids) <= set(seen):
            if time.perf_counter() - started > 300:
                raise RuntimeError(f"only {len(set(ids) & set(seen))} of {len(ids)} lead.created events arrived")
            await asyncio.sleep(0.05)
        announced = max(seen[i] for i in ids) - started
    stop.set()
    await drain
    await consumer.stop()
    return [
        ctx.rate_figure(f"{label}leads stored (HTTP 202)", count / stored, "leads/s"),
        ctx.rate_figure(f"{label}leads stored and lead.created in Kafka", count / announced, "leads/s"),
        {"name": "requests that got no answer (sent again)", "value": unanswered, "unit": "requests"},
    ]


async def _latency(ctx: BenchContext, address: str, *, rate: int) -> list[dict[str, Any]]:
    count = ctx.size(rate * 20, rate * 2)  # 20 s of load (2 s when quick)
    consumer, seen = await _watch(ctx.kafka)
    stop = asyncio.Event()
    drain = asyncio.create_task(_drain(consumer, seen, "lead.assigned", stop))
    sent: dict[str, float] = {}
    failures = 0
    async with httpx.AsyncClient(base_url=address, timeout=60, limits=httpx.Limits(max_connections=400)) as http:

        async def one(at: float) -> None:
            nonlocal failures
            try:
                response = await http.post(
                    "/v1/leads", json={"phone": _phone(), "message": "latency"}, headers={"X-Api-Key": KEY}
                )
            except httpx.HTTPError:  # past saturation requests wait past the client's timeout: counted, not fatal
                failures += 1
                return
            if response.status_code != 202:
                failures += 1
                return
            sent[response.json()["lead_id"]] = at

        started = time.perf_counter()
        tasks = []
        for i in range(count):
            at = started + i / rate
            delay = at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(at)))  # open loop: the schedule does not wait for answers
        await asyncio.gather(*tasks)
        achieved = count / (time.perf_counter() - started)
        deadline = time.perf_counter() + 120
        while not set(sent) <= set(seen) and time.perf_counter() < deadline:
            await asyncio.sleep(0.05)
    stop.set()
    await drain
    await consumer.stop()
    latencies = sorted((seen[i] - at) * 1000 for i, at in sent.items() if i in seen)
    missing = len(sent) - len(latencies) + failures
    return [
        {"name": f"offered {rate}/s: rate the load generator achieved", "value": achieved, "unit": "leads/s"},
        {
            "name": f"offered {rate}/s: request -> lead.assigned p50",
            "value": statistics.median(latencies),
            "unit": "ms",
        },
        {
            "name": f"offered {rate}/s: request -> lead.assigned p99",
            "value": latencies[int(len(latencies) * 0.99) - 1],
            "unit": "ms",
        },
        {
            "name": f"offered {rate}/s: leads without lead.assigned (or refused)",
            "value": float(missing),
            "unit": "leads",
        },
    ]
