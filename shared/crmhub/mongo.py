"""MongoDB access shared by the services: the client factory and the two idempotent-write
patterns every consumer effect uses (one-document atomicity is all they need)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

Document = dict[str, Any]

# How many handled event ids a document remembers. Redelivery after a crash replays only the
# uncommitted tail of a partition, far fewer than this for any one document.
APPLIED_EVENTS_KEPT = 200


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
