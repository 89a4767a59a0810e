"""MongoDB storage of the notifier.

- `deliveries`: one `Delivery` aggregate per (event, recipient, channel): `_id` is exactly that
  triple, so a redelivered event, a restarted consumer or a rebalance can never create a second
  one. It holds the rendered message, its schedule and attempts, `version` and `outbox`
  (notification.delivered / notification.failed); its send timer lives in `timers`;
- `inbox`: the in-app messages a mobile client or UI reads.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from crmhub.aggregate_store import AggregateStore
from crmhub.mongo import Document, insert_once
from crmhub.outbox import OUTBOX
from notifier.domain.delivery import Delivery


class DeliveryStore:
    def __init__(self, deliveries: AggregateStore[Delivery], db: AsyncDatabase[Document]) -> None:
        self.deliveries = deliveries
        self.inbox: AsyncCollection[Document] = db["inbox"]

    async def ensure_indexes(self) -> None:
        await self.deliveries.collection.create_index(
            [("recipient", ASCENDING), ("channel", ASCENDING), ("created_at", DESCENDING)]
        )
        await self.inbox.create_index([("manager_id", ASCENDING), ("created_at", DESCENDING)])

    async def recent_count(self, recipient: str, channel: str, since: datetime) -> int:
        return await self.deliveries.collection.count_documents(
            {"recipient": recipient, "channel": channel, "created_at": {"$gte": since}, "digest": False}
        )

    async def held_for(self, recipient: str, channel: str) -> list[Delivery]:
        """Everything held back for one recipient and channel, oldest first: a digest takes it all
        along. Messages a digest sender claimed are included (`sending`): while its lease runs they
        stop another sender, and once it has run out (the sender died) they go in the next digest."""
        query = {"recipient": recipient, "channel": channel, "status": {"$in": ["pending", "sending"]}, "digest": True}
        docs = await self.deliveries.collection.find(query, {OUTBOX: 0}).sort([("created_at", ASCENDING)]).to_list()
        return [self.deliveries.from_document(d) for d in docs]

    async def search(self, filters: dict[str, Any], *, limit: int, offset: int) -> tuple[list[Delivery], int]:
        query = {k: v for k, v in filters.items() if v is not None}
        collection = self.deliveries.collection
        total = await collection.count_documents(query)
        docs = (
            await collection.find(query, {OUTBOX: 0})
            .sort([("created_at", DESCENDING), ("_id", DESCENDING)])  # ties in a fixed order: pages never overlap
            .skip(offset)
            .limit(limit)
            .to_list()
        )
        return [self.deliveries.from_document(d) for d in docs], total

    async def put_in_inbox(self, notification_id: str, manager_id: str, subject: str, text: str, now: datetime) -> None:
        await insert_once(
            self.inbox,
            {
                "_id": notification_id,
                "manager_id": manager_id,
                "subject": subject,
                "text": text,
                "created_at": now,
                "read_at": None,
            },
        )

    async def inbox_of(
        self, manager_id: str, *, unread_only: bool, limit: int, offset: int
    ) -> tuple[list[Document], int]:
        query: dict[str, Any] = {"manager_id": manager_id}
        if unread_only:
            query["read_at"] = None
        total = await self.inbox.count_documents(query)
        docs = (
            await self.inbox.find(query)
            .sort([("created_at", DESCENDING), ("_id", DESCENDING)])
            .skip(offset)
            .limit(limit)
            .to_list()
        )
        return docs, total

    async def mark_read(self, manager_id: str, message_id: str, now: datetime) -> bool:
        doc = await self.inbox.find_one({"_id": message_id, "manager_id": manager_id})
        if doc is None:
            return False
        if doc.get("read_at") is None:
            await self.inbox.update_one({"_id": message_id, "manager_id": manager_id}, {"$set": {"read_at": now}})
        return True
