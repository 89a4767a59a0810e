"""The outbox relay publishes each event once when nothing fails: a document written while a
scan runs is published by the scan, and its writer's nudge that arrives just after must not
publish it a second time (external subscribers would see the copy). A fake collection lets the
test place the nudge exactly there."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from crmhub.events import KafkaRecord, new_event
from crmhub.outbox import OUTBOX, OutboxRelay, outbox_entries
from crmhub.schemas.audit import AuditRecorded


class Cursor:
    def __init__(self, docs: list[dict[str, Any]]) -> None:
        self.docs = docs

    def limit(self, n: int) -> Cursor:
        return Cursor(self.docs[:n])

    async def to_list(self) -> list[dict[str, Any]]:
        return [dict(d) for d in self.docs]


class FakeCollection:
    name = "things"

    def __init__(self) -> None:
        self.docs: dict[str, dict[str, Any]] = {}

    async def find_one(self, query: dict[str, Any], projection: Any = None) -> dict[str, Any] | None:
        doc = self.docs.get(query["_id"])
        return None if doc is None else {"_id": doc["_id"], OUTBOX: list(doc[OUTBOX])}

    def find(self, query: dict[str, Any], projection: Any = None) -> Cursor:
        return Cursor([{"_id": d["_id"], OUTBOX: list(d[OUTBOX])} for d in self.docs.values() if d[OUTBOX]])

    async def bulk_write(self, requests: list[Any], ordered: bool = True) -> None:
        for request in requests:
            doc = self.docs[request._filter["_id"]]
            gone = request._doc["$pullAll"][OUTBOX]
            doc[OUTBOX] = [e for e in doc[OUTBOX] if e not in gone]


def _event(n: int) -> dict[str, Any]:
    record = AuditRecorded(actor="manager:anna", action=f"a{n}", entity="x", at=datetime.now(UTC))
    return outbox_entries([new_event(record, source="/tests", subject="x")])[0]


async def test_an_event_the_scan_published_is_not_published_again_by_the_writers_late_nudge():
    collection = FakeCollection()
    sent: list[str] = []

    async def send(record: KafkaRecord) -> asyncio.Future[Any]:
        sent.append(record.headers["ce_id"])
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    relay = OutboxRelay(collections=[collection], send=send)  # type: ignore[list-item]
    first = _event(1)
    collection.docs["d1"] = {"_id": "d1", OUTBOX: [first]}  # written; its writer has not nudged yet
    assert await relay.relay_once(scan=True) == 1  # the scan finds and publishes it
    relay.nudge("things", "d1", [first])  # the writer's nudge, a moment late
    assert await relay.relay_once(scan=False) == 0
    second = _event(2)
    collection.docs["d1"][OUTBOX].append(second)
    relay.nudge("things", "d1", [second])
    assert await relay.relay_once(scan=False) == 1
    assert sent == [first["id"], second["id"]]
    assert collection.docs["d1"][OUTBOX] == []


async def test_read_models_come_before_sending_figures_after_and_both_before_clearing():
    """A listing is readable once its event is on Kafka; figures may trail it and cost the event
    no latency; a failure in either leaves the events stored, to be projected and sent again."""
    collection = FakeCollection()
    steps: list[str] = []
    fail_figures = True

    async def send(record: KafkaRecord) -> asyncio.Future[Any]:
        steps.append("sent")
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    async def listings(events: list[Any]) -> None:
        steps.append("listings")

    async def figures(events: list[Any]) -> None:
        steps.append("figures")
        if fail_figures:
            raise ConnectionError("the database went away")

    relay = OutboxRelay(
        collections=[collection],  # type: ignore[list-item]
        send=send,
        projections={"things": listings},
        trailing={"things": figures},
    )
    event = _event(1)
    collection.docs["d1"] = {"_id": "d1", OUTBOX: [event]}
    relay.nudge("things", "d1", [event])
    with pytest.raises(ConnectionError):
        await relay.relay_once(scan=False)
    assert steps == ["listings", "sent", "figures"]
    assert collection.docs["d1"][OUTBOX] == [event]  # not cleared: the figures never held it
    fail_figures = False
    steps.clear()
    await relay.relay_once(scan=True)
    assert steps == ["listings", "figures"]  # projected again (idempotent); sent a moment ago: not again
    assert collection.docs["d1"][OUTBOX] == []


class CountingCollection(FakeCollection):
    def __init__(self) -> None:
        super().__init__()
        self.scans = 0

    def find(self, query: dict[str, Any], projection: Any = None) -> Cursor:
        self.scans += 1
        return super().find(query, projection)


async def _acknowledged(record: KafkaRecord) -> asyncio.Future[Any]:
    done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    done.set_result(None)
    return done


@contextlib.asynccontextmanager
async def running(relay: OutboxRelay) -> AsyncIterator[None]:
    task = asyncio.create_task(relay.run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def cleared(collection: FakeCollection) -> None:
    async with asyncio.timeout(30):
        while any(d[OUTBOX] for d in collection.docs.values()):
            await asyncio.sleep(0.01)


async def test_under_steady_writes_the_relay_does_not_scan_again_and_again():
    """A scan is a read of its own (of every document, where nothing indexes the outbox). Under
    steady load every round has nudged documents to publish; that is no reason to scan again:
    only a scan that met a whole batch (more may lie behind it) is followed at once by another."""
    collection = CountingCollection()
    relay = OutboxRelay(collections=[collection], send=_acknowledged, scan_seconds=3600)  # type: ignore[list-item]
    async with running(relay):
        for n in range(300):
            entries = [_event(n)]
            collection.docs[f"d{n}"] = {"_id": f"d{n}", OUTBOX: list(entries)}
            relay.nudge("things", f"d{n}", entries)
            await asyncio.sleep(0.001)
        await cleared(collection)
    assert collection.scans == 1  # the one at start


async def test_what_a_crash_left_behind_is_scanned_batch_after_batch_without_waiting():
    collection = CountingCollection()
    for n in range(450):  # stored by an instance that died before relaying them
        collection.docs[f"d{n}"] = {"_id": f"d{n}", OUTBOX: [_event(n)]}
    relay = OutboxRelay(collections=[collection], send=_acknowledged, scan_seconds=3600, batch_size=200)  # type: ignore[list-item]
    async with running(relay):
        await cleared(collection)
    assert collection.scans == 3  # 200, 200, then 50: not a whole batch, so the next waits an hour
