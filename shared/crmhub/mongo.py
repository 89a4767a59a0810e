"""MongoDB access shared by the services: the client factory and the two idempotent-write
patterns every consumer effect uses (one-document atomicity is all they need)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import pymongo.asynchronous.pool
import pymongo.asynchronous.topology
import pymongo.lock
from bson.errors import InvalidDocument
from pymongo import AsyncMongoClient, InsertOne, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, DocumentTooLarge, DuplicateKeyError, WriteError

from crmhub.events import Position

Document = dict[str, Any]

# How many handled event ids a document remembers. Redelivery after a crash replays only the
# uncommitted tail of a partition, far fewer than this for any one document.
APPLIED_EVENTS_KEPT = 200
# Beside the offsets of the events a consumer read (update_many_once), the ids a document keeps
# need only catch an event published twice, whose second copy follows the first within moments.
IDS_KEPT_BESIDE_OFFSETS = 50
# update_many_once marks the documents it makes (`guarded_by: offsets`). One made before the
# offsets guard kept its ids alone and keeps them all, however many (see _apply_rest).
GUARDED_BY, OFFSETS = "guarded_by", "offsets"
DUPLICATE_KEY = 11000


async def condition_wait(condition: Any, timeout: float | None) -> bool:  # noqa: ASYNC109 - PyMongo calls it so
    """PyMongo's wait on its topology and pool conditions, with `asyncio.timeout` in place of
    `asyncio.wait_for`.

    On Python 3.11 `wait_for` runs the wait in a task of its own. When its timeout fires while
    the calling task is cancelled too (a request abandoned, a health probe's deadline) and a
    notify arrives at that moment — exactly what happens as a restarted database comes back —
    the caller can leave PyMongo's `async with lock` while the orphaned inner task takes the
    lock again afterwards: the lock stays held by nobody, every later server selection waits on
    it forever, and some requests fail with "cannot wait on un-acquired lock". That is the
    wedge the proving ground saw after a database restart. `asyncio.timeout` waits in the
    caller's own task, so the wait always gives the lock back before the caller moves on
    (Python 3.12 builds `wait_for` this way itself).
    """
    try:
        async with asyncio.timeout(timeout):
            return bool(await condition.wait())
    except TimeoutError:
        return False


if sys.version_info < (3, 12):
    for _module in (pymongo.lock, pymongo.asynchronous.topology, pymongo.asynchronous.pool):
        _module._async_cond_wait = condition_wait  # type: ignore[attr-defined]


def make_client(url: str, *, app_name: str) -> AsyncMongoClient[Document]:
    return AsyncMongoClient(
        url,
        appname=app_name,
        tz_aware=True,
        serverSelectionTimeoutMS=5000,
        connectTimeoutMS=5000,
        uuidRepresentation="standard",
    )


async def insert_once(collection: AsyncCollection[Document], document: Mapping[str, Any]) -> bool:
    """Insert a document whose `_id` is derived from the event that causes it.

    False when it exists already: the event was handled before, and nothing changes.
    """
    try:
        await collection.insert_one(dict(document))
    except DuplicateKeyError:
        return False
    return True


async def update_once(
    collection: AsyncCollection[Document],
    doc_id: Any,
    event_id: str,
    update: Mapping[str, Any],
    *,
    upsert: bool = False,
    keep: int = APPLIED_EVENTS_KEPT,
) -> bool:
    """Apply `update` to one document unless that document already recorded `event_id` (among
    the last `keep` it applied: size it above the redeliveries one document can see).

    The guard and the effect are one atomic single-document update, so a redelivered event
    (a consumer killed before it committed) finds its id recorded and changes nothing.
    Returns True when the update was applied now.
    """
    guard, guarded, _ = _guarded_write(doc_id, [Guarded(doc_id, event_id, update)], keep)
    try:
        result = await collection.update_one(guard, guarded, upsert=upsert)
    except DuplicateKeyError:
        # the upsert found the document without this id missing... because the document exists:
        # it holds the id already, or another writer created it a moment ago; now that it
        # exists, the guarded update alone tells which
        result = await collection.update_one(guard, guarded)
        return result.modified_count == 1
    return result.modified_count == 1 or result.upserted_id is not None


def duplicates_in(exc: BulkWriteError) -> list[int]:
    """The indexes of the writes an unordered bulk write refused as duplicate keys (the rest
    were applied); `exc` itself again when any write failed for another reason."""
    errors = exc.details.get("writeErrors", [])
    if any(error.get("code") != DUPLICATE_KEY for error in errors):
        raise exc
    return [int(error["index"]) for error in errors]


class Guarded(NamedTuple):
    """One event's update of one document, and where its consumer read the event (None when it
    was not read from Kafka: a parked event counted later, say)."""

    doc_id: Any
    event_id: str
    update: Mapping[str, Any]
    position: Position | None = None


def merged_update(updates: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Several events' updates of one document as one: `$inc` summed, `$set` the last value,
    `$push` of `{$each, $slice}` (or a plain value) concatenated, the last `$slice` kept."""
    merged: dict[str, Any] = {}
    for update in updates:
        for operator, fields in update.items():
            target = merged.setdefault(operator, {})
            for name, value in fields.items():
                if operator == "$inc":
                    target[name] = target.get(name, 0) + value
                elif operator == "$push":
                    each = value["$each"] if isinstance(value, Mapping) and "$each" in value else [value]
                    slot = target.setdefault(name, {"$each": []})
                    slot["$each"] = [*slot["$each"], *each]
                    if isinstance(value, Mapping) and "$slice" in value:
                        slot["$slice"] = value["$slice"]
                elif operator == "$set":
                    target[name] = value
                else:
                    raise ValueError(f"cannot merge {operator} updates")
    return merged


