"""MongoDB storage of the team directory. Each department or manager is one document holding
its state, its version and its outbox; a change and its event are written in one update."""

from __future__ import annotations

from typing import Any, Generic

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from crmhub.aggregate_store import Stored
from crmhub.mongo import Document
from crmhub.outbox import new_aggregate, outbox_entries, save_aggregate
from crmhub.schemas.team import Department, Manager
from motivation.domain.team import Member, Revision


class AlreadyExists(Exception):
    def __init__(self, field: str, value: str) -> None:
        super().__init__(f"{field} {value!r} is already taken")
        self.field = field
        self.value = value


class VersionConflict(Exception):
    """Someone changed the entry between our read and our write."""


class DirectoryStore(Generic[Member]):
    def __init__(
        self,
        collection: AsyncCollection[Document],
        model: type[Member],
        *,
        unique_fields: tuple[str, ...] = (),
        on_stored: Stored = lambda collection, doc_id, entries: None,
    ) -> None:
        self.collection = collection
        self.model: type[Member] = model
        self.unique_fields = unique_fields
        self._on_stored = on_stored

    async def ensure_indexes(self) -> None:
        for field in self.unique_fields:
            await self.collection.create_index([(field, ASCENDING)], unique=True, name=f"unique_{field}")

    def _to_document(self, state: Member) -> Document:
        return {"_id": state.id, **state.model_dump(mode="json")}

    def _from_document(self, doc: Document) -> tuple[Member, int]:
        return self.model.model_validate(doc), int(doc["version"])

    async def _check_unique(self, state: Member) -> None:
        for field in self.unique_fields:
            value = getattr(state, field)
            if await self.collection.find_one({field: value, "_id": {"$ne": state.id}}, {"_id": 1}) is not None:
                raise AlreadyExists(field, value)
            waiting = getattr(state, f"pending_{field}", None)  # an address waiting for confirmation is taken too
            if (
                waiting is not None
                and await self.collection.find_one({field: waiting, "_id": {"$ne": state.id}}, {"_id": 1}) is not None
            ):
                raise AlreadyExists(field, waiting)

    async def add(self, revision: Revision[Member]) -> None:
        await self._check_unique(revision.state)
        entries = outbox_entries([revision.event, *revision.also])
        try:
            await self.collection.insert_one(new_aggregate(self._to_document(revision.state), entries))
        except DuplicateKeyError:
            if await self.collection.find_one({"_id": revision.state.id}, {"_id": 1}) is not None:
                raise AlreadyExists("id", revision.state.id) from None
            await self._check_unique(revision.state)
            raise
        self._on_stored(self.collection.name, revision.state.id, entries)

    async def get(self, entry_id: str) -> tuple[Member, int] | None:
        doc = await self.collection.find_one({"_id": entry_id}, {"outbox": 0})
        return None if doc is None else self._from_document(doc)

    async def save(self, revision: Revision[Member], *, expected_version: int) -> None:
        await self._check_unique(revision.state)
        entries = outbox_entries([revision.event, *revision.also])
        try:
            stored = await save_aggregate(
                self.collection,
                revision.state.id,
                expected_version=expected_version,
                state=self._to_document(revision.state),
                events=entries,
            )
        except DuplicateKeyError:
            await self._check_unique(revision.state)
            raise
        if not stored:
            raise VersionConflict(revision.state.id)
        self._on_stored(self.collection.name, revision.state.id, entries)

    async def list(self, *, filters: dict[str, Any], limit: int, offset: int) -> tuple[list[tuple[Member, int]], int]:
        query = {k: v for k, v in filters.items() if v is not None}
        total = await self.collection.count_documents(query)
        docs = (
            await self.collection.find(query, {"outbox": 0}).sort("_id", ASCENDING).skip(offset).limit(limit).to_list()
        )
        return [self._from_document(d) for d in docs], total


def department_store(collection: AsyncCollection[Document], on_stored: Stored) -> DirectoryStore[Department]:
    return DirectoryStore(collection, Department, on_stored=on_stored)


def manager_store(collection: AsyncCollection[Document], on_stored: Stored) -> DirectoryStore[Manager]:
    return DirectoryStore(collection, Manager, unique_fields=("email",), on_stored=on_stored)
