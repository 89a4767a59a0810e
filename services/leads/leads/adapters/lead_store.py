"""MongoDB storage of the leads service.

- `leads`: one document per lead (an `AggregateStore`: state, `version`, `outbox`; ADR 2);
- `submission_claims`: a submission's key (the provider's id, an Idempotency-Key, or the
  payload's fingerprint) -> the lead it became or joined. One insert decides whether a request
  is new or a retry;
- `contact_claims`: `phone:<E.164>` / `email:<address>` -> the lead that owns that contact, so
  two submissions from one person arriving at once cannot both become leads (unique `_id`);
- `assignment_pools`: the round-robin cursor of each pool, advanced with a version check, so
  fairness survives restarts and concurrent instances;
- `lead_lists_slots_2m` / `_daily_2m` / `_keys_2m`: the listings (`crmhub.listing`) of all leads, each
  manager's leads and each manager's open leads (assigned or in work: what capacity counts),
  brought up to date by the outbox relay from the lead events before those are sent;
- `lead_stats_slots_2m` / `_hours_2m` / `_daily_2m` / `_monthly_2m` / `_marks_2m`: the figures
  (`crmhub.rollup`): each lead's stats row in the document of its two-minute slot and shard,
  kept by the relay like the listings, and their sums per hour, day and month, so
  `GET /v1/stats/leads` reads a few documents whatever the number of leads.
Every lookup on the intake path is by `_id`: MongoDB-wire servers without secondary indexes
(ADR 3) answer those as fast as MongoDB does; so do the listings' pages.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from crmhub.aggregate_store import AggregateStore, listing_query
from crmhub.events import CloudEvent
from crmhub.listing import Entry, Listing
from crmhub.mongo import Document, GroupCommit
from crmhub.rollup import Rollup, Row
from crmhub.schemas.leads import LeadAssigned, LeadCreated
from leads.domain.lead import Lead
from leads.domain.stats import GroupBy, LeadFigures, contribution, figures, stats_row

ACTIVE_STATUSES = ["assigned", "in_work"]
Claim = tuple[str, datetime]
"""Who holds a key, and since when."""


ALL = "all"


OPEN = "open:"
# events after which a lead's manager or status may differ: its lists are read from it again
MOVES = {"lead.assigned", "lead.taken", "lead.converted", "lead.rejected"}
# events after which a lead's figures may differ: its stats row is read from it again
COUNTED = MOVES | {"lead.created", "lead.sla_breached"}
STATS_FIELDS = dict.fromkeys(
    ("source_id", "manager_id", "utm", "status", "taken_at", "taken_within_sla", "sla_breaches"), 1
)


def manager_list(manager_id: str) -> str:
    return f"manager:{manager_id}"


def open_list(manager_id: str) -> str:
    return OPEN + manager_id


def list_key(filters: dict[str, Any]) -> str | None:
    """The listing that answers these filters by itself, if one does (else: a query)."""
    named = {name for name, value in filters.items() if value is not None and name not in ("from", "to")}
    if not named:
        return ALL
    if named == {"manager_id"}:
        return manager_list(filters["manager_id"])
    return None


class LeadStore:
    def __init__(self, leads: AggregateStore[Lead], db: AsyncDatabase[Document]) -> None:
        self.leads = leads
        self.submissions: AsyncCollection[Document] = db["submission_claims"]
        self.claims: AsyncCollection[Document] = db["contact_claims"]
        self.pools: AsyncCollection[Document] = db["assignment_pools"]
        self.lists = Listing(db, "lead_lists", shards=16, busy=frozenset({ALL}))
        self.stats = Rollup(db, "lead_stats", contribution)
        # claims of concurrent requests, written together
        self._claim_writes = {c.name: GroupCommit(c) for c in (self.submissions, self.claims)}

    async def ensure_indexes(self) -> None:
        for keys in (
            [("manager_id", ASCENDING), ("status", ASCENDING)],
            [("source_id", ASCENDING), ("created_at", DESCENDING)],
            [("department_id", ASCENDING), ("created_at", DESCENDING)],  # a head's leads
            [("created_at", DESCENDING)],
        ):
            await self.leads.collection.create_index(keys)

    # --- queries ---------------------------------------------------------------------------------

    async def search(self, filters: dict[str, Any], *, limit: int, offset: int) -> tuple[list[Lead], int]:
        key = list_key(filters)
        if key is not None:  # all leads or one manager's, in a time window or not: by _id only
            start, end = filters.get("from"), filters.get("to")
            ids, total = await self.lists.page(key, limit=limit, offset=offset, start=start, end=end)
            return await self.leads.get_many(ids), total
        fields = ("status", "manager_id", "department_id", "source_id")
        return await self.leads.page(listing_query(filters, fields), limit=limit, offset=offset)

    async def project(self, events: list[CloudEvent]) -> None:
        """Bring the listings up to date with stored lead events (the relay calls this before
        sending them): all leads from lead.created; a manager's leads and open leads from the
        lead as it is now, read once for every lead whose manager or status the events changed."""
        created = [LeadCreated.model_validate(e.data) for e in events if e.type == LeadCreated.event_type]
        entries = [Entry(ALL, c.lead.lead_id, c.created_at) for c in created]
        previous: dict[str, set[str]] = {}
        for e in events:
            if e.type in MOVES:
                moved_from = previous.setdefault(e.subject, set())
                if e.type == LeadAssigned.event_type and (before := e.data.get("previous_manager_id")):
                    moved_from.add(before)
        if previous:
            fields = {"manager_id": 1, "created_at": 1, "status": 1}
            async for doc in self.leads.collection.find({"_id": {"$in": list(previous)}}, fields):
                # the lead as it is now decides where it is listed; an event seen again changes nothing
                manager, at = doc.get("manager_id"), doc["created_at"]
                for before in previous[doc["_id"]] - {manager}:
                    entries.append(Entry(manager_list(before), doc["_id"], at, present=False))
                    entries.append(Entry(open_list(before), doc["_id"], at, present=False))
                if manager:
                    entries.append(Entry(manager_list(manager), doc["_id"], at))
                    entries.append(Entry(open_list(manager), doc["_id"], at, present=doc["status"] in ACTIVE_STATUSES))
        await self.lists.apply(entries)

    async def project_figures(self, events: list[CloudEvent]) -> None:
        """Bring the figures up to date (the relay calls this after sending the events, before
        clearing them): each changed lead's stats row, from the lead as it is now."""
        changed = list({e.subject: None for e in events if e.type in COUNTED})
        if not changed:
            return
        fields = {"created_at": 1, **STATS_FIELDS}
        found = self.leads.collection.find({"_id": {"$in": changed}}, fields)
        await self.stats.put([Row(doc["_id"], doc["created_at"], stats_row(doc)) async for doc in found])

    async def build_lists(self) -> None:
        """Once, for leads stored before listings existed: list every lead where it is now."""

        async def stored() -> AsyncIterator[Entry]:
            async for doc in self.leads.collection.find({}, {"manager_id": 1, "created_at": 1, "status": 1}):
                yield Entry(ALL, doc["_id"], doc["created_at"])
                if doc.get("manager_id"):
                    yield Entry(manager_list(doc["manager_id"]), doc["_id"], doc["created_at"])
                    if doc.get("status") in ACTIVE_STATUSES:
                        yield Entry(open_list(doc["manager_id"]), doc["_id"], doc["created_at"])

        await self.lists.build(stored())

        async def rows() -> AsyncIterator[Row]:
            async for doc in self.leads.collection.find({}, {"created_at": 1, **STATS_FIELDS}):
                yield Row(doc["_id"], doc["created_at"], stats_row(doc))

        await self.stats.build(rows())
        await self.stats.settle()  # also what a crash left half summed

    async def figures(self, group_by: GroupBy, *, start: datetime | None, end: datetime | None) -> list[LeadFigures]:
        """The figures of leads created in [start, end), from the pre-summed months and days
        (what the relay has written is summed first: usually nothing, the background keeps up)."""
        await self.stats.settle()
        return figures((await self.stats.sums(start=start, end=end)).items(), group_by)

    async def open_leads_by_manager(self) -> dict[str, int]:
        """Each manager's open leads (assigned or in work), from their listings' heads alone."""
        totals = await self.lists.totals(OPEN)
        return {key.removeprefix(OPEN): n for key, n in totals.items() if n}

    # --- claims ------------------------------------------------------------------------------------

    async def _claim(
        self, collection: AsyncCollection[Document], key: str, lead_id: str, now: datetime
    ) -> Claim | None:
        """Insert key -> lead_id; None when this call claimed it, else (its owner, since when)."""
        if not await self._claim_writes[collection.name].insert({"_id": key, "lead_id": lead_id, "at": now}):
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
