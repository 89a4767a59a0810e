"""Lead intake: sustained rate against a naive peer, the capacity (the highest offered rate still
answered within a second at p99), and form-to-assignment and form-to-inbox latency at half of it."""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from crmhub.kafka import end_offsets, ensure_topics
from crmhub.topics import Topic
from localservers import RunningServer, free_port, start_service
from scenarios.common import consumer_at_end, motivation_with_admin, percentile, wait_ready

if TYPE_CHECKING:
    from scenarios import BenchContext

description = (
    "a leads process (with motivation for its team of 4 managers) takes POST /v1/leads from 32 concurrent clients; "
    "'stored' counts 202 answers, 'announced' counts lead.created events read back from crm.leads. "
    "The naive peer (bench/naive_peer.py: HTTP in -> insert_one -> Kafka produce -> 202, as a low-code flow does it, "
    "with none of the hub's guarantees) takes the same load from the same generator on the same servers. "
    "Capacity: open-loop schedules of rising rates (10 s each) until request -> lead.assigned p99 passes 1 s; "
    "the highest rate under it is the capacity. Then 20 s at half of it with a notifier beside (channel: inbox; "
    "burst limit off, 4 managers take it all): request -> lead.assigned and request -> notification.delivered "
    "for the manager's inbox, both read back from Kafka"
)
CAPACITY_P99_MS = 1000.0
LADDER = [10, 20, 30, 40, 50, 60, 80, 100, 120, 150, 200]
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


async def _drain(
    consumer: AIOKafkaConsumer,
    seen: dict[str, float],
    wanted: str,
    stop: asyncio.Event,
    ids: dict[str, str] | None = None,
) -> None:
    while not stop.is_set():
        batch = await consumer.getmany(timeout_ms=100)
        now = time.perf_counter()
        for records in batch.values():
            for record in records:
                headers = dict(record.headers)
                if headers.get("ce_type") == wanted.encode() and record.key:
                    seen.setdefault(record.key.decode(), now)
                    if ids is not None and "ce_id" in headers:
                        ids[headers["ce_id"].decode()] = record.key.decode()


async def run(ctx: BenchContext) -> list[dict[str, Any]]:
    unique = uuid.uuid4().hex[:8]
    motivation, leads = _start_hub(ctx, unique)
    notifier: RunningServer | None = None
    try:
        sustained = await _sustained(ctx, leads.address)
        capacity, ladder = await _capacity(ctx, leads.address)
        notifier = await _notifier(ctx, unique)
        half = await _latency(ctx, leads.address, rate=max(1, round(capacity / 2)), with_inbox=True)
        latency = [
            {
                "name": "capacity (highest offered rate answered in time, lead.assigned p99 under 1 s)",
                "value": capacity,
                "unit": "leads/s",
            }
        ]
        latency += [*half, *ladder]
    finally:
        for server in (notifier, leads, motivation):
            if server is not None:
                server.stop()
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


async def _capacity(ctx: BenchContext, address: str) -> tuple[float, list[dict[str, Any]]]:
    """The highest rate of the ladder still answered with lead.assigned p99 under a second."""
    capacity = 0.0
    figures: list[dict[str, Any]] = []
    for rate in LADDER:
        step = await _latency(ctx, address, rate=rate, seconds=ctx.size(10, 2))
        figures += step
        achieved, p99, missing = step[0]["value"], step[2]["value"], step[3]["value"]
        if p99 >= CAPACITY_P99_MS or missing or achieved < 0.95 * rate:  # past it: answers queue up
            break
        capacity = float(rate)
    return capacity, figures


async def _notifier(ctx: BenchContext, unique: str) -> RunningServer:
    """A notifier that puts every assignment in the manager's inbox, caught up with what crm.leads
    held before it started (its new consumer group reads the topic from the beginning)."""
    server = start_service(
        "notifier",
        env={
            "KAFKA_BOOTSTRAP_SERVERS": ctx.kafka,
            "MONGODB_URL": ctx.mongo,
            "NOTIFIER_MONGODB_DATABASE": f"bench_leads_notifier_{unique}",
            "NOTIFIER_DEFAULT_CHANNELS": "inbox",
            "NOTIFIER_BURST_LIMIT": "0",
            "NOTIFIER_LOG_LEVEL": "WARNING",
        },
        port=free_port(),
        log_path=ctx.workdir / "bench-leads-notifier.log",
        python=sys.executable,
    )
    backlog = sum((await end_offsets(ctx.kafka, "crm.leads")).values())
    consumer = await consumer_at_end(ctx.kafka, "crm.notifications")
    try:
        await wait_ready(server.address, within=120)
        # its group has read everything crm.leads held when it started (a backlog of the other
        # measurements' leads), and then nothing more came out of it for a few seconds
        give_up = time.monotonic() + 600
        while await _committed(ctx.kafka, "notifier.leads") < backlog and time.monotonic() < give_up:
            await asyncio.sleep(1)
        quiet_since = time.monotonic()
        while time.monotonic() - quiet_since < 5 and time.monotonic() < give_up:
            if any((await consumer.getmany(timeout_ms=500)).values()):
                quiet_since = time.monotonic()
    finally:
        await consumer.stop()
    return server


