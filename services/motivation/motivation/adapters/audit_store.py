"""The audit log: every `audit.recorded` event from crm.audit, stored once under its event id and
never changed (there is no update or delete here)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from crmhub.events import CloudEvent
from crmhub.mongo import Document, insert_once, matching
from crmhub.schemas.audit import AuditRecorded


class AuditLog:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.records: AsyncCollection[Document] = db["audit"]

    async def ensure_indexes(self) -> None:
        await self.records.create_index([("at", DESCENDING)])
        await self.records.create_index([("department_id", ASCENDING), ("at", DESCENDING)])  # a head's log

    async def append(self, event: CloudEvent, record: AuditRecorded) -> bool:
        return await insert_once(
            self.records, {"_id": event.id, "source": event.source, **record.model_dump(mode="python")}
        )

    async def search(
        self, filters: dict[str, Any], *, start: datetime | None, end: datetime | None, limit: int, offset: int
    ) -> tuple[list[Document], int]:
        query: dict[str, Any] = {k: matching(v) for k, v in filters.items() if v is not None}
        window = {k: v for k, v in (("$gte", start), ("$lt", end)) if v is not None}
        if window:
            query["at"] = window
        total = await self.records.count_documents(query)
        docs = (
            await self.records.find(query)
            .sort([("at", DESCENDING), ("_id", DESCENDING)])
            .skip(offset)
            .limit(limit)
            .to_list()
        )
        return docs, total
