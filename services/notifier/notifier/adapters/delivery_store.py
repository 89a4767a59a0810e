"""MongoDB storage of the notifier.

- `deliveries`: one document per (event, recipient, channel): `_id` is exactly that triple, so
  a redelivered event, a restarted consumer or a rebalance can never create a second one. It
  holds the rendered message, the schedule (not before, next attempt), attempts, the last error,
  `version` and `outbox` (notification.delivered / notification.failed).
- `inbox`: the in-app messages a mobile client or UI reads.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from crmhub.events import CloudEvent
from crmhub.mongo import Document, insert_once
from crmhub.outbox import OUTBOX, outbox_entries, save_aggregate

Stored = Callable[[str, str, list[Document]], None]


def delivery_id(event_id: str, recipient: str, channel: str) -> str:
    return f"{event_id}:{recipient}:{channel}"


class DeliveryStore:
    def __init__(self, db: AsyncDatabase[Document], *, on_stored: Stored = lambda collection, doc_id, entries: None) -> None:
        self.deliveries: AsyncCollection[Document] = db["deliveries"]
        self.inbox: AsyncCollection[Document] = db["inbox"]
        self._on_stored = on_stored

    async def ensure_indexes(self) -> None:
        await self.deliveries.create_index([("status", ASCENDING), ("next_attempt_at", ASCENDING)])
        await self.deliveries.create_index([("recipient", ASCENDING), ("channel", ASCENDING), ("created_at", DESCENDING)])
        await self.inbox.create_index([("manager_id", ASCENDING), ("created_at", DESCENDING)])

    async def add(self, delivery: Document) -> bool:
        """False when this (event, recipient, channel) exists already."""
        return await insert_once(self.deliveries, {**delivery, "version": 1, OUTBOX: []})

    async def get(self, notification_id: str) -> Document | None:
        return await self.deliveries.find_one({"_id": notification_id}, {OUTBOX: 0})

    async def due(self, now: datetime, limit: int = 50) -> list[Document]:
        query = {"status": {"$in": ["pending", "sending"]}, "next_attempt_at": {"$lte": now}}
        return await self.deliveries.find(query, {OUTBOX: 0}).sort([("next_attempt_at", ASCENDING)]).limit(limit).to_list()

    async def update(self, doc: Document, changes: dict[str, Any], events: list[CloudEvent] | None = None) -> Document | None:
        """Apply changes if nobody else did first (the version check); the new document, or None."""
        entries = outbox_entries(events or [])
        if not await save_aggregate(self.deliveries, doc["_id"], expected_version=doc["version"], state=changes, events=entries):
            return None
        if entries:
            self._on_stored(self.deliveries.name, doc["_id"], entries)
        return {**doc, **changes, "version": doc["version"] + 1}

    async def recent_count(self, recipient: str, channel: str, since: datetime) -> int:
        return await self.deliveries.count_documents({"recipient": recipient, "channel": channel, "created_at": {"$gte": since}, "digest": False})

    async def held_for(self, recipient: str, channel: str) -> list[Document]:
        """Everything held back for one recipient and channel: a digest takes it all along."""
        query = {"recipient": recipient, "channel": channel, "status": "pending", "digest": True}
        return await self.deliveries.find(query, {OUTBOX: 0}).sort([("created_at", ASCENDING)]).to_list()

    async def search(self, filters: dict[str, Any], *, limit: int, offset: int) -> tuple[list[Document], int]:
        query = {k: v for k, v in filters.items() if v is not None}
        total = await self.deliveries.count_documents(query)
        docs = await self.deliveries.find(query, {OUTBOX: 0}).sort([("created_at", DESCENDING)]).skip(offset).limit(limit).to_list()
        return docs, total

    async def put_in_inbox(self, notification_id: str, manager_id: str, subject: str, text: str, now: datetime) -> None:
        await insert_once(self.inbox, {"_id": notification_id, "manager_id": manager_id, "subject": subject, "text": text, "created_at": now, "read_at": None})

    async def inbox_of(self, manager_id: str, *, unread_only: bool, limit: int, offset: int) -> tuple[list[Document], int]:
        query: dict[str, Any] = {"manager_id": manager_id}
        if unread_only:
            query["read_at"] = None
        total = await self.inbox.count_documents(query)
        docs = await self.inbox.find(query).sort([("created_at", DESCENDING)]).skip(offset).limit(limit).to_list()
        return docs, total

    async def mark_read(self, manager_id: str, message_id: str, now: datetime) -> bool:
        doc = await self.inbox.find_one({"_id": message_id, "manager_id": manager_id})
        if doc is None:
            return False
        if doc.get("read_at") is None:
            await self.inbox.update_one({"_id": message_id, "manager_id": manager_id}, {"$set": {"read_at": now}})
        return True
