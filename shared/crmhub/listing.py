"""Newest-first pages of ids under a key (a manager's leads, the calls of a day, an inbox) read
by `_id` only, with exact totals, however many documents the collection behind them holds.

A query on a field that is not `_id` or unique scans the whole collection on the embedded wire
server (~3.5 s at 100k documents), and a page "newest first" sorts all matches even on MongoDB
with an index when it must also count them. A listing keeps, per key, three levels of documents,
each bounded in size whatever the volume:

- a **slot** document (`<key>|<YYYYMMDDHHMM>s<shard>`, in `<name>_slots_2m`) holds the items of
  one two-minute slot, with `added` and `removed` counters; a busy key (all leads, all calls) splits
  each slot into shards by a hash of the item;
- a **day** document (`<key>|<YYYYMMDD>`, in `<name>_daily_2m`) holds, per slot of the day, how
  many items its slot documents were given and lost (at most 720 pairs of counters);
- a **head** (`<key>`, in `<name>_keys_2m`) holds the same per day (two counters a day).

Slots were ten minutes long at first (`<name>_slots`, `_daily`, `_keys`): a slot document then
grew with the rate, and at 50 leads/s the listing of all leads and each of four managers'
listings rewrote documents of thousands of items for every lead (docs/SCALING.md). The
collections carry the slot length in their names, so a store of the earlier format is built
again at start, as one that never had listings, and the earlier collections are dropped.

A page reads the head, the day documents of the days it falls in, the slot documents of the
slots it falls in, and then the items themselves by `_id`. A day document of items used to grow
with the day: at 4 leads/s one manager's held 2,400 items after 30 minutes, rewritten whole by
every new lead (docs/SCALING.md).

Changes are idempotent and safe to repeat after a crash at any point: an item goes into its
slot only if it is not there already (`$push` guarded by `$ne`, in one update with the slot's
`added` counter), comes out only if it is there (with `removed`). The counters above are sums
read from the level below and taken with `$max`: each counter only grows, so every sum read is
at most the final one, and the writer that reads last reads every write before it, whatever
the order or number of repeats. Writers apply the changes of many items in five round trips
(the slots in bulk, their counters read back, the days in bulk, read back, the heads in bulk),
so a batch costs the same as one item.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import AsyncIterable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from crmhub.mongo import Document, duplicates_in

BUILT = "#built"  # the head that says a listing was built from what was stored before it existed
ONE_DAY = timedelta(days=1)
SLOT_MINUTES = 2
FORMAT = f"{SLOT_MINUTES}m"  # in the collections' names: another slot length is another listing
SLOT = timedelta(minutes=SLOT_MINUTES)
READ_IDS_AT_ONCE = 5_000  # `_id: {$in: …}` reads of a build's counters, in pieces of this many
# the collections of earlier formats: one item document per day, then ten-minute slots
LEGACY = ("days", "heads", "slots", "daily", "keys")


@dataclass(frozen=True)
class Entry:
    """`item` is (`present`) or is not (not `present`) under `key`, sorted by `at` (a time that
    never changes for the item in that listing, such as when it was created)."""

    key: str
    item: str
    at: datetime
    present: bool = True

    def __post_init__(self) -> None:
        # what BSON keeps (milliseconds), so an item read back from storage sorts as it was written
        object.__setattr__(self, "at", as_stored(self.at))

    @property
    def day(self) -> str:
        return day_of(self.at)

    @property
    def slot(self) -> str:
        return slot_of(self.at)


def as_stored(at: datetime) -> datetime:
    """`at` as BSON keeps it (milliseconds), so a time read back compares equal to the one written."""
    return at.replace(microsecond=at.microsecond // 1000 * 1000)


def day_of(at: datetime) -> str:
    """The UTC day `at` falls in, as `YYYYMMDD` (how day documents are named)."""
    return at.astimezone(UTC).strftime("%Y%m%d")


def slot_of(at: datetime) -> str:
    """The slot (SLOT_MINUTES long) of its UTC day `at` falls in, as `HHMM` of its start."""
    at = at.astimezone(UTC)
    return f"{at.hour:02d}{at.minute - at.minute % SLOT_MINUTES:02d}"


def listing_collections(name: str) -> list[str]:
    """The collections a listing called `name` keeps (slots, days, heads)."""
    return [f"{name}_{level}_{FORMAT}" for level in ("slots", "daily", "keys")]


def midnight(day: str) -> datetime:
    return datetime.strptime(day, "%Y%m%d").replace(tzinfo=UTC)


def latest(entries: Iterable[Entry]) -> list[Entry]:
    """The last change of each item under each key, in the order first seen."""
    last: dict[tuple[str, str], Entry] = {}
    for entry in entries:
        last.pop((entry.key, entry.item), None)
        last[(entry.key, entry.item)] = entry
    return list(last.values())


class Listing:
    """`busy` keys split each slot into `shards` documents by a hash of the item: a busy key's
    slot (all leads, all calls) stays small to rewrite, at the price of reading that many
    documents for a slot of a page. Other keys (a manager's, a number's) keep a slot in one."""

    def __init__(
        self, db: AsyncDatabase[Document], name: str, *, shards: int = 1, busy: frozenset[str] = frozenset()
    ) -> None:
        self.db = db
        self.name = name
        slots, days, heads = listing_collections(name)
        self.slots: AsyncCollection[Document] = db[slots]
        self.days: AsyncCollection[Document] = db[days]
        self.heads: AsyncCollection[Document] = db[heads]
        self.shards = shards
        self.busy = busy

    def _shards(self, key: str) -> int:
        return self.shards if key in self.busy else 1

    def _bucket(self, entry: Entry) -> str:
        shard = zlib.crc32(entry.item.encode()) % self._shards(entry.key)
        return f"{entry.key}|{entry.day}{entry.slot}s{shard}"

    def _slot_ids(self, key: str, day: str, slot: str) -> list[str]:
        return [f"{key}|{day}{slot}s{shard}" for shard in range(self._shards(key))]

    def _change(self, e: Entry, *, upsert: bool) -> UpdateOne:
        if e.present:  # in, once: only into a slot document that does not hold it
            return UpdateOne(
                {"_id": self._bucket(e), "items.id": {"$ne": e.item}},
                {"$push": {"items": {"id": e.item, "at": e.at}}, "$inc": {"added": 1}},
                upsert=upsert,
            )
        return UpdateOne(  # out, once: only from a slot document that holds it
            {"_id": self._bucket(e), "items.id": e.item},
            {"$pull": {"items": {"id": e.item}}, "$inc": {"removed": 1}},
        )

    async def apply(self, entries: Sequence[Entry]) -> None:
        """Put items in and take them out; repeating any part of it changes nothing."""
        changes = latest(entries)
        if not changes:
            return
        try:
            await self.slots.bulk_write([self._change(e, upsert=True) for e in changes], ordered=False)
        except BulkWriteError as exc:
            refused = duplicates_in(exc)
            # the upsert found no slot document without the item because the document exists:
            # it holds the item already, or another writer created it a moment ago. Now that it
            # exists, the guarded update alone (no upsert) does the right thing either way.
            again = [self._change(changes[i], upsert=False) for i in refused]
            await self.slots.bulk_write(again, ordered=False)
        await self._count({(e.key, e.day, e.slot) for e in changes})

    async def _count(self, slots: Iterable[tuple[str, str, str]]) -> None:
        """Bring the day documents and heads of these (key, day, slot) up to date: each slot's
        counters summed over its shards into its day, each day's summed into its head."""
        wanted = sorted({i for key, day, slot in slots for i in self._slot_ids(key, day, slot)})
        by_day: dict[str, dict[str, int]] = {}
        for doc in await _read_ids(self.slots, wanted, {"added": 1, "removed": 1}):
            key, day, slot, _ = _parts(doc["_id"])
            counts = by_day.setdefault(f"{key}|{day}", {})
            for counter in ("added", "removed"):
                field = f"{counter}.{slot}"
                counts[field] = counts.get(field, 0) + int(doc.get(counter, 0))
        await _take_larger(self.days, by_day)
        by_key: dict[str, dict[str, int]] = {}
        for doc in await _read_ids(self.days, sorted(by_day), {"added": 1, "removed": 1}):
            key, day = str(doc["_id"]).rsplit("|", 1)
            counts = by_key.setdefault(key, {})
            for counter in ("added", "removed"):
                counts[f"{counter}.{day}"] = sum(int(n) for n in doc.get(counter, {}).values())
        await _take_larger(self.heads, by_key)

    async def load(self, entries: Iterable[Entry]) -> None:
        """Put many items in at once, as when a listing is first built from what is stored: whole
        slot documents written in bulk instead of one update per item. Slots that exist already
        take their items the ordinary way, so this too is safe to repeat."""
        slots: dict[str, Document] = {}
        touched: set[tuple[str, str, str]] = set()
        for e in latest(entries):
            if not e.present:
                continue
            bucket_id = self._bucket(e)
            bucket = slots.setdefault(bucket_id, {"_id": bucket_id, "items": [], "added": 0})
            bucket["items"].append({"id": e.item, "at": e.at})
            bucket["added"] += 1
            touched.add((e.key, e.day, e.slot))
        if not slots:
            return
        taken: list[Document] = list(slots.values())
        try:
            await self.slots.insert_many(taken, ordered=False)
        except BulkWriteError as exc:
            existing = [taken[i] for i in duplicates_in(exc)]
            await self.slots.bulk_write(
                [
                    self._change(Entry(_parts(d["_id"])[0], i["id"], i["at"]), upsert=False)
                    for d in existing
                    for i in d["items"]
                ],
                ordered=False,
            )
        await self._count(touched)

    async def build(self, entries: AsyncIterable[Entry], *, chunk: int = 50_000) -> None:
        """Build a listing from what is stored (read in the order it was written, so a chunk's slots
        are mostly its own), once: a marker in the heads says it is done. The earlier format's
        collections are dropped once this one is built."""
        if await self.heads.find_one({"_id": BUILT}) is None:
            batch: list[Entry] = []
            async for entry in entries:
                batch.append(entry)
                if len(batch) >= chunk:
                    await self.load(batch)
                    batch = []
            await self.load(batch)
            await self.heads.update_one({"_id": BUILT}, {"$set": {"at": datetime.now(UTC)}}, upsert=True)
        for legacy in LEGACY:
            await self.db.drop_collection(f"{self.name}_{legacy}")

    async def totals(self, prefix: str) -> dict[str, int]:
        """How many items each key starting with `prefix` holds, from the heads alone (one per
        key: a small collection, whatever the number of items)."""
        found = self.heads.find({"_id": {"$regex": f"^{re.escape(prefix)}"}})
        return {str(head["_id"]): sum(_sizes(head).values()) async for head in found}

    async def page(
        self,
        key: str,
        *,
        limit: int,
        offset: int,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> tuple[list[str], int]:
        """Ids of one page under `key`, newest first (ties: larger id first), and how many there
        are in all; with `start` (inclusive) and `end` (exclusive) only items of that window."""
        head = await self.heads.find_one({"_id": key})
        if head is None:
            return [], 0
        window = Window(start, end)
        days = {day: n for day, n in _sizes(head).items() if window.touches(midnight(day), ONE_DAY)}
        slots: dict[str, dict[str, int]] = {}  # of the days read so far: each slot's size
        loaded: dict[str, list[Document]] = {}  # of the slots read so far: their items in the window
        cut = [day for day in days if window.cuts(midnight(day), ONE_DAY)]
        if cut:  # a day the window cuts: count what of it is inside, slot by slot
            await self._read_days(key, cut, slots, window)
            edges = [(day, slot) for day in cut for slot in slots[day] if window.cuts(_slot_start(day, slot), SLOT)]
            await self._read_slots(key, edges, loaded, window)
            for day, slot in edges:
                slots[day][slot] = len(loaded[day + slot])
            days.update({day: sum(slots[day].values()) for day in cut})
        total = sum(days.values())
        wanted_days, skip = _covering(sorted(days.items(), reverse=True), offset, limit)
        await self._read_days(key, [d for d in wanted_days if d not in slots], slots, window)
        in_days = [(day + slot, n) for day in wanted_days for slot, n in sorted(slots[day].items(), reverse=True)]
        wanted_slots, skip = _covering(in_days, skip, limit)
        await self._read_slots(key, [(s[:8], s[8:]) for s in wanted_slots if s not in loaded], loaded, window)
        items = [item for stamp in wanted_slots for item in loaded[stamp]]
        return [str(item["id"]) for item in items[skip : skip + limit]], total

    async def _read_days(self, key: str, days: list[str], into: dict[str, dict[str, int]], window: Window) -> None:
        """Each day's slots (those the window touches, with items) and their sizes."""
        for day in days:
            into[day] = {}
        for doc in await _read_ids(self.days, [f"{key}|{day}" for day in days], {"added": 1, "removed": 1}):
            day = str(doc["_id"]).rsplit("|", 1)[1]
            removed = doc.get("removed", {})
            for slot, n in doc.get("added", {}).items():
                size = int(n) - int(removed.get(slot, 0))
                if size > 0 and window.touches(_slot_start(day, slot), SLOT):
                    into[day][slot] = size

    async def _read_slots(
        self, key: str, slots: list[tuple[str, str]], into: dict[str, list[Document]], window: Window
    ) -> None:
        """Each slot's items inside the window, newest first (ties: larger id first)."""
        for day, slot in slots:
            into[day + slot] = []
        ids = [i for day, slot in slots for i in self._slot_ids(key, day, slot)]
        for doc in await _read_ids(self.slots, ids, {"items": 1}):
            _, day, slot, _ = _parts(doc["_id"])
            into[day + slot] += [i for i in doc.get("items", []) if window.holds(i["at"])]
        for day, slot in slots:
            into[day + slot].sort(key=lambda i: (i["at"], i["id"]), reverse=True)


@dataclass(frozen=True)
class Window:
    """[start, end), either end open: what of a listing's pages or a rollup's sums is asked for."""

    start: datetime | None
    end: datetime | None

    def holds(self, at: datetime) -> bool:
        return (self.start is None or at >= self.start) and (self.end is None or at < self.end)

    def touches(self, begins: datetime, length: timedelta) -> bool:
        """Whether any of [begins, begins + length) is inside."""
        return (self.start is None or begins + length > self.start) and (self.end is None or begins < self.end)

    def cuts(self, begins: datetime, length: timedelta) -> bool:
        """Whether [begins, begins + length) is partly inside and partly outside."""
        ends = begins + length
        return (self.start is not None and begins < self.start < ends) or (
            self.end is not None and begins < self.end < ends
        )

    def covers(self, begins: datetime, length: timedelta) -> str:
        """'all', 'some' or 'none' of [begins, begins + length) inside."""
        if not self.touches(begins, length):
            return "none"
        return "some" if self.cuts(begins, length) else "all"


def _covering(parts: Sequence[tuple[str, int]], offset: int, limit: int) -> tuple[list[str], int]:
    """Of parts in page order with their sizes, those the page [offset, offset + limit) falls
    in, and how many items of the first of them come before the page."""
    wanted: list[str] = []
    skip = offset
    before = 0
    for name, size in parts:
        if before + size > offset and before < offset + limit:
            if not wanted:
                skip = offset - before
            wanted.append(name)
        before += size
    return wanted, skip


def _slot_start(day: str, slot: str) -> datetime:
    return midnight(day) + timedelta(hours=int(slot[:2]), minutes=int(slot[2:]))


async def _read_ids(collection: AsyncCollection[Document], ids: Sequence[str], fields: Document) -> list[Document]:
    """The documents of these ids that exist, read in pieces (a build asks for many at once)."""
    found: list[Document] = []
    for at in range(0, len(ids), READ_IDS_AT_ONCE):
        found += await collection.find({"_id": {"$in": list(ids[at : at + READ_IDS_AT_ONCE])}}, fields).to_list()
    return found


async def _take_larger(collection: AsyncCollection[Document], counters: Mapping[str, Mapping[str, int]]) -> None:
    """Raise each document's counters to these values (`$max`), creating it when absent."""
    if not counters:
        return
    ids = list(counters)
    try:
        await collection.bulk_write(
            [UpdateOne({"_id": i}, {"$max": dict(counters[i])}, upsert=True) for i in ids], ordered=False
        )
    except BulkWriteError as exc:  # two writers created one a moment ago: it exists now
        again = [ids[i] for i in duplicates_in(exc)]
        await collection.bulk_write([UpdateOne({"_id": i}, {"$max": dict(counters[i])}) for i in again], ordered=False)


def _parts(bucket_id: Any) -> tuple[str, str, str, str]:
    """A slot document's key, day, slot and shard (`<key>|<YYYYMMDDHHMM>s<shard>`; keys may hold `|`)."""
    key, token = str(bucket_id).rsplit("|", 1)
    stamp, shard = token.split("s", 1)
    return key, stamp[:8], stamp[8:], shard


def _sizes(head: Document) -> dict[str, int]:
    """Each day's number of items, by the head's counters per day (empty days left out)."""
    added: dict[str, int] = head.get("added", {})
    removed: dict[str, int] = head.get("removed", {})
    sizes = {day: int(n) - int(removed.get(day, 0)) for day, n in added.items()}
    return {day: n for day, n in sizes.items() if n > 0}


def by_ids(docs: Iterable[Document], ids: Sequence[Any]) -> list[Document]:
    """`docs` (read with `_id: {$in: ids}`, in no order) in the order of `ids`; missing ones left out."""
    found = {doc["_id"]: doc for doc in docs}
    return [found[i] for i in ids if i in found]
