"""What the scenarios share: watching a topic from its current end, and a signed-in team directory."""

from __future__ import annotations

import sys
import time
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition

from crmhub.kafka import end_offsets
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


ADMIN_PASSWORD = "bench-admin-password"


def motivation_with_admin(ctx: Any, unique: str, log_name: str) -> tuple[RunningServer, dict[str, str]]:
    """A motivation process that signs its own tokens, and its first administrator's headers."""
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