async def update_many_once(
    collection: AsyncCollection[Document],
    updates: Sequence[Guarded | tuple[Any, str, Mapping[str, Any]]],
    *,
    keep: int = APPLIED_EVENTS_KEPT,
) -> int:
    """`update_once` (with upsert) for many events in one round trip: each document's events
    merged into one update, and the documents in one unordered bulk write. Returns how many
    (document, event) updates applied.

    Each event is guarded by its id among the last `keep` ids the document recorded, as in
    `update_once`: that catches an event published twice (an outbox relay that died before it
    cleared what it had sent publishes it again), which comes soon after the first copy. An
    event read from Kafka is guarded as well by where it was read: the document keeps, per
    partition, the last offset it applied (`applied_at.<topic>/<partition>`, raised with `$max`)
    and takes a batch's events of a partition only if none at or after the first of them was
    applied. A consumer group handles a partition's records in offset order, so a redelivered
    batch (a consumer killed before it committed, an instance that lost the partition in a
    rebalance) finds its offsets taken however many events it holds, and `keep` can stay small
    (the ids are rewritten at every update of the document).

    A document whose guard refuses the batch's events (a batch cut differently when it comes
    again) has them sorted out by a read of what it recorded and a guarded write of the rest.
    So has a document made before the offsets guard (it lacks the `guarded_by` mark), which
    keeps every id it holds rather than the last `keep`: the ids were its only guard, and a batch
    it took before the upgrade, from a partition it has no offset of, may still come again."""
    by_doc: dict[Any, list[Guarded]] = {}
    for entry in updates:
        guarded = Guarded(*entry)
        by_doc.setdefault(guarded.doc_id, []).append(guarded)
    if not by_doc:
        return 0
    docs = list(by_doc)
    planned = [_guarded_write(doc_id, by_doc[doc_id], keep, marked=True) for doc_id in docs]
    again: list[Any] = []
    try:
        await collection.bulk_write(
            [UpdateOne(guard, update, upsert=True) for guard, update, _ in planned], ordered=False
        )
    except BulkWriteError as exc:
        # the upsert met a document that holds one of them: sort those events out by reading it
        again = [docs[i] for i in duplicates_in(exc)]
    refused = set(again)
    applied = sum(count for doc_id, (_, _, count) in zip(docs, planned, strict=True) if doc_id not in refused)
    for doc_id in again:
        applied += await _apply_rest(collection, doc_id, by_doc[doc_id], keep)
    return applied


APPLIED_AT = "applied_at"


def guard_kept(ids: Sequence[str], offsets: Mapping[str, int]) -> Document:
    """What update_many_once keeps in a document that took these events' ids (the last ones)
    and read its events up to these offsets (`Position.stream` -> offset): for a store or a
    benchmark that starts documents as traffic leaves them."""
    return {"applied_events": list(ids), APPLIED_AT: dict(offsets), GUARDED_BY: OFFSETS}


def _guarded_write(
    doc_id: Any, entries: Sequence[Guarded], keep: int, *, marked: bool = False
) -> tuple[Document, Document, int]:
    """The filter and update that apply these events to one document unless any was applied
    there (an event twice among them: once), and how many events that is; `marked`: only to a
    document guarded by offsets (an upsert makes it so)."""
    first: dict[str, Guarded] = {}
    low: dict[str, int] = {}
    high: dict[str, int] = {}
    for entry in entries:
        first.setdefault(entry.event_id, entry)
        if entry.position is not None:
            stream, offset = entry.position.stream, entry.position.offset
            low[stream] = min(low.get(stream, offset), offset)
            high[stream] = max(high.get(stream, offset), offset)
    updates = [entry.update for entry in first.values()]
    update = dict(updates[0]) if len(updates) == 1 else merged_update(updates)  # one: any operator
    guard: Document = {"_id": doc_id, "applied_events": {"$nin": list(first)}}
    if marked:
        guard[GUARDED_BY] = OFFSETS  # an equality: an upsert writes it into the document
    for stream, offset in low.items():
        guard[f"{APPLIED_AT}.{stream}"] = {"$not": {"$gte": offset}}
    if high:
        update["$max"] = {**update.get("$max", {}), **{f"{APPLIED_AT}.{s}": o for s, o in high.items()}}
    update["$push"] = {**update.get("$push", {}), "applied_events": {"$each": list(first), "$slice": -keep}}
    return guard, update, len(first)


