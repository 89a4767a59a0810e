"""MongoDB storage of the notifier.

- `deliveries`: one `Delivery` aggregate per (event, recipient, channel): `_id` is exactly that
  triple, so a redelivered event, a restarted consumer or a rebalance can never create a second
  one. It holds the rendered message, its schedule and attempts, `version` and `outbox`
  (notification.delivered / notification.failed); its send timer lives in `timers`;
- `inbox`: the in-app messages a mobile client or UI reads;
- `inbox_lists_slots_2m` / `_daily_2m` / `_keys_2m`: each manager's messages and unread messages, newest
  first (`crmhub.listing`), so an inbox page is read by `_id` only however many messages exist;
- `recent_sends`: per recipient and channel (`_id`), the times of the last messages sent one by
  one: what the burst limit counts for every notification, read by `_id`;
- `delivery_lists_slots_2m` / `_daily_2m` / `_keys_2m`: per recipient and channel, the messages held
  for a digest (the digest takes them all): both used to be a scan of every delivery.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from crmhub.aggregate_store import AggregateStore
from crmhub.listing import Entry, Listing, by_ids
from crmhub.mongo import Document, insert_once
from crmhub.outbox import OUTBOX
from notifier.domain.delivery import Delivery

HELD = "held:"
HELD_AT_MOST = 5000
INBOX = "inbox:"
UNREAD = "unread:"


def _who(recipient: str, channel: str) -> str:
    return f"{recipient}|{channel}"


def _listed(message: Document) -> list[Entry]:
    """Where an inbox message belongs: its manager's inbox, and unread ones while not read."""
    manager, at = message["manager_id"], message["created_at"]
    unread = message.get("read_at") is None
    return [Entry(INBOX + manager, message["_id"], at), Entry(UNREAD + manager, message["_id"], at, present=unread)]


class DeliveryStore:
    def __init__(
        self, deliveries: AggregateStore[Delivery], db: AsyncDatabase[Document], *, burst_memory: int = 100
    ) -> None:
        self.deliveries = deliveries
        # per recipient and channel, the last messages sent one by one (what the burst limit counts)
        self.recent: AsyncCollection[Document] = db["recent_sends"]
        self.burst_memory = burst_memory
        self.inbox: AsyncCollection[Document] = db["inbox"]
        self.inbox_lists = Listing(db, "inbox_lists")
        self.delivery_lists = Listing(db, "delivery_lists")

    async def ensure_indexes(self) -> None:
        await self.deliveries.collection.create_index(
            [("recipient", ASCENDING), ("channel", ASCENDING), ("created_at", DESCENDING)]
        )
        await self.inbox.create_index([("manager_id", ASCENDING), ("created_at", DESCENDING)])

    async def recent_count(self, recipient: str, channel: str, since: datetime) -> int:
        """How many messages went (or are going) to the recipient on the channel one by one since
        `since` (up to the last `burst_memory`): one read by `_id`, not a scan of deliveries."""
        doc = await self.recent.find_one({"_id": _who(recipient, channel)})
        return sum(1 for sent in (doc or {}).get("sent", []) if sent["at"] >= since)

    async def list_queued(self, delivery: Delivery) -> None:
        """Note a delivery about to be stored: sent one by one (what `recent_count` counts) or
        held for a digest (what `held_for` gathers). Noted first, so a crash before it is stored
        leaves only a note that the redelivered event's delivery, under the same id, fills."""
        who = _who(delivery.recipient, delivery.channel)
        if delivery.digest:
            await self.delivery_lists.apply([Entry(HELD + who, delivery.id, delivery.created_at)])
            return
        sent = {"$each": [{"id": delivery.id, "at": delivery.created_at}], "$slice": -self.burst_memory}
        guard, push = {"_id": who, "sent.id": {"$ne": delivery.id}}, {"$push": {"sent": sent}}
        try:
            await self.recent.update_one(guard, push, upsert=True)
        except DuplicateKeyError:  # the document exists (noted before, or made a moment ago by another)
            await self.recent.update_one(guard, push)

    async def held_for(self, recipient: str, channel: str) -> list[Delivery]:
        """Everything held back for one recipient and channel, oldest first: a digest takes it all
        along. Messages a digest sender claimed are included (`sending`): while its lease runs they
        stop another sender, and once it has run out (the sender died) they go in the next digest.
        Read from the recipient's listing; what has gone out since is taken off it here."""
        key = HELD + _who(recipient, channel)
        ids, _ = await self.delivery_lists.page(key, limit=HELD_AT_MOST, offset=0)
        found = await self.deliveries.get_many(ids)
        held = [d for d in found if d.digest and d.status in ("pending", "sending")]
        kept = {d.id for d in held}
        gone = [Entry(key, d.id, d.created_at, present=False) for d in found if d.id not in kept]
        await self.delivery_lists.apply(gone)
        return sorted(held, key=lambda d: d.created_at)

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
        message = {
            "_id": notification_id,
            "manager_id": manager_id,
            "subject": subject,
            "text": text,
            "created_at": now,
            "read_at": None,
        }
        if not await insert_once(self.inbox, message):  # put there before (a retry): list it as it is
            message = await self.inbox.find_one({"_id": notification_id}) or message
        await self.inbox_lists.apply(_listed(message))

    async def inbox_of(
        self, manager_id: str, *, unread_only: bool, limit: int, offset: int
    ) -> tuple[list[Document], int]:
        key = (UNREAD if unread_only else INBOX) + manager_id
        ids, total = await self.inbox_lists.page(key, limit=limit, offset=offset)
        docs = await self.inbox.find({"_id": {"$in": ids}}).to_list()
        return by_ids(docs, ids), total

    async def mark_read(self, manager_id: str, message_id: str, now: datetime) -> bool:
        doc = await self.inbox.find_one({"_id": message_id, "manager_id": manager_id})
        if doc is None:
            return False
        if doc.get("read_at") is None:
            await self.inbox.update_one({"_id": message_id, "manager_id": manager_id}, {"$set": {"read_at": now}})
            doc["read_at"] = now
        await self.inbox_lists.apply(_listed(doc))  # also when read before: a crash may have come between
        return True

    async def build_lists(self) -> None:
        """Once, for messages and held deliveries stored before the listings existed."""

        async def messages() -> AsyncIterator[Entry]:
            async for doc in self.inbox.find({}, {"manager_id": 1, "created_at": 1, "read_at": 1}):
                for entry in _listed(doc):
                    yield entry

        async def held() -> AsyncIterator[Entry]:
            query = {"status": {"$in": ["pending", "sending"]}, "digest": True}
            async for d in self.deliveries.collection.find(query, {"recipient": 1, "channel": 1, "created_at": 1}):
                yield Entry(HELD + _who(d["recipient"], d["channel"]), d["_id"], d["created_at"])

        await self.inbox_lists.build(messages())
        await self.delivery_lists.build(held())
