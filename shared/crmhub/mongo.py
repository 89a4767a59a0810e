"""MongoDB access shared by the services: the client factory and the two idempotent-write
patterns every consumer effect uses (one-document atomicity is all they need)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Mapping
from typing import Any

import pymongo.asynchronous.pool
import pymongo.asynchronous.topology
import pymongo.lock
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

Document = dict[str, Any]

# How many handled event ids a document remembers. Redelivery after a crash replays only the
# uncommitted tail of a partition, far fewer than this for any one document.
APPLIED_EVENTS_KEPT = 200


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
    guarded = dict(update)
    push = dict(guarded.get("$push", {}))
    push["applied_events"] = {"$each": [event_id], "$slice": -keep}
    guarded["$push"] = push
    try:
        result = await collection.update_one(
            {"_id": doc_id, "applied_events": {"$ne": event_id}}, guarded, upsert=upsert
        )
    except DuplicateKeyError:
        # the upsert met the document that already holds this event id
        return False
    return result.modified_count == 1 or result.upserted_id is not None