async def _committed(kafka: str, group: str) -> int:
    """How far a consumer group has committed, summed over its partitions."""
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka)
    await admin.start()
    try:
        return sum(o.offset for o in (await admin.list_consumer_group_offsets(group)).values())
    finally:
        await admin.close()


async def _latency(
    ctx: BenchContext, address: str, *, rate: int, seconds: int | None = None, with_inbox: bool = False
) -> list[dict[str, Any]]:
    count = rate * (seconds or ctx.size(20, 2))  # 20 s of load (2 s when quick)
    consumer, seen = await _watch(ctx.kafka)
    stop = asyncio.Event()
    events: dict[str, str] = {}  # lead.assigned event id -> lead id
    drain = asyncio.create_task(_drain(consumer, seen, "lead.assigned", stop, events))
    delivered: dict[str, float] = {}  # lead.assigned event id -> when its inbox delivery was announced

    def inbox() -> dict[str, float]:
        """Lead id -> when its inbox delivery was announced (a delivery may be read before its
        lead.assigned is: the two topics are read by two consumers)."""
        return {events[cause]: at for cause, at in delivered.items() if cause in events}

    watch_inbox = None
    if with_inbox:
        notifications = await consumer_at_end(ctx.kafka, "crm.notifications")
        watch_inbox = asyncio.create_task(_drain_inbox(notifications, delivered, stop))
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
        while time.perf_counter() < deadline and not (
            set(sent) <= set(seen) and (not with_inbox or set(sent) <= set(inbox()))
        ):
            await asyncio.sleep(0.05)
    stop.set()
    await drain
    await consumer.stop()
    if watch_inbox is not None:
        await watch_inbox
    latencies = sorted((seen[i] - at) * 1000 for i, at in sent.items() if i in seen)
    missing = len(sent) - len(latencies) + failures
    figures = []
    name = f"half capacity, offered {rate}/s" if with_inbox else f"offered {rate}/s"
    if with_inbox:
        arrived = inbox()
        to_inbox = sorted((arrived[i] - at) * 1000 for i, at in sent.items() if i in arrived)
        figures = [
            {"name": f"{name}: request -> manager's inbox p50", "value": percentile(to_inbox, 50), "unit": "ms"},
            {
                "name": f"{name}: request -> manager's inbox p99 (aim < 250)",
                "value": percentile(to_inbox, 99),
                "unit": "ms",
            },
            {
                "name": f"{name}: leads not in an inbox",
                "value": float(len(sent) - len(to_inbox)),
                "unit": "leads",
            },
        ]
    aim = " (aim < 100)" if with_inbox else ""
    return [
        {"name": f"{name}: rate the load generator achieved", "value": achieved, "unit": "leads/s"},
        {"name": f"{name}: request -> lead.assigned p50", "value": percentile(latencies, 50), "unit": "ms"},
        {"name": f"{name}: request -> lead.assigned p99{aim}", "value": percentile(latencies, 99), "unit": "ms"},
        {
            "name": f"{name}: leads without lead.assigned (or refused)",
            "value": float(missing),
            "unit": "leads",
        },
        *figures,
    ]


async def _drain_inbox(consumer: AIOKafkaConsumer, delivered: dict[str, float], stop: asyncio.Event) -> None:
    try:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=100)
            now = time.perf_counter()
            for records in batch.values():
                for record in records:
                    if dict(record.headers).get("ce_type") != b"notification.delivered":
                        continue
                    data = json.loads(record.value)  # binary mode: the value is the event's data
                    if data.get("channel") == "inbox":
                        delivered.setdefault(data.get("cause_event_id", ""), now)
    finally:
        await consumer.stop()
