"""MongoDB storage of the leads service.

- `leads`: one document per lead (an `AggregateStore`: state, `version`, `outbox`; ADR 2);
- `submission_claims`: a submission's key (the provider's id, an Idempotency-Key, or the
  payload's fingerprint) -> the lead it became or joined. One insert decides whether a request
  is new or a retry;
- `contact_claims`: `phone:<E.164>` / `email:<address>` -> the lead that owns that contact, so
  two submissions from one person arriving at once cannot both become leads (unique `_id`);
- `assignment_pools`: the round-robin cursor of each pool, advanced with a version check, so
  fairness survives restarts and concurrent instances.
Every lookup on the intake path is by `_id`: MongoDB-wire servers without secondary indexes
(ADR 3) answer those as fast as MongoDB does.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from crmhub.aggregate_store import AggregateStore, listing_query
from crmhub.mongo import Document
from leads.domain.lead import Lead

ACTIVE_STATUSES = ["assigned", "in_work"]
Claim = tuple[str, datetime]
"""Who holds a key, and since when."""


class LeadStore:
    def __init__(self, leads: AggregateStore[Lead], db: AsyncDatabase[Document]) -> None:
        self.leads = leads
        self.submissions: AsyncCollection[Document] = db["submission_claims"]
        self.claims: AsyncCollection[Document] = db["contact_claims"]
        self.pools: AsyncCollection[Document] = db["assignment_pools"]

    async def ensure_indexes(self) -> None:
        for keys in (
            [("manager_id", ASCENDING), ("status", ASCENDING)],
            [("source_id", ASCENDING), ("created_at", DESCENDING)],
            [("created_at", DESCENDING)],
        ):
            await self.leads.collection.create_index(keys)

    # --- queries ---------------------------------------------------------------------------------

    async def search(self, filters: dict[str, Any], *, limit: int, offset: int) -> tuple[list[Lead], int]:
        fields = ("status", "manager_id", "department_id", "source_id")
        return await self.leads.page(listing_query(filters, fields), limit=limit, offset=offset)

    async def stats_rows(self, *, start: datetime | None, end: datetime | None) -> list[Document]:
        query: dict[str, Any] = {}
        if start or end:
            query["created_at"] = {k: v for k, v in (("$gte", start), ("$lt", end)) if v is not None}
        projection = {
            "source_id": 1,
            "manager_id": 1,
            "utm": 1,
            "status": 1,
            "taken_at": 1,
            "taken_within_sla": 1,
            "sla_breaches": 1,
        }
        return await self.leads.collection.find(query, projection).to_list()

    async def open_leads_by_manager(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        async for doc in self.leads.collection.find({"status": {"$in": ACTIVE_STATUSES}}, {"manager_id": 1}):
            if doc.get("manager_id"):
                counts[doc["manager_id"]] = counts.get(doc["manager_id"], 0) + 1
        return counts

    # --- claims ------------------------------------------------------------------------------------

    async def _claim(
        self, collection: AsyncCollection[Document], key: str, lead_id: str, now: datetime
    ) -> Claim | None:
        """Insert key -> lead_id; None when this call claimed it, else (its owner, since when)."""
        try:
            await collection.insert_one({"_id": key, "lead_id": lead_id, "at": now})
        except DuplicateKeyError:
            doc = await collection.find_one({"_id": key})
            if doc is None:  # released in between
                return await self._claim(collection, key, lead_id, now)
            return str(doc["lead_id"]), doc["at"]
        return None

    async def _take_over(
        self, collection: AsyncCollection[Document], key: str, *, from_lead: str, to_lead: str, now: datetime
    ) -> bool:
        result = await collection.update_one(
            {"_id": key, "lead_id": from_lead}, {"$set": {"lead_id": to_lead, "at": now}}
        )
        return result.modified_count == 1

    async def claim_submission(self, key: str, lead_id: str, now: datetime) -> Claim | None:
        return await self._claim(self.submissions, key, lead_id, now)

    async def take_over_submission(self, key: str, *, from_lead: str, to_lead: str, now: datetime) -> bool:
        return await self._take_over(self.submissions, key, from_lead=from_lead, to_lead=to_lead, now=now)

    async def claim_contact(self, key: str, lead_id: str, now: datetime) -> Claim:
        """Claim a contact for a lead; returns the owner (this lead, or whoever held it) and since when."""
        held = await self._claim(self.claims, key, lead_id, now)
        return held if held is not None else (lead_id, now)

    async def take_over_contact(self, key: str, *, from_lead: str, to_lead: str, now: datetime) -> bool:
        return await self._take_over(self.claims, key, from_lead=from_lead, to_lead=to_lead, now=now)

    # --- assignment state -----------------------------------------------------------------------

    async def pool_cursor(self, pool_key: str) -> tuple[str | None, int]:
        doc = await self.pools.find_one({"_id": pool_key})
        if doc is None:
            try:
                await self.pools.insert_one({"_id": pool_key, "cursor": None, "version": 0})
            except DuplicateKeyError:
                return await self.pool_cursor(pool_key)
            return None, 0
        return doc.get("cursor"), int(doc["version"])

    async def advance_pool(self, pool_key: str, *, expected_version: int, cursor: str | None) -> bool:
        result = await self.pools.update_one(
            {"_id": pool_key, "version": expected_version},
            {"$set": {"cursor": cursor, "version": expected_version + 1}},
        )
        return result.modified_count == 1
