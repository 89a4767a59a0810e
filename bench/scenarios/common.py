"""What the scenarios share: watching a topic from its current end, a signed-in team directory,
and a department of managers put on crm.team."""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from crmhub.events import Position, new_event, to_record
from crmhub.kafka import end_offsets
from crmhub.schemas.team import Department, DepartmentUpserted, Manager, ManagerUpserted
from crmhub.team_directory import department_key, manager_key
from localservers import RunningServer, free_port, start_service


async def consumer_at_end(kafka: str, topic: str) -> AIOKafkaConsumer:
    """A started consumer (no group) that will read only what `topic` receives from now on."""
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka, enable_auto_commit=False)
    await consumer.start()
    ends = await end_offsets(kafka, topic)
    consumer.assign([TopicPartition(topic, p) for p in ends])
    for partition, offset in ends.items():
        consumer.seek(TopicPartition(topic, partition), offset)
    return consumer


class Committed:
    """How far consumer groups have committed their topics, read from Kafka every 20 ms. A hub
    consumer commits a poll once its effects are stored, so this tells the moment the last event
    is stored, to the poll, without the load (and the half-second steps) of asking the service."""

    def __init__(self, kafka: str) -> None:
        self.kafka = kafka
        self.admin = AIOKafkaAdminClient(bootstrap_servers=kafka)

    async def __aenter__(self) -> Committed:
        await self.admin.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.admin.close()

    async def ends(self, topics: list[str]) -> dict[TopicPartition, int]:
        """The topics' end offsets now: where a group stands once it has taken everything produced."""
        return {TopicPartition(t, p): o for t in topics for p, o in (await end_offsets(self.kafka, t)).items()}

    async def behind(self, group: str, ends: dict[TopicPartition, int]) -> int:
        """How many records `group` has yet to commit before it reaches `ends`."""
        offsets = await self.admin.list_consumer_group_offsets(group)
        done = {tp: max(0, meta.offset) for tp, meta in offsets.items()}  # -1: nothing committed yet
        return sum(max(0, end - done.get(tp, 0)) for tp, end in ends.items())

    async def through(self, group: str, ends: dict[TopicPartition, int], *, within: float = 900.0) -> float:
        """Wait until `group` has committed up to `ends`; the `time.perf_counter()` then."""
        deadline = time.perf_counter() + within
        while (await self.behind(group, ends)) > 0:
            if time.perf_counter() > deadline:
                raise RuntimeError(f"{group} did not commit {ends} within {within:.0f} s")
            await asyncio.sleep(0.02)
        return time.perf_counter()


async def offsets_taken_so_far(kafka: str, topic_names: list[str]) -> dict[str, int]:
    """`applied_at` as crmhub.mongo.update_many_once leaves it in a document that took these
    topics' events up to now: each partition's last offset."""
    return {
        Position(topic, partition, 0).stream: end - 1
        for topic in topic_names
        for partition, end in (await end_offsets(kafka, topic)).items()
    }


ADMIN_PASSWORD = "bench-admin-password"


def motivation_with_admin(
    ctx: Any, unique: str, log_name: str, *, token_minutes: int | None = None
) -> tuple[RunningServer, dict[str, str]]:
    """A motivation process that signs its own tokens, and its first administrator's headers
    (whose token lives `token_minutes`, the service's default unless given)."""
    port = free_port()
    address = f"http://127.0.0.1:{port}"
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": ctx.kafka,
        "MONGODB_URL": ctx.mongo,
        "MOTIVATION_MONGODB_DATABASE": f"bench_team_{unique}",
        "MOTIVATION_LOG_LEVEL": "WARNING",
        "MOTIVATION_AUTH_ISSUER": address,
        "MOTIVATION_AUTH_JWKS_URL": f"{address}/.well-known/jwks.json",
        "MOTIVATION_BOOTSTRAP_ADMIN_ID": f"bench-admin-{unique}",
        "MOTIVATION_BOOTSTRAP_ADMIN_EMAIL": f"bench-admin-{unique}@bench.example",
        "MOTIVATION_BOOTSTRAP_ADMIN_PASSWORD": ADMIN_PASSWORD,
        **({"MOTIVATION_ACCESS_TOKEN_MINUTES": str(token_minutes)} if token_minutes else {}),
    }
    server = start_service("motivation", env=env, port=port, log_path=ctx.workdir / log_name, python=sys.executable)
    answer = httpx.post(
        f"{address}/v1/auth/login", json={"login": f"bench-admin-{unique}", "password": ADMIN_PASSWORD}, timeout=30
    )
    answer.raise_for_status()
    headers = {"Authorization": f"Bearer {answer.json()['access_token']}"}
    # the token names the administrator, whom the service's own copy of crm.team must hold
    # before it accepts the token; with a long crm.team that takes a moment after /ready
    for _ in range(150):
        if httpx.get(f"{address}/v1/team/departments", headers=headers, timeout=30).status_code == 200:
            break
        time.sleep(0.2)
    return server, headers


async def publish_team(kafka: str, department: str, managers: list[str]) -> None:
    """One department of managers on crm.team, as the motivation service would put them."""
    producer = AIOKafkaProducer(bootstrap_servers=kafka, enable_idempotence=True, linger_ms=20)
    await producer.start()
    try:
        events = [
            new_event(
                DepartmentUpserted(
                    change="created",
                    version=1,
                    department=Department(id=department, name="Bench", region="Moscow", timezone="Europe/Moscow"),
                ),
                source="/bench",
                subject=department_key(department),
            )
        ]
        events += [
            new_event(
                ManagerUpserted(
                    change="created",
                    version=1,
                    manager=Manager(id=m, name=m, department_id=department, email=f"{m}@bench.example"),
                ),
                source="/bench",
                subject=manager_key(m),
            )
            for m in managers
        ]
        for event in events:
            record = to_record(event)
            await producer.send(record.topic, record.value, key=record.key, headers=list(kafka_headers(record.headers)))
        await producer.flush()
    finally:
        await producer.stop()


def kafka_headers(headers: dict[str, str]) -> Any:
    """CloudEvents headers as aiokafka takes them."""
    return ((k, v.encode()) for k, v in headers.items())


def percentile(values: list[float], q: int) -> float:
    """The q-th percentile (nearest rank) of the values; infinity when there are none."""
    if not values:
        return float("inf")
    ordered = sorted(values)
    return ordered[max(0, int(len(ordered) * q / 100 + 0.5) - 1)] if q < 100 else ordered[-1]


async def wait_ready(address: str, *, within: float = 60.0) -> None:
    """Until `address`/ready answers 200 (a service just started)."""
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(timeout=5) as http:
        while True:
            try:
                if (await http.get(f"{address}/ready")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{address} never became ready")
            await asyncio.sleep(0.2)
