"""Reading and writing Kafka topics from tests, with the real client."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord

from crmhub.events import EventData, new_event, to_record

Records = list[ConsumerRecord[bytes, bytes]]


def headers_of(record: ConsumerRecord[bytes, bytes]) -> dict[str, str]:
    return {k: v.decode() for k, v in record.headers}


async def read_topic(bootstrap: str, topic: str, *, until: Callable[[Records], bool], timeout: float = 20.0) -> Records:
    """Read `topic` from the beginning (no consumer group) until `until(records)` holds.

    Fails the test with what was read when the condition is not met in time.
    """
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    records: Records = []
    deadline = time.monotonic() + timeout
    try:
        while not until(records):
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"condition on {topic} not met within {timeout}s; read {len(records)} record(s): {[headers_of(r).get('ce_type') for r in records][-20:]}"
                )
            batch = await consumer.getmany(timeout_ms=300)
            for part in batch.values():
                records.extend(part)
    finally:
        await consumer.stop()
    return records


async def produce(bootstrap: str, topic: str, messages: list[tuple[bytes | None, bytes, dict[str, str]]]) -> None:
    """Send (key, value, headers) messages in order and wait for Kafka to acknowledge them."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True)
    await producer.start()
    try:
        for key, value, headers in messages:
            await producer.send_and_wait(topic, value, key=key, headers=[(k, v.encode()) for k, v in headers.items()])
    finally:
        await producer.stop()


async def eventually(check: Callable[[], object], *, timeout: float = 15.0, interval: float = 0.1) -> None:
    """Poll an async or sync check until it returns truthy; fail with its last value."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        last = check()
        if asyncio.iscoroutine(last):
            last = await last
        if last:
            return
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last value: {last!r})")


async def publish(kafka: str, payload: EventData, subject: str, event_id: str | None = None) -> str:
    """Publish one event as a hub service (or an outside system) would: binary-mode CloudEvent."""
    event = new_event(payload, source="/tests", subject=subject, event_id=event_id)
    record = to_record(event)
    await produce(kafka, record.topic, [(record.key, record.value, record.headers)])
    return event.id
