"""Figures per group (leads per source, calls per manager) for any period, read from a few
pre-summed documents by `_id` instead of folding every stored record of the period.

Each item (a lead) is kept as one small row of what the figures need, in the document of its
two-minute slot and shard (`YYYYMMDDHHMMs<shard>`, by a hash of the item), set whole each time
the item changes: setting a row to what the item is now is idempotent and safe to repeat after a
crash. A slot-shard holds only its two minutes' rows, so the document a write rewrites does not
grow with the day (at 4 leads/s a day-shard had grown to ~100 KB in 22 minutes), and grows with
the rate five times more slowly than the ten-minute slots before it. The collections carry the
slot length in their names (`<name>_slots_2m`, ...): a store of an earlier format is built
again at start, and the earlier collections are dropped. A write also
marks its slot-shards in one small document; summing them (`settle`, in the background and
before a read) reads their rows, so it is not paid per write. A row gives counters to groups
(`contribute`); sums climb four levels, each written only from a fresh read of the level below:

- a slot-shard document keeps its rows, a version `v` bumped by every write, and the sum of its
  rows (`agg`) for version `agg_v`, set only while `v` is still that version;
- an hour document (`YYYYMMDDHH`) sums its slot-shards' sums, a day document (`YYYYMMDD`) its
  hours' sums, a month document (`YYYYMM`) its days' sums; each is replaced only by a sum read
  at a higher total of versions below it.

Versions only grow, so the summing that read last leaves every level exact, and one that read
earlier cannot overwrite it. Marks move aside before the rows are read, so a write after the
read marks its slot-shard again, and come off only once summed, so a crash while summing leaves
them for the next summing (no scan of every slot-shard at start). A period reads the months it
covers whole, the days of the months it cuts, the hours of the (at most two) days it cuts, and
the rows of the (at most two) hours it cuts.
"""

from __future__ import annotations

import asyncio
import logging
import re
import zlib
from collections.abc import AsyncIterable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from crmhub.listing import (
    FORMAT,
    ONE_DAY,
    READ_IDS_AT_ONCE,
    SLOT_MINUTES,
    Window,
    as_stored,
    day_of,
    midnight,
    slot_of,
)
from crmhub.mongo import Document, duplicates_in

BUILT = "#built"
DIRTY = "dirty"  # the one document listing the slot-shards written since they were last summed
log = logging.getLogger("crmhub.rollup")
ONE_HOUR = timedelta(hours=1)
HOURS = [f"{hour:02d}" for hour in range(24)]
SLOTS_OF_HOUR = [f"{minute:02d}" for minute in range(0, 60, SLOT_MINUTES)]
HOURS_AT_ONCE = 24  # hours summed at a time: 24 x 30 slots x 8 shards = 5,760 ids in one read
# the collections of earlier formats: day-shards, then ten-minute slots
LEGACY = ("rows", "days", "months", "dirty", "slots", "hours", "daily", "monthly", "marks")
ITEM_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")  # a row's field name: no dots, no `$`

Group = tuple[str | None, ...]
"""A group the figures are given for, such as ("source", "site-1") or ("manager", None)."""
Sums = dict[Group, dict[str, float]]
Contribute = Callable[[Mapping[str, Any]], Iterable[tuple[Group, Mapping[str, float]]]]
"""What one row adds to which groups' counters (pure)."""


@dataclass(frozen=True)
class Row:
    """Item `item` as it is now, listed under the day of `at` (a time that never changes for it)."""

    item: str
    at: datetime
    fields: Mapping[str, Any]

    def __post_init__(self) -> None:
        if not ITEM_ID.match(self.item):
            raise ValueError(f"item id {self.item!r} cannot name a row")
        object.__setattr__(self, "at", as_stored(self.at))


def add_into(total: Sums, sums: Iterable[tuple[Group, Mapping[str, float]]]) -> Sums:
    for group, counters in sums:
        into = total.setdefault(group, {})
        for name, n in counters.items():
            into[name] = into.get(name, 0) + n
    return total


