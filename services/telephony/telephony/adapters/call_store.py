"""MongoDB storage of the telephony service.

- `calls`: one document per call: the facts received (deduplicated by fact id), the merged
  record, which events were published, `version` and `outbox`.
- `callbacks`: one document per missed inbound call (the obligation to call back), with its
  own `version` and `outbox`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from crmhub.events import CloudEvent
from crmhub.mongo import Document
from crmhub.outbox import OUTBOX, new_aggregate, outbox_entries, save_aggregate
from telephony.domain.call import CallFact
from telephony.domain.callbacks import Callback

Stored = Callable[[str, str, list[Document]], None]


def fact_document(fact: CallFact) -> Document:
    return {"fact_id": fact.fact_id, **asdict(fact)}


def fact_from(doc: Document) -> CallFact:
    fields = {k: v for k, v in doc.items() if k != "fact_id"}
    return CallFact(**fields)


class CallStore:
    def __init__(self, db: AsyncDatabase[Document], *, on_stored: Stored = lambda collection, doc_id, entries: None) -> None:
        self.calls: AsyncCollection[Document] = db["calls"]
        self.callbacks: AsyncCollection[Document] = db["callbacks"]
        self._on_stored = on_stored

    async def ensure_indexes(self) -> None:
        await self.calls.create_index([("record.started_at", DESCENDING)])
        await self.calls.create_index([("record.manager_id", ASCENDING)])
        await self.callbacks.create_index([("number", ASCENDING), ("status", ASCENDING)])
        await self.callbacks.create_index([("status", ASCENDING), ("deadline", ASCENDING)])

    async def _write(self, collection: AsyncCollection[Document], doc_id: str, state: Document, events: list[CloudEvent], version: int | None) -> bool:
        entries = outbox_entries(events)
        if version is None:
            try:
                await collection.insert_one(new_aggregate({"_id": doc_id, **state}, entries))
            except DuplicateKeyError:
                return False
        elif not await save_aggregate(collection, doc_id, expected_version=version, state=state, events=entries):
            return False
        if entries:
            self._on_stored(collection.name, doc_id, entries)
        return True

    # --- calls -----------------------------------------------------------------------------------

    async def get_call(self, call_id: str) -> tuple[Document, int] | None:
        doc = await self.calls.find_one({"_id": call_id}, {OUTBOX: 0})
        return None if doc is None else (doc, int(doc["version"]))

    async def save_call(self, call_id: str, state: Document, events: list[CloudEvent], *, version: int | None) -> bool:
        return await self._write(self.calls, call_id, state, events, version)

    async def search(self, filters: dict[str, Any], *, limit: int, offset: int) -> tuple[list[Document], int]:
        query: dict[str, Any] = {}
        if filters.get("number"):
            query["$or"] = [{"record.caller": filters["number"]}, {"record.callee": filters["number"]}]
        for name in ("manager_id", "line", "outcome", "direction"):
            if filters.get(name) is not None:
                query[f"record.{name}"] = filters[name]
        started = {k: v for k, v in (("$gte", filters.get("from")), ("$lt", filters.get("to"))) if v is not None}
        if started:
            query["record.started_at"] = started
        total = await self.calls.count_documents(query)
        docs = (
            await self.calls.find(query, {OUTBOX: 0, "facts": 0})
            .sort([("record.started_at", DESCENDING), ("_id", ASCENDING)])
            .skip(offset)
            .limit(limit)
            .to_list()
        )
        return docs, total

    async def unpublished_final(self, ended_before: datetime, limit: int = 100) -> list[tuple[Document, int]]:
        cursor = self.calls.find({"final": True, "published.final": False, "record.ended_at": {"$lte": ended_before}}, {OUTBOX: 0}).limit(limit)
        return [(d, int(d["version"])) async for d in cursor]

    async def records_between(self, start: datetime | None, end: datetime | None) -> list[Document]:
        query: dict[str, Any] = {"final": True}
        window = {k: v for k, v in (("$gte", start), ("$lt", end)) if v is not None}
        if window:
            query["record.started_at"] = window
        return [d["record"] async for d in self.calls.find(query, {"record": 1})]

    # --- callbacks ----------------------------------------------------------------------------

    async def get_callback(self, missed_call_id: str) -> tuple[Callback, int, Document] | None:
        doc = await self.callbacks.find_one({"_id": missed_call_id}, {OUTBOX: 0})
        if doc is None:
            return None
        return _callback(doc), int(doc["version"]), doc

    async def save_callback(self, callback: Callback, events: list[CloudEvent], *, version: int | None, extra: Document | None = None) -> bool:
        state = {**asdict(callback), **(extra or {})}
        return await self._write(self.callbacks, callback.missed_call_id, state, events, version)

    async def open_callbacks_for(self, number: str) -> list[tuple[Callback, int, Document]]:
        cursor = self.callbacks.find({"number": number, "status": {"$in": ["open", "overdue"]}}, {OUTBOX: 0})
        return [(_callback(d), int(d["version"]), d) async for d in cursor]

    async def overdue_callbacks(self, now: datetime, limit: int = 100) -> list[tuple[Callback, int, Document]]:
        cursor = self.callbacks.find({"status": "open", "deadline": {"$lte": now}}, {OUTBOX: 0}).limit(limit)
        return [(_callback(d), int(d["version"]), d) async for d in cursor]

    async def callbacks_between(self, start: datetime | None, end: datetime | None) -> list[Document]:
        query: dict[str, Any] = {}
        window = {k: v for k, v in (("$gte", start), ("$lt", end)) if v is not None}
        if window:
            query["missed_at"] = window
        return await self.callbacks.find(query, {OUTBOX: 0}).to_list()

    async def list_callbacks(self, status: str | None, *, limit: int, offset: int) -> tuple[list[Document], int]:
        query = {"status": status} if status else {}
        total = await self.callbacks.count_documents(query)
        docs = await self.callbacks.find(query, {OUTBOX: 0}).sort([("missed_at", DESCENDING)]).skip(offset).limit(limit).to_list()
        return docs, total


CALLBACK_FIELDS = set(Callback.__dataclass_fields__)


def _callback(doc: Document) -> Callback:
    return Callback(**{k: v for k, v in doc.items() if k in CALLBACK_FIELDS})
