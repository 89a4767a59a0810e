"""MongoDB storage of the accounting exchange (docs/documents.md):

- `onec_orders`: the deals 1C is to take (`_id` = deal id): queued when a deal reaches the
  invoice stage, marked exported when 1C confirms (`mode=success`); a small collection of the
  orders in flight, read whole;
- `onec_sessions`: 1C's exchange sessions (the cookie `checkauth` gives), with the orders the
  last `query` gave, which `success` marks;
- `accounting_parked`: payments for orders the hub does not know, kept for a person (never lost).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from crmhub.mongo import Document, insert_once


class AccountingStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.orders = db["onec_orders"]
        self.sessions = db["onec_sessions"]
        self.parked = db["accounting_parked"]

    async def queue(self, deal_id: str, at: datetime) -> bool:
        return await insert_once(self.orders, {"_id": deal_id, "exported": False, "queued_at": at})

    async def waiting(self, limit: int) -> list[str]:
        found = await self.orders.find({"exported": False}, {"_id": 1}).to_list()
        return sorted(str(d["_id"]) for d in found)[:limit]

    async def exported(self, deal_ids: Iterable[str], at: datetime) -> int:
        result = await self.orders.update_many(
            {"_id": {"$in": list(deal_ids)}, "exported": False}, {"$set": {"exported": True, "exported_at": at}}
        )
        return result.modified_count

    async def open_session(self, token: str, expires_at: datetime) -> None:
        await self.sessions.insert_one({"_id": token, "expires_at": expires_at, "last_query": []})

    async def session(self, token: str, now: datetime) -> Document | None:
        found = await self.sessions.find_one({"_id": token})
        if found is None or found["expires_at"].replace(tzinfo=now.tzinfo) < now:
            return None
        return found

    async def remember_query(self, token: str, deal_ids: list[str]) -> None:
        await self.sessions.update_one({"_id": token}, {"$set": {"last_query": deal_ids}})

    async def park(self, key: str, record: dict[str, Any]) -> bool:
        return await insert_once(self.parked, {"_id": key, **record})

    async def parked_payments(self) -> list[Document]:
        return await self.parked.find({}).sort("received_at", -1).to_list(500)
