"""MongoDB storage of the leads service.

- `leads`: one document per lead: its state, `version` and `outbox` (ADR 2).
- `contact_claims`: `phone:<E.164>` / `email:<address>` -> the lead that owns that contact, so
  two submissions from one person arriving at once cannot both become leads (unique `_id`).
- `assignment_pools`: the round-robin cursor of each pool, advanced with a version check, so
  fairness survives restarts and concurrent instances.
- `manager_loads`: open leads per manager (capacity, least-loaded), re-counted periodically.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from crmhub.events import CloudEvent
from crmhub.mongo import Document
from crmhub.outbox import OUTBOX, new_aggregate, save_aggregate
from leads.domain.lead import Lead

ACTIVE_STATUSES = ["assigned", "in_work"]


def _document(lead: Lead) -> Document:
    return {"_id": lead.id, **lead.model_dump(mode="python")}


class LeadStore:
    def __init__(self, db: AsyncDatabase[Document], *, on_stored: Callable[[], None] = lambda: None) -> None:
        self.leads: AsyncCollection[Document] = db["leads"]
        self.claims: AsyncCollection[Document] = db["contact_claims"]
        self.pools: AsyncCollection[Document] = db["assignment_pools"]
        self.loads: AsyncCollection[Document] = db["manager_loads"]
        self._on_stored = on_stored

    async def ensure_indexes(self) -> None:
        for keys in (
            [("status", ASCENDING), ("assign_after", ASCENDING)],
            [("status", ASCENDING), ("sla_deadline", ASCENDING)],
            [("manager_id", ASCENDING), ("status", ASCENDING)],
            [("source_id", ASCENDING), ("created_at", DESCENDING)],
            [("created_at", DESCENDING)],
            [("touches.touch_id", ASCENDING)],
        ):
            await self.leads.create_index(keys)

    # --- leads ---------------------------------------------------------------------------------

    async def get(self, lead_id: str) -> tuple[Lead, int] | None:
        doc = await self.leads.find_one({"_id": lead_id}, {OUTBOX: 0})
        return None if doc is None else (Lead.model_validate(doc), int(doc["version"]))

    async def find_submission(self, key: str) -> Lead | None:
        """The lead a submission became, or was merged into as a touch (idempotent retries)."""
        doc = await self.leads.find_one({"$or": [{"_id": key}, {"touches.touch_id": key}]}, {OUTBOX: 0})
        return None if doc is None else Lead.model_validate(doc)

    async def insert(self, lead: Lead, events: list[CloudEvent]) -> bool:
        """False when a lead with this id exists already (the same submission, stored before)."""
        try:
            await self.leads.insert_one(new_aggregate(_document(lead), events))
        except DuplicateKeyError:
            return False
        self._on_stored()
        return True

    async def save(self, lead: Lead, *, expected_version: int, events: list[CloudEvent]) -> bool:
        state = _document(lead)
        del state["_id"]
        stored = await save_aggregate(self.leads, lead.id, expected_version=expected_version, state=state, events=events)
        if stored:
            self._on_stored()
        return stored

    async def due_for_assignment(self, now: datetime, limit: int = 100) -> list[tuple[Lead, int]]:
        cursor = self.leads.find({"status": "new", "assign_after": {"$lte": now}}, {OUTBOX: 0}).limit(limit)
        return [(Lead.model_validate(d), int(d["version"])) async for d in cursor]

    async def due_for_breach(self, now: datetime, limit: int = 100) -> list[tuple[Lead, int]]:
        cursor = self.leads.find({"status": "assigned", "sla_deadline": {"$lte": now}}, {OUTBOX: 0}).limit(limit)
        return [(Lead.model_validate(d), int(d["version"])) async for d in cursor]

    async def search(self, filters: dict[str, Any], *, limit: int, offset: int) -> tuple[list[Lead], int]:
        query: dict[str, Any] = {}
        for field in ("status", "manager_id", "source_id"):
            if filters.get(field) is not None:
                query[field] = filters[field]
        created: dict[str, datetime] = {}
        if filters.get("from") is not None:
            created["$gte"] = filters["from"]
        if filters.get("to") is not None:
            created["$lt"] = filters["to"]
        if created:
            query["created_at"] = created
        total = await self.leads.count_documents(query)
        docs = await self.leads.find(query, {OUTBOX: 0}).sort([("created_at", DESCENDING), ("_id", ASCENDING)]).skip(offset).limit(limit).to_list()
        return [Lead.model_validate(d) for d in docs], total

    async def stats_rows(self, *, start: datetime | None, end: datetime | None) -> list[Document]:
        query: dict[str, Any] = {}
        if start or end:
            query["created_at"] = {k: v for k, v in (("$gte", start), ("$lt", end)) if v is not None}
        projection = {"source_id": 1, "manager_id": 1, "utm": 1, "status": 1, "taken_at": 1, "taken_within_sla": 1, "sla_breaches": 1}
        return await self.leads.find(query, projection).to_list()

    # --- contact claims --------------------------------------------------------------------------

    async def claim(self, key: str, lead_id: str, now: datetime) -> tuple[str, datetime]:
        """Claim a contact for a lead; returns the owner (this lead, or whoever held it) and since when."""
        try:
            await self.claims.insert_one({"_id": key, "lead_id": lead_id, "at": now})
        except DuplicateKeyError:
            doc = await self.claims.find_one({"_id": key})
            if doc is not None:
                return str(doc["lead_id"]), doc["at"]
            return await self.claim(key, lead_id, now)
        return lead_id, now

    async def take_over_claim(self, key: str, *, from_lead: str, to_lead: str, now: datetime) -> bool:
        result = await self.claims.update_one({"_id": key, "lead_id": from_lead}, {"$set": {"lead_id": to_lead, "at": now}})
        return result.modified_count == 1

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
        result = await self.pools.update_one({"_id": pool_key, "version": expected_version}, {"$set": {"cursor": cursor, "version": expected_version + 1}})
        return result.modified_count == 1

    async def open_loads(self, manager_ids: Iterable[str]) -> dict[str, int]:
        ids = list(manager_ids)
        return {d["_id"]: max(0, int(d.get("open", 0))) async for d in self.loads.find({"_id": {"$in": ids}})}

    async def change_load(self, manager_id: str, delta: int) -> None:
        await self.loads.update_one({"_id": manager_id}, {"$inc": {"open": delta}}, upsert=True)

    async def recount_loads(self) -> None:
        """Counters are updated next to the lead, not with it; a periodic recount repairs drift."""
        counts: dict[str, int] = {}
        async for doc in self.leads.find({"status": {"$in": ACTIVE_STATUSES}}, {"manager_id": 1}):
            if doc.get("manager_id"):
                counts[doc["manager_id"]] = counts.get(doc["manager_id"], 0) + 1
        async for doc in self.loads.find({}, {"_id": 1}):
            counts.setdefault(doc["_id"], 0)
        for manager_id, count in counts.items():
            await self.loads.update_one({"_id": manager_id}, {"$set": {"open": count}}, upsert=True)
