"""The raw ceilings: what the bare servers do with the hub's client settings."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from typing import TYPE_CHECKING, Any

from aiokafka import AIOKafkaProducer
from pymongo import AsyncMongoClient

from crmhub.kafka import ensure_topics
from crmhub.topics import Topic

if TYPE_CHECKING:
    from scenarios import BenchContext

description = (
    "bare Kafka produce (aiokafka, idempotent, acks=all, 600-byte records with CloudEvents headers, pipelined) and "
    "bare MongoDB-wire insert_one of 600-byte documents from 16 concurrent tasks, each the best of three passes (the "
    "first pass meets servers not yet warmed up); every other rate is divided by the lower one"
)
# A ceiling is the best the bare servers do: the first pass of a fresh JVM is slower, and on
# this machine single passes vary by a third, so a ceiling from one pass flatters every ratio.
PASSES = 3
PAYLOAD = os.urandom(300).hex().encode()


async def kafka_produce(ctx: BenchContext) -> float:
    count = ctx.size(30_000, 3_000)
    topic = f"bench.ceiling.{uuid.uuid4().hex[:8]}"
    await ensure_topics(ctx.kafka, [Topic(topic)], with_dead_letters=False)
    producer = AIOKafkaProducer(bootstrap_servers=ctx.kafka, enable_idempotence=True, acks="all", linger_ms=5)
    await producer.start()
    headers = [
        ("ce_id", b"x" * 36),
        ("ce_type", b"bench.ceiling"),
        ("ce_source", b"/bench"),
        ("ce_time", b"2026-01-01T00:00:00Z"),
    ]
    try:
        await producer.send_and_wait(topic, PAYLOAD, key=b"warmup")
        started = time.perf_counter()
        pending = []
        for i in range(count):
            pending.append(await producer.send(topic, PAYLOAD, key=str(i % 64).encode(), headers=headers))
            if len(pending) >= 2000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
        return count / (time.perf_counter() - started)
    finally:
        await producer.stop()


async def mongo_insert(ctx: BenchContext) -> float:
    count = ctx.size(6_000, 600)
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(ctx.mongo)
    collection = client[f"bench_{uuid.uuid4().hex[:8]}"]["ceiling"]
    await collection.insert_one({"warmup": True})
    queue = iter(range(count))

    async def worker() -> None:
        for i in queue:
            await collection.insert_one({"_id": i, "payload": PAYLOAD.decode()})

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(16)))
    elapsed = time.perf_counter() - started
    await client.close()
    return count / elapsed


async def run(ctx: BenchContext) -> list[dict[str, Any]]:
    ctx.ceilings["kafka_produce"] = max([await kafka_produce(ctx) for _ in range(PASSES)])
    ctx.ceilings["mongo_insert"] = max([await mongo_insert(ctx) for _ in range(PASSES)])
    return [
        {"name": "kafka_produce", "value": ctx.ceilings["kafka_produce"], "unit": "records/s"},
        {"name": "mongo_insert", "value": ctx.ceilings["mongo_insert"], "unit": "docs/s"},
    ]
