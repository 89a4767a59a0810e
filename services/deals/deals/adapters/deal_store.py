"""MongoDB storage of the deals service.

- `deals`: one document per deal (an `AggregateStore`: state with its tasks, `version`, `outbox`;
  ADR 2). A deal made from a lead has an id derived from the lead's, so a redelivered
  `lead.converted` finds it instead of making a second one;
- `client_tasks`: tasks about a client that belong to no deal, one document per client;
- `deal_contacts`: `phone:<E.164>` -> the client's latest deal, so a call from that number is
  linked to it by one lookup by `_id` (the embedded MongoDB-wire server has no secondary
  indexes, ADR 3; MongoDB in compose gets the indexes below for the listings).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from crmhub.aggregate_store import AggregateStore, listing_query
from crmhub.mongo import Document
from crmhub.outbox import OUTBOX
from deals.domain.deal import Deal
from deals.domain.tasks import ClientTasks, TaskHolder

CLIENT_PREFIX = "client-"


class DealStore:
    def __init__(
        self, deals: AggregateStore[Deal], clients: AggregateStore[ClientTasks], db: AsyncDatabase[Document]
    ) -> None:
        self.deals = deals
        self.clients = clients
        self.contacts: AsyncCollection[Document] = db["deal_contacts"]

    async def ensure_indexes(self) -> None:
        for keys in (
            [("manager_id", ASCENDING), ("stage", ASCENDING)],
            [("department_id", ASCENDING), ("created_at", DESCENDING)],
            [("pipeline_id", ASCENDING), ("stage", ASCENDING)],
            [("created_at", DESCENDING)],
            [("task_managers", ASCENDING)],
        ):
            await self.deals.collection.create_index(keys)
        await self.clients.collection.create_index([("task_managers", ASCENDING)])

    def holders(self, holder_id: str) -> AggregateStore[Any]:
        """The store of the aggregate that holds a task (a deal, or a client's task list)."""
        return self.clients if holder_id.startswith(CLIENT_PREFIX) else self.deals

    # --- the client's number -> their latest deal ----------------------------------------------------

    async def remember_phone(self, phone: str, deal_id: str, at: datetime) -> None:
        await self.contacts.update_one({"_id": f"phone:{phone}"}, {"$set": {"deal_id": deal_id, "at": at}}, upsert=True)

    async def deal_for_phone(self, phone: str) -> str | None:
        doc = await self.contacts.find_one({"_id": f"phone:{phone}"})
        return None if doc is None else str(doc["deal_id"])

    # --- listings ------------------------------------------------------------------------------------

    async def search(self, filters: dict[str, Any], *, limit: int, offset: int) -> tuple[list[Deal], int]:
        fields = ("manager_id", "department_id", "stage", "pipeline_id", "outcome")
        return await self.deals.page(listing_query(filters, fields), limit=limit, offset=offset)

    async def holders_with_open_tasks(
        self, manager_id: str | None, departments: frozenset[str] | None
    ) -> list[TaskHolder]:
        """Deals and client task lists with open tasks (of one manager, or of anyone; with
        `departments`, only those with a task of one of them)."""
        found: list[TaskHolder] = []
        for store in (self.deals, self.clients):
            query: dict[str, Any] = (
                {"task_managers": manager_id} if manager_id else {"task_managers": {"$exists": True, "$ne": []}}
            )
            async for doc in store.collection.find(query, {OUTBOX: 0}):
                found.append(store.from_document(doc))
        if departments is not None:
            return [h for h in found if any(t.department_id in departments for t in h.tasks)]
        return found

    async def holders_with_tasks_of(self, manager_id: str | None) -> list[TaskHolder]:
        """Every holder that has (or had) tasks, for listings of closed tasks."""
        found: list[TaskHolder] = []
        for store in (self.deals, self.clients):
            query: dict[str, Any] = {"tasks.manager_id": manager_id} if manager_id else {"task_seq": {"$gt": 0}}
            async for doc in store.collection.find(query, {OUTBOX: 0}):
                found.append(store.from_document(doc))
        return found

    async def stats_rows(
        self, *, pipeline_id: str | None, start: datetime | None, end: datetime | None
    ) -> list[Document]:
        query: dict[str, Any] = {}
        if pipeline_id:
            query["pipeline_id"] = pipeline_id
        created = {k: v for k, v in (("$gte", start), ("$lt", end)) if v is not None}
        if created:
            query["created_at"] = created
        projection = {"pipeline_id": 1, "stage": 1, "outcome": 1, "history": 1, "lost_reason": 1, "amount": 1}
        return await self.deals.collection.find(query, projection).to_list()
