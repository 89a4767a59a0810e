"""The one store of the hub's aggregates: load, change and save with a version guard, the
recorded events into the document's outbox (ADR 2) and the recorded timer requests into the
service's timers (`crmhub.timers`), retrying on a concurrent change."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from decimal import Decimal
from typing import Any, Generic, TypeVar

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection

from crmhub.aggregate import Aggregate, Cancel, ConcurrentChange, NotFound, Schedule, TimerChange
from crmhub.listing import by_ids
from crmhub.mongo import Document, GroupCommit, matching
from crmhub.outbox import OUTBOX, new_aggregate, outbox_entries, save_aggregate
from crmhub.timers import TimerStore

CONFLICT_RETRIES = 8

Stored = Callable[[str, Any, list[Document]], None]
"""Told after events were written into a document's outbox: (collection, document id, entries)."""

A = TypeVar("A", bound=Aggregate)


def storable(value: Any) -> Any:
    """BSON has no Python Decimal: money is stored as its exact decimal string (read back as Decimal)."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {k: storable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [storable(v) for v in value]
    return value


def _schedules(changes: Iterable[TimerChange]) -> list[TimerChange]:
    return [c for c in changes if isinstance(c, Schedule)]


def _cancels(changes: Iterable[TimerChange]) -> list[TimerChange]:
    return [c for c in changes if isinstance(c, Cancel)]


class AggregateStore(Generic[A]):
    """Load, change and save one kind of aggregate: version guard, outbox, timers, retries.

    The MongoDB access is in `_find_one`, `_insert` and `_update`; an in-memory subclass for unit
    tests replaces just those three and keeps every rule above them.
    """

    def __init__(
        self,
        collection: AsyncCollection[Document],
        model: type[A],
        *,
        timers: TimerStore | None = None,
        on_stored: Stored = lambda collection, doc_id, entries: None,
    ) -> None:
        self.collection = collection
        self._inserts = GroupCommit(collection)  # concurrent requests' new aggregates share a bulk write
        self.model = model
        self.timers = timers
        self._on_stored = on_stored

    def to_document(self, aggregate: A) -> Document:
        return {"_id": aggregate.id, **storable(aggregate.model_dump(mode="python"))}

    def from_document(self, doc: Document) -> A:
        aggregate = self.model.model_validate(doc)
        aggregate._saved(int(doc["version"]))
        return aggregate

    @property
    def name(self) -> str:
        return self.collection.name

    async def _find_one(self, aggregate_id: Any) -> Document | None:
        return await self.collection.find_one({"_id": aggregate_id}, {OUTBOX: 0})

    async def _insert(self, document: Document) -> bool:
        return await self._inserts.insert(document)

    async def _update(
        self, aggregate_id: Any, *, expected_version: int, state: Document, entries: list[Document]
    ) -> bool:
        return await save_aggregate(
            self.collection, aggregate_id, expected_version=expected_version, state=state, events=entries
        )

    async def get(self, aggregate_id: Any) -> A | None:
        doc = await self._find_one(aggregate_id)
        return None if doc is None else self.from_document(doc)

    async def get_many(self, ids: Sequence[Any]) -> list[A]:
        """The aggregates with these ids, in the order of `ids` (ones that do not exist left out)."""
        if not ids:
            return []
        docs = await self.collection.find({"_id": {"$in": list(ids)}}, {OUTBOX: 0}).to_list()
        return [self.from_document(d) for d in by_ids(docs, ids)]

    async def find(self, query: Document, *, limit: int = 100) -> list[A]:
        return [self.from_document(d) async for d in self.collection.find(query, {OUTBOX: 0}).limit(limit)]

    async def page(self, query: Document, *, limit: int, offset: int) -> tuple[list[A], int]:
        """One page of the aggregates matching `query`, newest first, and how many match in all."""
        total = await self.collection.count_documents(query)
        docs = (
            await self.collection.find(query, {OUTBOX: 0})
            .sort([("created_at", DESCENDING), ("_id", ASCENDING)])
            .skip(offset)
            .limit(limit)
            .to_list()
        )
        return [self.from_document(d) for d in docs], total

    async def add(self, aggregate: A) -> bool:
        """Store a new aggregate with its recorded events; False when one with its id exists.

        Its cancelled timers are not removed: a timer is keyed by its aggregate, and no change of
        one never stored has been applied, except the schedules of an attempt that failed before
        its insert, which fire into a state that does not expect them, as after any failed save
        (every handler checks the state it finds). A new lead assigned at once cancels its retry
        timer: one delete per lead, of nothing, was the cost."""
        await self._apply_timers(_schedules(aggregate.timer_changes))
        entries = outbox_entries(aggregate.events)
        if not await self._insert(new_aggregate(self.to_document(aggregate), entries)):
            return False
        aggregate._saved(1)
        if entries:
            self._on_stored(self.name, aggregate.id, entries)
        return True

    async def save(self, aggregate: A) -> bool:
        """Write the changed state and its recorded events if nobody changed it since it was loaded.

        False on a concurrent change (reload and decide again). Nothing recorded: nothing written.
        """
        version = aggregate.version
        if version is None:
            raise ValueError(f"{type(aggregate).__name__} {aggregate.id} was never stored: add() it")
        changes = aggregate.timer_changes
        entries = outbox_entries(aggregate.events)
        await self._apply_timers(_schedules(changes))
        state = self.to_document(aggregate)
        del state["_id"]
        if not await self._update(aggregate.id, expected_version=version, state=state, entries=entries):
            return False
        aggregate._saved(version + 1)
        await self._apply_timers(_cancels(changes))
        if entries:
            self._on_stored(self.name, aggregate.id, entries)
        return True

    async def change(
        self, aggregate_id: Any, action: Callable[[A], Any], *, create: Callable[[], A] | None = None
    ) -> A:
        """Load, apply `action`, save; on a concurrent change, reload and apply it again.

        With `create`, a missing aggregate is made by it first (and inserted). An action that
        changes nothing and records nothing writes nothing. Raises NotFound, ConcurrentChange, or what `action` raises.
        """
        for _ in range(CONFLICT_RETRIES):
            aggregate = await self.get(aggregate_id)
            if aggregate is None:
                if create is None:
                    raise NotFound(aggregate_id)
                aggregate = create()
                action(aggregate)
                if await self.add(aggregate):
                    return aggregate
                continue
            before = aggregate.model_dump()
            action(aggregate)
            if not aggregate.events and not aggregate.timer_changes and aggregate.model_dump() == before:
                return aggregate  # nothing happened: nothing to write
            if await self.save(aggregate):
                return aggregate
        raise ConcurrentChange(f"{self.model.__name__} {aggregate_id} is being changed concurrently; retry")

    async def _apply_timers(self, changes: list[TimerChange]) -> None:
        if changes:
            if self.timers is None:
                raise RuntimeError(f"{self.model.__name__} asked for timers but its store has no TimerStore")
            await self.timers.apply(changes)


def listing_query(filters: dict[str, Any], fields: Iterable[str]) -> Document:
    """Equality on the given fields that are set (one of a list's values, for a list), and
    `from`/`to` as a range of `created_at`."""
    query: Document = {field: matching(filters[field]) for field in fields if filters.get(field) is not None}
    created = {k: v for k, v in (("$gte", filters.get("from")), ("$lt", filters.get("to"))) if v is not None}
    if created:
        query["created_at"] = created
    return query


async def retry_on_conflict(
    attempt: Callable[[], Awaitable[bool]], *, what: str, retries: int = CONFLICT_RETRIES
) -> None:
    """Run `attempt` (which re-reads, decides and writes under a version guard) until it stores."""
    for _ in range(retries):
        if await attempt():
            return
    raise ConcurrentChange(f"{what} is being changed concurrently; retry")
