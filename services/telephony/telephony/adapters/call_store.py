"""MongoDB storage of the telephony service.

- `calls`: one `Call` aggregate per call: the facts received (deduplicated by fact id), the
  merged record, which events were recorded, `version` and `outbox`;
- `callbacks`: one `Callback` aggregate per missed inbound call (the obligation to call back);
- `client_owners`: one `ClientOwner` per client number (`_id`): the manager of its open lead;
- `line_rotations`: one `LineRotation` per provider and line: whose turn it is to take a call;
- `call_lists_days` / `call_lists_heads`: the listing (`crmhub.listing`) of all calls by start,
  newest first, brought up to date by the outbox relay from the call events before they are sent:
  the journal, whole or for a time window, is read by `_id` only however many calls there are.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING

from crmhub.aggregate_store import AggregateStore
from crmhub.events import CloudEvent
from crmhub.listing import Entry, Listing, by_ids
from crmhub.mongo import Document
from crmhub.outbox import OUTBOX
from crmhub.schemas.calls import CallAttempted, CallCompleted, CallMissed, CallRecord, CallStarted
from telephony.domain.call import Call
from telephony.domain.callbacks import Callback
from telephony.domain.owners import ClientOwner
from telephony.domain.routing import LineRotation

ALL = "all"
LISTED = {CallStarted.event_type, CallCompleted.event_type, CallAttempted.event_type, CallMissed.event_type}


def _window(start: datetime | None, end: datetime | None) -> dict[str, datetime]:
    return {k: v for k, v in (("$gte", start), ("$lt", end)) if v is not None}


class CallStore:
    def __init__(
        self,
        calls: AggregateStore[Call],
        callbacks: AggregateStore[Callback],
        owners: AggregateStore[ClientOwner],
        rotations: AggregateStore[LineRotation],
        lists: Listing | None = None,
    ) -> None:
        self.calls = calls
        self.lists = lists
        self.callbacks = callbacks
        self.owners = owners
        self.rotations = rotations

    async def ensure_indexes(self) -> None:
        await self.calls.collection.create_index([("record.started_at", DESCENDING)])
        await self.calls.collection.create_index([("record.manager_id", ASCENDING)])
        await self.callbacks.collection.create_index([("number", ASCENDING), ("status", ASCENDING)])

    async def search(self, filters: dict[str, Any], *, limit: int, offset: int) -> tuple[list[Document], int]:
        named = [name for name, value in filters.items() if value is not None and name not in ("from", "to")]
        if not named and self.lists is not None:  # the journal, or a window of it: by _id only
            start, end = filters.get("from"), filters.get("to")
            ids, total = await self.lists.page(ALL, limit=limit, offset=offset, start=start, end=end)
            docs = await self.calls.collection.find({"_id": {"$in": ids}}, {"record": 1}).to_list()
            return [d["record"] for d in by_ids(docs, ids) if d.get("record")], total
        query: dict[str, Any] = {}
        if filters.get("number"):
            query["$or"] = [{"record.caller": filters["number"]}, {"record.callee": filters["number"]}]
        for name in ("manager_id", "line", "outcome", "direction"):
            if filters.get(name) is not None:
                query[f"record.{name}"] = filters[name]
        if filters.get("manager_ids") is not None:
            query["record.manager_id"] = {"$in": filters["manager_ids"]}
        started = _window(filters.get("from"), filters.get("to"))
        if started:
            query["record.started_at"] = started
        collection = self.calls.collection
        total = await collection.count_documents(query)
        cursor = (
            collection.find(query, {"record": 1})
            .sort([("record.started_at", DESCENDING), ("_id", ASCENDING)])
            .skip(offset)
            .limit(limit)
        )
        return [d["record"] for d in await cursor.to_list()], total

    async def project(self, events: list[CloudEvent]) -> None:
        """List the calls the events are about (the relay calls this before sending them)."""
        if self.lists is None:
            return
        records = [CallRecord.model_validate(e.data["call"]) for e in events if e.type in LISTED]
        # a call is listed under its start as first reported; an event seen again changes nothing
        await self.lists.apply([Entry(ALL, r.call_id, r.started_at) for r in records])

    async def build_lists(self) -> None:
        """Once, for calls stored before the listing existed."""
        if self.lists is None:
            return
        found = self.calls.collection.find({"record": {"$ne": None}}, {"record.started_at": 1})
        await self.lists.build(Entry(ALL, doc["_id"], doc["record"]["started_at"]) async for doc in found)

    async def records_between(self, start: datetime | None, end: datetime | None) -> list[Document]:
        query: dict[str, Any] = {"final": True}
        if window := _window(start, end):
            query["record.started_at"] = window
        return [d["record"] async for d in self.calls.collection.find(query, {"record": 1})]

    async def outbound_calls_to(self, number: str, *, since: datetime) -> list[CallRecord]:
        """Final outbound calls to a number that started at or after `since`, oldest first."""
        found = await self.calls.find(
            {
                "final": True,
                "record.direction": "outbound",
                "record.callee": number,
                "record.started_at": {"$gte": since},
            }
        )
        records = [call.record for call in found if call.record is not None]
        return sorted(records, key=lambda record: record.started_at)

    async def open_callbacks_for(self, number: str) -> list[Callback]:
        return await self.callbacks.find({"number": number, "status": {"$in": ["open", "overdue"]}})

    async def callbacks_between(self, start: datetime | None, end: datetime | None) -> list[Document]:
        query: dict[str, Any] = {}
        if window := _window(start, end):
            query["missed_at"] = window
        return await self.callbacks.collection.find(query, {OUTBOX: 0}).to_list()

    async def list_callbacks(self, filters: dict[str, Any], *, limit: int, offset: int) -> tuple[list[Callback], int]:
        query: dict[str, Any] = {"status": filters["status"]} if filters.get("status") else {}
        if filters.get("manager_id") is not None:
            query["manager_id"] = filters["manager_id"]
        if filters.get("manager_ids") is not None:
            query["manager_id"] = {"$in": filters["manager_ids"]}
        total = await self.callbacks.collection.count_documents(query)
        docs = (
            await self.callbacks.collection.find(query, {OUTBOX: 0})
            .sort([("missed_at", DESCENDING), ("_id", ASCENDING)])
            .skip(offset)
            .limit(limit)
            .to_list()
        )
        return [self.callbacks.from_document(d) for d in docs], total