async def _apply_rest(collection: AsyncCollection[Document], doc_id: Any, entries: Sequence[Guarded], keep: int) -> int:
    """Apply to one document those of `entries` it has not recorded (by offset or by id), in one
    write guarded by what was read; read again if another writer came in between."""
    while True:
        doc = await collection.find_one({"_id": doc_id}, {APPLIED_AT: 1, "applied_events": 1, GUARDED_BY: 1})
        marks = (doc or {}).get(APPLIED_AT) or {}
        seen = set((doc or {}).get("applied_events") or [])
        marked = doc is None or doc.get(GUARDED_BY) == OFFSETS
        rest = [
            entry
            for entry in entries
            if entry.event_id not in seen
            and (entry.position is None or entry.position.offset > marks.get(entry.position.stream, -1))
        ]
        if not rest:
            return 0
        # a document from before the offsets guard keeps as many ids as it holds
        guard, update, count = _guarded_write(doc_id, rest, keep if marked else max(keep, len(seen)), marked=marked)
        try:
            result = await collection.update_one(guard, update, upsert=doc is None)
        except DuplicateKeyError:  # created by another writer since the read
            continue
        if result.matched_count == 1 or result.upserted_id is not None:
            return count


class GroupCommit:
    """Single-document writes of concurrent requests to one collection, combined into bulk
    writes (group commit in the service: round trips, not bytes, are what a write costs).

    The first write goes at once, alone: an idle service answers as fast as before. Writes that
    arrive while a bulk write is in flight wait for it and go together in the next one. Each
    caller awaits its own write and gets its own outcome (done when the bulk write is
    acknowledged, so as durable as a write of its own; a duplicate key raised to that caller
    alone; a lost connection to every caller of that bulk write, as each would have met it).
    Two writes to one document never share a bulk write, so they apply in the order made.
    """

    def __init__(self, collection: AsyncCollection[Document], *, max_batch: int = 500) -> None:
        self.collection = collection
        self.max_batch = max_batch
        self._queue: list[tuple[Any, Any, asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def insert(self, document: Mapping[str, Any]) -> bool:
        """`insert_one`; False when a document with its `_id` exists."""
        try:
            await self._submit(document["_id"], InsertOne(dict(document)))
        except DuplicateKeyError:
            return False
        return True

    async def update(self, doc_id: Any, update: Mapping[str, Any], *, upsert: bool = False) -> None:
        """`update_one` by `_id` whose result nobody needs (an upsert of a timer, say)."""
        await self._submit(doc_id, UpdateOne({"_id": doc_id}, dict(update), upsert=upsert))

    async def _submit(self, doc_id: Any, op: Any) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((doc_id, op, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_all())
        await future

    async def _flush_all(self) -> None:
        while self._queue:
            batch: list[tuple[Any, Any, asyncio.Future[None]]] = []
            later: list[tuple[Any, Any, asyncio.Future[None]]] = []
            ids: set[Any] = set()
            for item in self._queue:
                if item[2].done():  # its caller gave up before it was sent
                    continue
                if item[0] in ids or len(batch) >= self.max_batch:
                    later.append(item)
                else:
                    ids.add(item[0])
                    batch.append(item)
            self._queue = later
            if batch:
                await self._flush(batch)

    async def _flush(self, batch: list[tuple[Any, Any, asyncio.Future[None]]]) -> None:
        outcomes: list[BaseException | None] = [None] * len(batch)
        try:
            await self.collection.bulk_write([op for _, op, _ in batch], ordered=False)
        except BulkWriteError as exc:
            if exc.details.get("writeConcernErrors"):
                outcomes = [exc] * len(batch)
            for error in exc.details.get("writeErrors", []):
                kind = DuplicateKeyError if error.get("code") == DUPLICATE_KEY else WriteError
                outcomes[error["index"]] = kind(error.get("errmsg", "write failed"), error.get("code"), error)
        except (InvalidDocument, DocumentTooLarge) as exc:  # one write the driver refuses before sending
            if len(batch) == 1:
                outcomes = [exc]
            else:  # it must not fail the others: each goes alone and gets its own outcome
                for item in batch:
                    await self._flush([item])
                return
        except Exception as exc:  # the database went away, or refused the bulk write whole
            outcomes = [exc] * len(batch)
        except BaseException:  # the service is stopping: nobody learns an outcome it cannot know
            for _, _, future in [*batch, *self._queue]:
                future.cancel()
            self._queue = []
            raise
        for (_, _, future), outcome in zip(batch, outcomes, strict=True):
            if future.done():
                continue
            if outcome is None:
                future.set_result(None)
            else:
                future.set_exception(outcome)


def matching(value: Any) -> Any:
    """A filter's value as a query condition: a list matches any of its values."""
    return {"$in": list(value)} if isinstance(value, (list, tuple, set, frozenset)) else value
