"""MongoDB storage of the telephony service.

- `calls`: one `Call` aggregate per call: the facts received (deduplicated by fact id), the
  merged record, which events were recorded, `version` and `outbox`;
- `callbacks`: one `Callback` aggregate per missed inbound call (the obligation to call back);
- `client_owners`: one `ClientOwner` per client number (`_id`): the manager of its open lead;
- `line_rotations`: one `LineRotation` per provider and line: whose turn it is to take a call;
- `call_lists_slots_2m` / `_daily_2m` / `_keys_2m`: the listing (`crmhub.listing`) of all calls by start,
  newest first, brought up to date by the outbox relay from the call events before they are sent:
  the journal, whole or for a time window, is read by `_id` only however many calls there are;
- `number_lists_slots_2m` / `_daily_2m` / `_keys_2m`: per client number, the final outbound calls to it (`to:`, kept
  by the relay like the journal) and the call-backs ever owed to it (`owed:`, written when one is
  opened): what the missed-call loop looks up on every missed call, outbound call and lead
  assignment, by `_id` instead of a scan of the calls or call-backs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
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
OUTBOUND_FINAL = {CallCompleted.event_type, CallAttempted.event_type}
OPEN_CALLBACK = ("open", "overdue")
MANY = 10_000  # more calls to one number, or call-backs owed to it, than a person could make


def calls_to(number: str) -> str:
    return f"to:{number}"


def owed_to(number: str) -> str:
    return f"owed:{number}"


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
        numbers: Listing | None = None,
    ) -> None:
        self.calls = calls
        self.lists = lists
        self.numbers = numbers
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
        """List the calls the events are about (the relay calls this before sending them): in the
        journal, and a final outbound call under the number it called."""
        records = [(e.type, CallRecord.model_validate(e.data["call"])) for e in events if e.type in LISTED]
        # a call is listed under its start as first reported; an event seen again changes nothing
        if self.lists is not None:
            await self.lists.apply([Entry(ALL, r.call_id, r.started_at) for _, r in records])
        if self.numbers is not None:
            await self.numbers.apply(
                [
                    Entry(calls_to(r.callee), r.call_id, r.started_at)
                    for kind, r in records
                    if kind in OUTBOUND_FINAL and r.direction == "outbound" and r.callee
                ]
            )

    async def build_lists(self) -> None:
        """Once, for calls and call-backs stored before the listings existed."""
        if self.lists is not None:
            found = self.calls.collection.find({"record": {"$ne": None}}, {"record.started_at": 1})
            await self.lists.build(Entry(ALL, doc["_id"], doc["record"]["started_at"]) async for doc in found)
        if self.numbers is not None:
            await self.numbers.build(self._stored_by_number())

    async def _stored_by_number(self) -> AsyncIterator[Entry]:
        query = {"final": True, "record.direction": "outbound"}
        async for doc in self.calls.collection.find(query, {"record.callee": 1, "record.started_at": 1}):
            if doc["record"].get("callee"):
                yield Entry(calls_to(doc["record"]["callee"]), doc["_id"], doc["record"]["started_at"])
        async for doc in self.callbacks.collection.find({}, {"number": 1, "missed_at": 1}):
            yield Entry(owed_to(doc["number"]), doc["_id"], doc["missed_at"])

    async def records_between(self, start: datetime | None, end: datetime | None) -> list[Document]:
        query: dict[str, Any] = {"final": True}
        if window := _window(start, end):
            query["record.started_at"] = window
        return [d["record"] async for d in self.calls.collection.find(query, {"record": 1})]

    async def outbound_calls_to(self, number: str, *, since: datetime) -> list[CallRecord]:
        """Final outbound calls to a number that started at or after `since`, oldest first."""
        if self.numbers is None:
            query = {"final": True, "record.direction": "outbound", "record.callee": number}
            found = await self.calls.find({**query, "record.started_at": {"$gte": since}})
        else:
            ids, _ = await self.numbers.page(calls_to(number), limit=MANY, offset=0, start=since)
            found = [call for call in await self.calls.get_many(ids) if call.final]
        records = [call.record for call in found if call.record is not None]
        return sorted(records, key=lambda record: record.started_at)

    async def note_callback(self, callback: Callback) -> None:
        """List a call-back under its number (the consumer that opened it calls this, again on
        a redelivery: listing it twice changes nothing)."""
        if self.numbers is not None:
            await self.numbers.apply([Entry(owed_to(callback.number), callback.id, callback.missed_at)])

    async def open_callbacks_for(self, number: str) -> list[Callback]:
        if self.numbers is None:
            return await self.callbacks.find({"number": number, "status": {"$in": list(OPEN_CALLBACK)}})
        ids, _ = await self.numbers.page(owed_to(number), limit=MANY, offset=0)
        return [c for c in await self.callbacks.get_many(ids) if c.status in OPEN_CALLBACK]

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