def _stored(sums: Sums) -> list[Any]:
    return [[list(group), counters] for group, counters in sums.items()]


def _loaded(stored: Iterable[Any] | None) -> Iterable[tuple[Group, Mapping[str, float]]]:
    return ((tuple(group), counters) for group, counters in stored or [])


def _month_start(month: str) -> datetime:
    return datetime.strptime(month + "01", "%Y%m%d").replace(tzinfo=UTC)


def _next_month(month: str) -> str:
    year, number = int(month[:4]), int(month[4:])
    return f"{year + number // 12:04d}{number % 12 + 1:02d}"


def _days_of(month: str) -> list[str]:
    day, ends = _month_start(month), _month_start(_next_month(month))
    days = []
    while day < ends:
        days.append(day.strftime("%Y%m%d"))
        day += ONE_DAY
    return days


def _hour_start(hour: str) -> datetime:
    return midnight(hour[:8]) + timedelta(hours=int(hour[8:]))


def rollup_collections(name: str) -> list[str]:
    """The collections a rollup called `name` keeps (slot-shards, hours, days, months, marks)."""
    return [f"{name}_{level}_{FORMAT}" for level in ("slots", "hours", "daily", "monthly", "marks")]


class Rollup:
    def __init__(self, db: AsyncDatabase[Document], name: str, contribute: Contribute, *, shards: int = 8) -> None:
        self.db = db
        self.name = name
        rows, hours, days, months, dirty = rollup_collections(name)
        self.rows: AsyncCollection[Document] = db[rows]
        self.hours: AsyncCollection[Document] = db[hours]
        self.days: AsyncCollection[Document] = db[days]
        self.months: AsyncCollection[Document] = db[months]
        self.dirty: AsyncCollection[Document] = db[dirty]
        self.contribute = contribute
        self.shards = shards

    def _bucket(self, row: Row) -> str:
        return f"{day_of(row.at)}{slot_of(row.at)}s{zlib.crc32(row.item.encode()) % self.shards}"

    def _shards_of(self, hour: str) -> list[str]:
        return [f"{hour}{minute}s{shard}" for minute in SLOTS_OF_HOUR for shard in range(self.shards)]

    def _sum(self, rows: Iterable[Mapping[str, Any]]) -> Sums:
        total: Sums = {}
        for row in rows:
            add_into(total, self.contribute(row))
        return total

    # --- writes ----------------------------------------------------------------------------------

    async def _write_rows(self, rows: Sequence[Row]) -> list[str]:
        """Set these items' rows in their slot-shards (one round trip, two when a slot-shard was
        created at once by another writer); the slot-shards written."""
        by_bucket: dict[str, dict[str, Any]] = {}
        for row in rows:  # the last row of an item wins
            by_bucket.setdefault(self._bucket(row), {})[f"rows.{row.item}"] = {**row.fields, "at": row.at}

        def change(bucket: str, upsert: bool) -> UpdateOne:
            return UpdateOne({"_id": bucket}, {"$set": by_bucket[bucket], "$inc": {"v": 1}}, upsert=upsert)

        buckets = list(by_bucket)
        if not buckets:
            return []
        try:
            await self.rows.bulk_write([change(b, True) for b in buckets], ordered=False)
        except BulkWriteError as exc:
            # two writers created a new slot-shard at once: it exists now, so update it
            await self.rows.bulk_write([change(buckets[i], False) for i in duplicates_in(exc)], ordered=False)
        return buckets

    async def put(self, rows: Sequence[Row]) -> None:
        """Set these items' rows to what they are now and mark their slot-shards for summing
        (`settle`); repeating any part of it changes nothing. Two round trips, whatever the size
        of the day: summing reads every row of a slot-shard, so it is left to `settle`, which a
        busy writer calls far less often than it writes."""
        buckets = await self._write_rows(rows)
        if buckets:
            await self.dirty.update_one({"_id": DIRTY}, {"$addToSet": {"buckets": {"$each": buckets}}}, upsert=True)

    async def settle(self) -> None:
        """Bring the sums of the slot-shards written since the last call up to date. Their marks
        move (in one update) from `buckets` to `summing` before the slot-shards are read, so a
        write after that read marks its slot-shard again in `buckets`, and come off `summing`
        only once summed: a crash in between leaves them there for the next call (at start,
        or the next round of another instance)."""
        marked = await self.dirty.find_one({"_id": DIRTY}) or {}
        fresh = list(marked.get("buckets", []))
        if fresh:
            await self.dirty.update_one(
                {"_id": DIRTY}, {"$pullAll": {"buckets": fresh}, "$addToSet": {"summing": {"$each": fresh}}}
            )
        todo = sorted({*fresh, *marked.get("summing", [])})
        if not todo:
            return
        await self._sum_buckets(todo)
        await self.dirty.update_one({"_id": DIRTY}, {"$pullAll": {"summing": todo}})

    async def keep_settled(self, every: float = 0.5) -> None:
        """Settle in the background for as long as the service runs (a failure is tried again)."""
        while True:
            try:
                await self.settle()
            except Exception:  # the database away: the marks stay, the next round takes them
                log.warning("the figures were not summed this round; trying again", exc_info=True)
            await asyncio.sleep(every)

    async def _sum_buckets(self, buckets: Sequence[str]) -> None:
        await self._sum_rows(buckets)
        await self._sum_hours(sorted({b[:10] for b in buckets}))

    async def _sum_rows(self, buckets: Sequence[str]) -> None:
        """Each slot-shard's sum of its rows, a few thousand slot-shards at a time."""
        for at in range(0, len(buckets), READ_IDS_AT_ONCE):
            wanted = list(buckets[at : at + READ_IDS_AT_ONCE])
            found = await self.rows.find({"_id": {"$in": wanted}}, {"rows": 1, "v": 1}).to_list()
            if not found:
                continue
            await self.rows.bulk_write(
                [
                    UpdateOne(
                        {"_id": doc["_id"], "v": doc["v"]},  # still the version summed: else its writer sums it
                        {"$set": {"agg": _stored(self._sum(doc.get("rows", {}).values())), "agg_v": doc["v"]}},
                    )
                    for doc in found
                ],
                ordered=False,
            )

    async def _sum_hours(self, hours: Sequence[str]) -> None:
        """The sums above these hours' slot-shards, a day's worth of hours at a time: one read
        asks for at most 24 hours' slot-shards by `_id` (a build summing a year's hours at once
        asked for millions, past MongoDB's 16 MB for a command)."""
        for at in range(0, len(hours), HOURS_AT_ONCE):
            await self._sum_above(hours[at : at + HOURS_AT_ONCE])

    async def _sum_above(self, hours: Sequence[str]) -> None:
        await self._sum_level(self.rows, "agg_v", self.hours, {h: self._shards_of(h) for h in hours})
        days = sorted({h[:8] for h in hours})
        await self._sum_level(self.hours, "v", self.days, {d: [d + h for h in HOURS] for d in days})
        months = sorted({d[:6] for d in days})
        await self._sum_level(self.days, "v", self.months, {m: _days_of(m) for m in months})

    @staticmethod
    async def _sum_level(
        below: AsyncCollection[Document],
        version_field: str,
        level: AsyncCollection[Document],
        parts: Mapping[str, list[str]],
    ) -> None:
        """Each document of `level` as the sum of its `parts` in `below` (whose sums are versioned
        by `version_field`), read now; written only over a sum read at a lower total of versions."""
        wanted = [p for ps in parts.values() for p in ps]
        found = {doc["_id"]: doc async for doc in below.find({"_id": {"$in": wanted}}, {"agg": 1, version_field: 1})}
        for doc_id, ids in parts.items():
            docs = [found[i] for i in ids if i in found]
            version = sum(int(d.get(version_field, 0)) for d in docs)
            total: Sums = {}
            for d in docs:
                add_into(total, _loaded(d.get("agg")))
            newer = {"_id": doc_id, "$or": [{"v": {"$lt": version}}, {"v": {"$exists": False}}]}
            update = {"$set": {"agg": _stored(total), "v": version}}
            try:
                await level.update_one(newer, update, upsert=True)
            except DuplicateKeyError:
                # it exists: it holds a sum read at this version or later, or another writer
                # created it a moment ago; the guarded update alone tells which
                await level.update_one(newer, update)

    async def build(self, rows: AsyncIterable[Row], *, chunk: int = 50_000) -> None:
        """Once, from what is stored (read in the order it was written, so a chunk's slots are
        mostly its own): whole slot-shards inserted at a time, then every sum above them. The
        earlier format's collections are dropped once this one is built."""
        if await self.months.find_one({"_id": BUILT}) is None:
            await self._build(rows, chunk)
        for legacy in LEGACY:
            await self.db.drop_collection(f"{self.name}_{legacy}")

    async def _build(self, rows: AsyncIterable[Row], chunk: int) -> None:
        touched: set[str] = set()
        batch: list[Row] = []

        merged: set[str] = set()  # slot-shards an earlier chunk had begun: their sums are stale

        async def load() -> None:
            buckets: dict[str, Document] = {}
            for row in batch:
                doc = buckets.setdefault(self._bucket(row), {"_id": self._bucket(row), "rows": {}, "v": 1})
                doc["rows"][row.item] = {**row.fields, "at": row.at}
            for doc in buckets.values():
                doc["agg"], doc["agg_v"] = _stored(self._sum(doc["rows"].values())), 1
            docs = list(buckets.values())
            touched.update(buckets)
            batch.clear()
            if not docs:
                return
            try:
                await self.rows.insert_many(docs, ordered=False)
            except BulkWriteError as exc:
                again = [docs[i] for i in duplicates_in(exc)]  # a slot-shard begun by an earlier chunk
                merged.update(await self._write_rows([Row(i, r["at"], r) for d in again for i, r in d["rows"].items()]))

        async for row in rows:
            batch.append(row)
            if len(batch) >= chunk:
                await load()
        await load()
        await self._sum_rows(sorted(merged))  # slot-shards a later chunk added to
        await self._sum_hours(sorted({b[:10] for b in touched}))  # each slot-shard has its sum now
        await self.months.update_one({"_id": BUILT}, {"$set": {"at": datetime.now(UTC)}}, upsert=True)

    # --- reads -----------------------------------------------------------------------------------

    async def sums(self, *, start: datetime | None = None, end: datetime | None = None) -> Sums:
        """The counters of every group over the items whose time is in [start, end)."""
        total: Sums = {}
        window = Window(start, end)
        days: list[str] = []  # of the months the window cuts
        async for doc in self.months.find({"_id": {"$ne": BUILT}}, {"agg": 1}):  # a dozen a year
            month = str(doc["_id"])
            begins = _month_start(month)
            covered = window.covers(begins, _month_start(_next_month(month)) - begins)
            if covered == "all":
                add_into(total, _loaded(doc.get("agg")))
            elif covered == "some":
                days += _days_of(month)
        whole_days: list[str] = []
        hours: list[str] = []  # of the days the window cuts
        for day in days:
            covered = window.covers(midnight(day), ONE_DAY)
            if covered == "all":
                whole_days.append(day)
            elif covered == "some":
                hours += [day + h for h in HOURS]
        async for doc in self.days.find({"_id": {"$in": whole_days}}, {"agg": 1}):
            add_into(total, _loaded(doc.get("agg")))
        whole_hours: list[str] = []
        edges: list[str] = []
        for hour in hours:
            covered = window.covers(_hour_start(hour), ONE_HOUR)
            if covered == "all":
                whole_hours.append(hour)
            elif covered == "some":
                edges.append(hour)
        async for doc in self.hours.find({"_id": {"$in": whole_hours}}, {"agg": 1}):
            add_into(total, _loaded(doc.get("agg")))
        shards = [shard for hour in edges for shard in self._shards_of(hour)]
        async for doc in self.rows.find({"_id": {"$in": shards}}, {"rows": 1}):
            inside = [r for r in doc.get("rows", {}).values() if window.holds(r["at"])]
            add_into(total, self._sum(inside).items())
        return total
