"""MongoDB storage of the leads service.

- `leads`: one document per lead: its state, `version` and `outbox` (ADR 2).
- `submission_claims`: a submission's key (the provider's id, an Idempotency-Key, or the
  payload's fingerprint) -> the lead it became or joined. One insert decides whether a request
  is new or a retry.
- `contact_claims`: `phone:<E.164>` / `email:<address>` -> the lead that owns that contact, so
  two submissions from one person arriving at once cannot both become leads (unique `_id`).
- `assignment_pools`: the round-robin cursor of each pool, advanced with a version check, so
  fairness survives restarts and concurrent instances.
Every lookup on the intake path is by `_id`: MongoDB-wire servers without secondary indexes
(ADR 3) answer those as fast as MongoDB does.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from crmhub.events import CloudEvent
from crmhub.mongo import Document
from crmhub.outbox import OUTBOX, new_aggregate, outbox_entries, save_aggregate
from leads.domain.lead import Lead

ACTIVE_STATUSES = ["assigned", "in_work"]
Stored = Callable[[str, str, list[Document]], None]


def _document(lead: Lead) -> Document:
    return {"_id": lead.id, **lead.model_dump(mode="python")}


class LeadStore:
    def __init__(self, db: AsyncDatabase[Document], *, on_stored: Stored = lambda collection, doc_id, entries: None) -> None:
        self.leads: AsyncCollection[Document] = db["leads"]
        self.submissions: AsyncCollection[Document] = db["submission_claims"]
        self.claims: AsyncCollection[Document] = db["contact_claims"]
        self.pools: AsyncCollection[Document] = db["assignment_pools"]
        self._on_stored = on_stored

    async def ensure_indexes(self) -> None:
        for keys in (
            [("status", ASCENDING), ("assign_after", ASCENDING)],
            [("status", ASCENDING), ("sla_deadline", ASCENDING)],
            [("manager_id", ASCENDING), ("status", ASCENDING)],
            [("source_id", ASCENDING), ("created_at", DESCENDING)],
            [("created_at", DESCENDING)],
        ):
            await self.leads.create_index(keys)

    # --- leads ---------------------------------------------------------------------------------

    async def get(self, lead_id: str) -> tuple[Lead, int] | None:
        doc = await self.leads.find_one({"_id": lead_id}, {OUTBOX: 0})
        return None if doc is None else (Lead.model_validate(doc), int(doc["version"]))

    async def insert(self, lead: Lead, events: list[CloudEvent]) -> bool:
        """False when a lead with this id exists already (the same submission, stored before)."""
        entries = outbox_entries(events)
        try:
            await self.leads.insert_one(new_aggregate(_document(lead), entries))
        except DuplicateKeyError:
            return False
        self._on_stored(self.leads.name, lead.id, entries)
        return True

    async def save(self, lead: Lead, *, expected_version: int, events: list[CloudEvent]) -> bool:
        state = _document(lead)
        del state["_id"]
        entries = outbox_entries(events)
        stored = await save_aggregate(self.leads, lead.id, expected_version=expected_version, state=state, events=entries)
        if stored and entries:
            self._on_stored(self.leads.name, lead.id, entries)
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

    async def open_leads_by_manager(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        async for doc in self.leads.find({"status": {"$in": ACTIVE_STATUSES}}, {"manager_id": 1}):
            if doc.get("manager_id"):
                counts[doc["manager_id"]] = counts.get(doc["manager_id"], 0) + 1
        return counts

    # --- claims ------------------------------------------------------------------------------------

    async def _claim(self, collection: AsyncCollection[Document], key: str, lead_id: str, now: datetime) -> tuple[str, datetime] | None:
        """Insert key -> lead_id; None when this call claimed it, else (its owner, since when)."""
        try:
            await collection.insert_one({"_id": key, "lead_id": lead_id, "at": now})
        except DuplicateKeyError:
            doc = await collection.find_one({"_id": key})
            if doc is None:  # released in between
                return await self._claim(collection, key, lead_id, now)
            return str(doc["lead_id"]), doc["at"]
        return None

    async def _take_over(self, collection: AsyncCollection[Document], key: str, *, from_lead: str, to_lead: str, now: datetime) -> bool:
        result = await collection.update_one({"_id": key, "lead_id": from_lead}, {"$set": {"lead_id": to_lead, "at": now}})
        return result.modified_count == 1

    async def claim_submission(self, key: str, lead_id: str, now: datetime) -> tuple[str, datetime] | None:
        return await self._claim(self.submissions, key, lead_id, now)

    async def take_over_submission(self, key: str, *, from_lead: str, to_lead: str, now: datetime) -> bool:
        return await self._take_over(self.submissions, key, from_lead=from_lead, to_lead=to_lead, now=now)

    async def claim_contact(self, key: str, lead_id: str, now: datetime) -> tuple[str, datetime]:
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
        result = await self.pools.update_one({"_id": pool_key, "version": expected_version}, {"$set": {"cursor": cursor, "version": expected_version + 1}})
        return result.modified_count == 1
