"""Listings on the real wire server: every page, total and time window equals what sorting all
the items would give, after random additions, removals, repeats and re-additions applied in
batches; and a change applied twice (a crash after any of its writes) changes nothing."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta

import pytest
from pymongo import AsyncMongoClient

from crmhub.listing import Entry, Listing

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 1, 22, 0, tzinfo=UTC)


def expected(state: dict[str, datetime], start: datetime | None, end: datetime | None) -> list[str]:
    inside = [(at, item) for item, at in state.items() if (start is None or at >= start) and (end is None or at < end)]
    return [item for at, item in sorted(inside, reverse=True)]


@pytest.mark.parametrize("shards", [1, 4])
async def test_pages_totals_and_windows_match_a_full_sort_after_random_changes(mongo_client, unique, shards):
    listing = Listing(mongo_client[f"test_listing_{unique}"], "things", shards=shards, busy=frozenset({"a"}))
    rng = random.Random(7)
    state: dict[str, dict[str, datetime]] = {"a": {}, "b": {}}
    born: dict[str, datetime] = {}
    for _ in range(12):
        batch = []
        for _ in range(rng.randint(1, 40)):
            key = rng.choice("ab")
            item = f"i{rng.randint(0, 120):03d}"
            # an item's time never changes (the listing sorts by when it was created)
            at = born.setdefault(item, T0 + timedelta(minutes=rng.randint(0, 60 * 24 * 4)))
            present = rng.random() < 0.75
            batch.append(Entry(key, item, at, present))
            if rng.random() < 0.1:
                batch.append(Entry(key, item, at, present))  # the same change twice in a batch
        for entry in batch:
            if entry.present:
                state[entry.key][entry.item] = entry.at
            else:
                state[entry.key].pop(entry.item, None)
        await listing.apply(batch)
        if rng.random() < 0.3:
            await listing.apply(batch)  # the whole batch again, as after a crash before clearing it

    windows = [
        (None, None),
        (T0 + timedelta(hours=5, minutes=17), None),
        (None, T0 + timedelta(days=2, hours=3)),
        (T0 + timedelta(days=1), T0 + timedelta(days=2)),  # cuts a day at each end
        (datetime(2026, 3, 3, tzinfo=UTC), datetime(2026, 3, 4, tzinfo=UTC)),  # exactly one UTC day
        (T0 + timedelta(days=9), None),  # nothing in it
    ]
    for key in "ab":
        for start, end in windows:
            everything = expected(state[key], start, end)
            for limit, offset in [(1, 0), (7, 0), (7, 5), (50, 13), (500, 0), (10, len(everything)), (3, 1000)]:
                ids, total = await listing.page(key, limit=limit, offset=offset, start=start, end=end)
                assert total == len(everything), (key, start, end)
                assert ids == everything[offset : offset + limit], (key, start, end, limit, offset)
    assert await listing.page("nobody", limit=10, offset=0) == ([], 0)


@pytest.mark.parametrize("shards", [1, 16])
async def test_an_item_moved_between_keys_is_under_the_new_one_only(mongo_client, unique, shards):
    listing = Listing(
        mongo_client[f"test_listing_{unique}"], "leads_by_manager", shards=shards, busy=frozenset({"anna"})
    )
    at = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
    await listing.apply([Entry("anna", "lead-1", at), Entry("anna", "lead-2", at + timedelta(seconds=1))])
    await listing.apply([Entry("anna", "lead-1", at, present=False), Entry("boris", "lead-1", at)])
    await listing.apply([Entry("anna", "lead-1", at, present=False)])  # the removal repeated
    assert await listing.page("anna", limit=10, offset=0) == (["lead-2"], 1)
    assert await listing.page("boris", limit=10, offset=0) == (["lead-1"], 1)
    # and back again the same day: counted once
    await listing.apply([Entry("boris", "lead-1", at, present=False), Entry("anna", "lead-1", at)])
    await listing.apply([Entry("anna", "lead-1", at)])
    assert await listing.page("anna", limit=10, offset=0) == (["lead-2", "lead-1"], 2)
    assert await listing.page("boris", limit=10, offset=0) == ([], 0)


@pytest.mark.parametrize("shards", [1, 4])
async def test_a_listing_built_in_bulk_reads_as_one_built_item_by_item(mongo_client, unique, shards):
    db = mongo_client[f"test_listing_{unique}"]
    entries = [Entry("k", f"i{n:03d}", T0 + timedelta(hours=n * 5)) for n in range(60)]
    bulk = Listing(db, "bulk", shards=shards, busy=frozenset({"k"}))
    one_by_one = Listing(db, "single", shards=shards, busy=frozenset({"k"}))

    async def stored():
        for entry in entries:
            yield entry

    await bulk.build(stored())
    await bulk.build(stored())  # built once: the second call finds it done
    await one_by_one.apply(entries[:30])
    await one_by_one.apply(entries[30:])
    for limit, offset in [(10, 0), (25, 20), (100, 0)]:
        assert await bulk.page("k", limit=limit, offset=offset) == await one_by_one.page(
            "k", limit=limit, offset=offset
        )
    assert (await bulk.page("k", limit=1, offset=0))[1] == 60
    assert await bulk.totals("k") == {"k": 60}


async def test_no_document_grows_with_the_day(mongo_client, unique):
    """A busy day of one manager: 1,440 leads, one a minute. Every document the listing writes
    holds at most one two-minute slot's items or one day's counters, and pages still read right."""
    db = mongo_client[f"test_listing_{unique}"]
    listing = Listing(db, "leads_by_manager")
    day = datetime(2026, 6, 1, tzinfo=UTC)
    entries = [Entry("anna", f"lead-{n:04d}", day + timedelta(minutes=n)) for n in range(1440)]
    for at in range(0, len(entries), 100):
        await listing.apply(entries[at : at + 100])
    newest_first = [e.item for e in reversed(entries)]
    assert await listing.page("anna", limit=20, offset=700) == (newest_first[700:720], 1440)
    window = (day + timedelta(hours=3, minutes=5), day + timedelta(hours=4, minutes=55))
    inside = [e.item for e in reversed(entries) if window[0] <= e.at < window[1]]
    assert await listing.page("anna", limit=500, offset=0, start=window[0], end=window[1]) == (inside, len(inside))

    largest = max([len(doc["items"]) async for doc in listing.slots.find()])
    assert largest == 2  # one two-minute slot's leads, not the day's 1,440
    days = await listing.days.find().to_list()
    assert len(days) == 1
    assert len(days[0]["added"]) == 720
    head = await listing.heads.find_one({"_id": "anna"})
    assert head["added"] == {"20260601": 1440}


async def test_writers_at_once_on_one_slot_leave_exact_counts(infra, mongo_client, unique):
    """Forty writers on four connections put items into the same slots at once and take some out
    at random moments after: the day and head counters (sums read back from the level below)
    end exact whatever the interleaving of their reads and writes."""
    clients = [AsyncMongoClient(infra.mongo, tz_aware=True) for _ in range(4)]
    listings = [Listing(c[f"test_listing_{unique}"], "calls", shards=4, busy=frozenset({"all"})) for c in clients]
    at = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
    rng = random.Random(3)

    async def writer(n: int) -> None:
        listing = listings[n % len(listings)]
        mine = [Entry("all", f"call-{n:02d}-{i}", at + timedelta(seconds=n * 10 + i)) for i in range(5)]
        await listing.apply(mine)
        await asyncio.sleep(rng.random() * 0.05)
        await listing.apply([Entry("all", mine[0].item, mine[0].at, present=False)])

    try:
        await asyncio.gather(*(writer(n) for n in range(40)))
    finally:
        for client in clients:
            await client.close()
    listing = Listing(mongo_client[f"test_listing_{unique}"], "calls", shards=4, busy=frozenset({"all"}))
    ids, total = await listing.page("all", limit=500, offset=0)
    assert total == 160
    assert len(ids) == 160
    assert not any(i.endswith("-0") for i in ids)
    assert await listing.totals("all") == {"all": 160}


async def test_a_listing_of_the_earlier_format_is_built_again_and_the_old_documents_dropped(mongo_client, unique):
    """An upgrade: documents of the earlier formats are left from before (one document per day,
    and ten-minute slots, built). The listing is built from what is stored, and the old
    collections go."""
    db = mongo_client[f"test_listing_{unique}"]
    at = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
    await db["inbox_days"].insert_one({"_id": "anna|20260601s0", "items": [{"id": "m-1", "at": at}], "added": 1})
    await db["inbox_heads"].insert_one({"_id": "anna", "added": {"20260601": {"s0": 1}}})
    await db["inbox_slots"].insert_one({"_id": "anna|202606010900s0", "items": [{"id": "m-1", "at": at}], "added": 1})
    await db["inbox_daily"].insert_one({"_id": "anna|20260601", "added": {"0900": 1}})
    await db["inbox_keys"].insert_many([{"_id": "anna", "added": {"20260601": 1}}, {"_id": "#built"}])
    listing = Listing(db, "inbox")

    async def stored():
        for n in range(3):
            yield Entry("anna", f"m-{n}", at + timedelta(minutes=n * 7))

    await listing.build(stored())
    assert await listing.page("anna", limit=10, offset=0) == (["m-2", "m-1", "m-0"], 3)
    old = {"inbox_days", "inbox_heads", "inbox_slots", "inbox_daily", "inbox_keys"}
    assert not old & set(await db.list_collection_names())
