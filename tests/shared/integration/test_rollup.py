"""Pre-summed figures on the real wire server: for any period (none, whole months, whole days,
cut days, across a month's end) the sums equal folding the items as they finally are, after
random changes applied in batches, repeated, and written by concurrent writers; and a bulk build
from stored items gives the same sums as item-by-item writes."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient, monitoring

from crmhub.rollup import Group, Rollup, Row, Sums, add_into

pytestmark = pytest.mark.integration

T0 = datetime(2026, 1, 27, 21, 0, tzinfo=UTC)  # a few days before a month's end


def contribute(row: Mapping[str, Any]) -> list[tuple[Group, dict[str, float]]]:
    return [
        (("colour", row["colour"]), {"items": 1, "weight": row["weight"]}),
        (("owner", row.get("owner")), {"items": 1, "done": int(row["done"])}),
    ]


def folded(state: dict[str, Row], start: datetime | None, end: datetime | None) -> Sums:
    total: Sums = {}
    for row in state.values():
        if (start is None or row.at >= start) and (end is None or row.at < end):
            add_into(total, contribute(row.fields))
    return total


def random_rows(rng: random.Random, born: dict[str, datetime], n: int) -> list[Row]:
    rows = []
    for _ in range(n):
        item = f"i{rng.randint(0, 300):03d}"
        # an item's time never changes (figures are of items created in the period)
        at = born.setdefault(item, T0 + timedelta(minutes=rng.randint(0, 60 * 24 * 40)))
        fields = {
            "colour": rng.choice(["red", "green", "blue.dark", "$odd"]),  # any value names a group
            "owner": rng.choice(["anna", "boris", None]),
            "weight": rng.randint(1, 9),
            "done": rng.random() < 0.5,
        }
        rows.append(Row(item, at, fields))
    return rows


WINDOWS = [
    (None, None),
    (datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC)),  # exactly one month
    (datetime(2026, 2, 1, tzinfo=UTC), None),
    (None, datetime(2026, 2, 1, tzinfo=UTC)),
    (datetime(2026, 1, 30, tzinfo=UTC), datetime(2026, 2, 3, tzinfo=UTC)),  # whole days over a month's end
    (T0 + timedelta(hours=5, minutes=17), T0 + timedelta(days=9, hours=2)),  # cuts a day at each end
    (T0 + timedelta(days=3, hours=1), None),
    (datetime(2026, 2, 10, 12, tzinfo=UTC), datetime(2026, 2, 10, 13, tzinfo=UTC)),  # within one day
    (datetime(2027, 1, 1, tzinfo=UTC), None),  # nothing in it
]


async def test_sums_of_any_period_equal_folding_the_items_after_random_changes(mongo_client, unique):
    rollup = Rollup(mongo_client[f"test_rollup_{unique}"], "things", contribute, shards=4)
    rng = random.Random(11)
    state: dict[str, Row] = {}
    born: dict[str, datetime] = {}
    for _ in range(15):
        batch = random_rows(rng, born, rng.randint(1, 60))
        for row in batch:
            state[row.item] = row
        await rollup.put(batch)
        if rng.random() < 0.3:
            await rollup.put(batch)  # the whole batch again, as after a crash before clearing it
        if rng.random() < 0.5:
            await rollup.settle()
    await rollup.settle()
    for start, end in WINDOWS:
        assert await rollup.sums(start=start, end=end) == folded(state, start, end), (start, end)


async def test_concurrent_writers_leave_every_level_exact(mongo_client, unique):
    """Writers changing rows of the same days at once: whichever reads last sums everything."""
    rollup = Rollup(mongo_client[f"test_rollup_{unique}"], "things", contribute, shards=2)
    rng = random.Random(5)
    born: dict[str, datetime] = {}
    batches = [random_rows(rng, born, rng.randint(1, 20)) for _ in range(40)]
    owner: dict[str, int] = {}
    for i, batch in enumerate(batches):  # each item written by one writer only: its final row is known
        batches[i] = [r for r in batch if owner.setdefault(r.item, i) == i]
    state = {r.item: r for batch in batches for r in batch}

    async def settling() -> None:  # summing while the writers write
        for _ in range(15):
            await rollup.settle()
            await asyncio.sleep(0)

    await asyncio.gather(*(rollup.put(b) for b in batches), settling(), settling())
    await rollup.settle()
    for start, end in WINDOWS:
        assert await rollup.sums(start=start, end=end) == folded(state, start, end), (start, end)


async def test_a_build_from_stored_items_sums_like_writing_them_one_by_one(mongo_client, unique):
    db = mongo_client[f"test_rollup_{unique}"]
    rng = random.Random(3)
    born: dict[str, datetime] = {}
    rows = random_rows(rng, born, 400)
    state = {row.item: row for row in rows}
    ordered = sorted(state.values(), key=lambda r: r.at)

    async def stored() -> AsyncIterator[Row]:
        for row in ordered:
            yield row

    built = Rollup(db, "built", contribute, shards=4)
    await built.build(stored(), chunk=37)  # chunks share days: later ones add to day-shards begun
    await built.build(stored())  # built once: a second start changes nothing
    one_by_one = Rollup(db, "one_by_one", contribute, shards=4)
    for row in ordered:
        await one_by_one.put([row])
    await one_by_one.settle()
    for start, end in WINDOWS:
        expected = folded(state, start, end)
        assert await built.sums(start=start, end=end) == expected, (start, end)
        assert await one_by_one.sums(start=start, end=end) == expected, (start, end)
    # a later change on a built rollup lands in the same sums
    moved = Row(ordered[0].item, ordered[0].at, {**ordered[0].fields, "owner": "new-owner", "done": True})
    await built.put([moved])
    state[moved.item] = moved
    await built.settle()
    assert await built.sums() == folded(state, None, None)


async def test_sums_left_behind_by_a_crash_while_settling_are_made_exact_at_start(mongo_client, unique):
    rollup = Rollup(mongo_client[f"test_rollup_{unique}"], "things", contribute, shards=4)
    rng = random.Random(9)
    born: dict[str, datetime] = {}
    first = random_rows(rng, born, 50)
    await rollup.put(first)
    await rollup.settle()
    second = random_rows(rng, born, 50)
    await rollup.put(second)
    # a settler moved the marks aside to sum them, then died before summing
    marked = await rollup.dirty.find_one({"_id": "dirty"})
    await rollup.dirty.update_one({"_id": "dirty"}, {"$set": {"buckets": [], "summing": marked["buckets"]}})
    state = {row.item: row for row in [*first, *second]}
    assert await rollup.sums() != folded(state, None, None)  # behind
    await rollup.settle()  # what the service does at start, and every half second
    for start, end in WINDOWS:
        assert await rollup.sums(start=start, end=end) == folded(state, start, end), (start, end)
    assert (await rollup.dirty.find_one({"_id": "dirty"}))["summing"] == []


def test_an_item_id_that_cannot_name_a_field_is_refused():
    with pytest.raises(ValueError, match="cannot name a row"):
        Row("a.b", T0, {})


async def test_no_document_grows_with_the_day(mongo_client, unique):
    """A busy day: 1,440 leads, one a minute. The document a change rewrites holds one two-minute
    slot's rows of its shard, not the day's, and the figures still add up."""
    db = mongo_client[f"test_rollup_{unique}"]
    rollup = Rollup(db, "things", contribute, shards=2)
    day = datetime(2026, 6, 1, tzinfo=UTC)
    rows = [
        Row(f"i{n:04d}", day + timedelta(minutes=n), {"colour": "red", "weight": 1, "done": False}) for n in range(1440)
    ]
    for at in range(0, len(rows), 120):
        await rollup.put(rows[at : at + 120])
    await rollup.settle()
    largest = max([len(doc["rows"]) async for doc in rollup.rows.find()])
    assert largest <= 2
    assert await rollup.sums() == folded({r.item: r for r in rows}, None, None)
    afternoon = (day + timedelta(hours=13, minutes=5), day + timedelta(hours=17, minutes=55))
    assert await rollup.sums(start=afternoon[0], end=afternoon[1]) == folded({r.item: r for r in rows}, *afternoon)


async def test_figures_of_the_ten_minute_format_are_built_again_and_the_old_documents_dropped(mongo_client, unique):
    """An upgrade from ten-minute slot-shards (built, with sums): the figures are built again
    from the stored rows in two-minute ones, the sums are those of the rows, the old collections
    go."""
    db = mongo_client[f"test_rollup_{unique}"]
    at = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
    old = {f"things_{level}" for level in ("slots", "hours", "daily", "monthly", "marks")}
    for name in old:
        await db[name].insert_one({"_id": "#built" if name == "things_monthly" else "x", "agg": {"stale": 1}})
    rollup = Rollup(db, "things", contribute, shards=2)
    rows = [
        Row(f"i{n}", at + timedelta(minutes=3 * n), {"colour": "red", "weight": 2, "done": n % 2 == 0})
        for n in range(30)
    ]

    async def stored():
        for row in rows:
            yield row

    await rollup.build(stored())
    assert await rollup.sums() == folded({r.item: r for r in rows}, None, None)
    assert not old & set(await db.list_collection_names())


class _LargestIn(monitoring.CommandListener):
    """The most `_id`s one `find` asked for by `$in`."""

    def __init__(self) -> None:
        self.largest = 0

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name == "find":
            ids = event.command.get("filter", {}).get("_id")
            if isinstance(ids, dict) and isinstance(ids.get("$in"), list):
                self.largest = max(self.largest, len(ids["$in"]))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


async def test_a_build_from_rows_in_no_time_order_reads_a_day_of_hours_at_a_time(infra, unique):
    """Rows stored in no order of time (each chunk of the build spans the months, so most
    slot-shards are begun by one chunk and added to by later ones): the build sums them a day's
    hours at a time. Summing every touched hour at once asked, at a million leads over a year,
    for 2.8 million slot-shards in one read: 57 MB, past MongoDB's 16 MB for a command."""
    listener = _LargestIn()
    client: AsyncMongoClient[dict] = AsyncMongoClient(infra.mongo, tz_aware=True, event_listeners=[listener])
    try:
        rollup = Rollup(client[f"test_rollup_{unique}"], "things", contribute, shards=2)
        rng = random.Random(5)
        start = datetime(2026, 3, 1, tzinfo=UTC)
        rows = [
            Row(
                f"i{n}",
                start + timedelta(minutes=rng.randrange(60 * 24 * 20)),
                {"colour": "red", "weight": 1, "done": False},
            )
            for n in range(1500)
        ]

        async def stored():
            for row in rows:
                yield row

        await rollup.build(stored(), chunk=100)
        assert await rollup.sums() == folded({r.item: r for r in rows}, None, None)
        middle = (start + timedelta(days=5, hours=7, minutes=3), start + timedelta(days=12, hours=1, minutes=1))
        assert await rollup.sums(start=middle[0], end=middle[1]) == folded({r.item: r for r in rows}, *middle)
        assert listener.largest <= 24 * 30 * 2  # a day of hours' two-minute slot-shards
    finally:
        await client.close()
