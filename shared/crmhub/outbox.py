"""The outbox inside the aggregate document, and the relay that moves it to Kafka.

A state change and the events it emits are written in one single-document update: the events
sit in the document's `outbox` array. The relay publishes them (idempotent producer, acks=all,
in order per key), waits for Kafka to acknowledge, and only then removes exactly those entries
with `$pullAll`. A crash between the two leaves the entries in place and they are sent again
with the same CloudEvents id, which consumers recognise. No multi-document transaction is
needed, which is why this runs on FerretDB and on a stand-alone mongod alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

from pymongo import ASCENDING, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import OperationFailure

from crmhub.events import CloudEvent, KafkaRecord, to_record
from crmhub.mongo import Document

OUTBOX = "outbox"
# How many published event ids a relay remembers: far more than a scan can meet in flight.
PUBLISHED_REMEMBERED = 20_000
# A safety scan that took t seconds waits at least SCAN_SHARE * t before the next one.
SCAN_SHARE = 20
# The documents with pending events, indexed as MongoDB indexes part of a collection: the safety
# scan reads these, not the whole collection (ADR 3: the local server builds it too).
PENDING = {f"{OUTBOX}.0": {"$exists": True}}
PENDING_INDEX = "outbox_pending"
log = logging.getLogger("crmhub.outbox")

Send = Callable[[KafkaRecord], Awaitable["asyncio.Future[Any]"]]
"""Enqueue one record on the producer; the returned future resolves when Kafka acknowledged it."""

Project = Callable[[list[CloudEvent]], Awaitable[None]]
"""Bring read models up to date with stored events (idempotently: it may see an event again)."""


def outbox_entries(events: Iterable[CloudEvent] | Iterable[Document]) -> list[Document]:
    """Events as stored in an outbox (entries already in that form pass through)."""
    return [event if isinstance(event, dict) else event.model_dump(mode="json") for event in events]


def new_aggregate(state: Mapping[str, Any], events: Sequence[CloudEvent] | Sequence[Document]) -> Document:
    """The first document of an aggregate: state, version 1 and its first events."""
    return {**state, "version": 1, OUTBOX: outbox_entries(events)}


async def save_aggregate(
    collection: AsyncCollection[Document],
    doc_id: Any,
    *,
    expected_version: int,
    state: Mapping[str, Any],
    events: Sequence[CloudEvent] | Sequence[Document],
) -> bool:
    """Write new state and append its events in one update, if nobody changed it since it was read.

    False on a concurrent change (the caller reloads and decides again). `$push` rather than a
    whole-document replace, so entries the relay clears meanwhile are not written back.
    """
    result = await collection.update_one(
        {"_id": doc_id, "version": expected_version},
        {"$set": {**state, "version": expected_version + 1}, "$push": {OUTBOX: {"$each": outbox_entries(events)}}},
    )
    return result.modified_count == 1


class OutboxRelay:
    """Moves pending events to Kafka.

    Writers name the documents they stored events in (`nudge(collection, id)`), and the relay
    reads exactly those by `_id`. A scan for any document with pending events runs at start and
    every `scan_seconds` as the safety net (less often when a scan takes long: at most 1/20 of
    the time): it finds what another instance wrote or what a crash left behind. It reads the
    partial index of pending documents (`ensure_indexes`, declared at the service's start), so its
    cost follows what is pending, not the size of the collection.
    """

    def __init__(
        self,
        *,
        collections: Sequence[AsyncCollection[Document]],
        send: Send,
        poll_seconds: float = 0.5,
        scan_seconds: float = 10.0,
        batch_size: int = 200,
        on_published: Callable[[list[CloudEvent]], Awaitable[None]] | None = None,
        projections: Mapping[str, Project] | None = None,
        trailing: Mapping[str, Project] | None = None,
    ) -> None:
        self._collections = {c.name: c for c in collections}
        self._projections = dict(projections or {})
        self._trailing = dict(trailing or {})
        self._send = send
        self._poll_seconds = poll_seconds
        self._scan_seconds = scan_seconds
        self._batch_size = batch_size
        self._on_published = on_published
        self._wake = asyncio.Event()
        # collection -> document id -> the entries its writer stored, in order (None: read them)
        self._pending: dict[str, dict[Any, list[Document] | None]] = {name: {} for name in self._collections}
        self._last_scan = float("-inf")
        self._scan_every = scan_seconds
        self._scan_was_full = False  # the last scan met a whole batch: there may be more behind it
        # Ids of the events this relay published lately. A document written while a scan runs is
        # published by the scan and then named again by its writer's nudge: the second time its
        # entries are skipped (and cleared), so a fault-free run publishes every event once.
        self._published: OrderedDict[str, None] = OrderedDict()

    def nudge(
        self, collection: str | None = None, doc_id: Any = None, entries: Sequence[Document] | None = None
    ) -> None:
        """A writer stored events in `doc_id` of `collection`: relay them now, not at the next poll.

        With `entries` (exactly what the writer stored) the relay needs no read: it publishes
        them and removes them by value. Without, it reads the document's outbox.
        """
        if collection is not None and doc_id is not None and collection in self._pending:
            pending = self._pending[collection]
            if entries is None or (doc_id in pending and pending[doc_id] is None):
                pending[doc_id] = None
            else:
                pending[doc_id] = [*(pending.get(doc_id) or []), *entries]
        self._wake.set()

    async def ensure_indexes(self) -> None:
        """A partial index of the documents with pending events, in every relayed collection. A
        server that has no partial indexes (FerretDB) refuses it: the scan then reads the whole
        collection, as it always did there."""
        for collection in self._collections.values():
            try:
                await collection.create_index(
                    [(f"{OUTBOX}.id", ASCENDING)], name=PENDING_INDEX, partialFilterExpression=PENDING
                )
            except OperationFailure as exc:
                log.warning(
                    "no partial index %s on %s (%s): its scans read every document", PENDING_INDEX, collection.name, exc
                )

    async def relay_once(self, *, scan: bool = True) -> int:
        """Publish the pending events of nudged documents (and of all documents when `scan`)."""
        total = 0
        self._scan_was_full = False
        for name, collection in self._collections.items():
            nudged, self._pending[name] = self._pending[name], {}
            try:
                docs = []
                for doc_id, entries in nudged.items():
                    if entries is not None:
                        docs.append({"_id": doc_id, OUTBOX: entries})
                        continue
                    doc = await collection.find_one({"_id": doc_id}, {OUTBOX: 1})
                    if doc is not None and doc.get(OUTBOX):
                        docs.append(doc)
                if scan:
                    seen = {d["_id"] for d in docs}
                    found = await collection.find(PENDING, {OUTBOX: 1}).limit(self._batch_size).to_list()
                    docs += [d for d in found if d["_id"] not in seen]
                    self._scan_was_full |= len(found) >= self._batch_size
                total += await self._publish(collection, docs)
            except BaseException:
                for doc_id in nudged:  # not relayed: read these from the database next time
                    self._pending[name][doc_id] = None
                raise
        return total

    async def _publish(self, collection: AsyncCollection[Document], docs: list[Document]) -> int:
        if not docs:
            return 0
        stored = [CloudEvent.model_validate(entry) for doc in docs for entry in doc[OUTBOX]]
        if (project := self._projections.get(collection.name)) is not None:
            # read models first: once an event is on Kafka, what it changed is readable; and
            # nothing is cleared until they hold it (projections are idempotent, so a retry of
            # the batch, published or not, applies them again harmlessly)
            await project(stored)
        events: list[CloudEvent] = []
        acks = []
        for event in stored:
            if event.id in self._published:
                continue  # sent a moment ago (by a scan that met the writer's nudge): only clear it
            events.append(event)
            acks.append(await self._send(to_record(event)))
        await asyncio.gather(*acks)
        for event in events:
            self._published[event.id] = None
        while len(self._published) > PUBLISHED_REMEMBERED:
            self._published.popitem(last=False)
        if (trail := self._trailing.get(collection.name)) is not None:
            # read models that may trail the events by a moment (figures): kept after sending,
            # so they cost the events no latency, and still before clearing
            await trail(stored)
        if self._on_published is not None and events:
            await self._on_published(events)
        # one round trip clears the whole batch (a write per document cost as much as the lead itself)
        await collection.bulk_write(
            [UpdateOne({"_id": doc["_id"]}, {"$pullAll": {OUTBOX: doc[OUTBOX]}}) for doc in docs], ordered=False
        )
        return len(events)

    async def run(self) -> None:
        failures = 0
        loop = asyncio.get_running_loop()
        while True:
            self._wake.clear()
            scan = loop.time() - self._last_scan >= self._scan_every
            started = loop.time()
            try:
                await self.relay_once(scan=scan)
                failures = 0
                if scan:
                    # a scan reads every document of a collection where nothing indexes the
                    # outbox: as data grows it runs less often, never more than 1/20 of the time
                    self._scan_every = max(self._scan_seconds, SCAN_SHARE * (loop.time() - started))
            except asyncio.CancelledError:
                raise
            except Exception:
                failures += 1
                log.exception("outbox relay failed; pending events stay stored and are retried")
                await asyncio.sleep(min(0.2 * 2**failures, 10.0))
                continue
            if scan:
                self._last_scan = loop.time()
            if scan and self._scan_was_full:
                # more may be left behind it; a scan that met only what writers had just named
                # (always, under steady load) is not a reason to scan again at once
                self._last_scan = float("-inf")
                continue
            if any(self._pending.values()):
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll_seconds)
