"""Writes made together: events applied in batches (one guarded bulk write) count exactly once
however the batches are cut when they come again (the batched consumers of the motivation
counters and reports rely on it); and concurrent requests' single writes combined into bulk
writes (group commit) give each caller exactly the outcome it would have had alone."""

from __future__ import annotations

import asyncio

import pytest
from bson.errors import InvalidDocument

from crmhub.events import Position
from crmhub.mongo import IDS_KEPT_BESIDE_OFFSETS, GroupCommit, Guarded, merged_update, update_many_once

pytestmark = pytest.mark.integration


def _add(account: str, event: str, amount: int, ref: str | None = None):
    update: dict = {"$inc": {"total": amount}, "$set": {"last": event}}
    if ref:
        update["$push"] = {"refs": {"$each": [ref], "$slice": -3}}
    return (account, event, update)


async def test_batches_cut_differently_apply_each_event_once(mongo_client, unique):
    totals = mongo_client[f"t_guarded_{unique}"].totals
    first = [_add("a", "e1", 1), _add("a", "e2", 2), _add("b", "e3", 4)]
    assert await update_many_once(totals, first) == 3
    # redelivered, cut differently: e2 and e3 again with e4 and e5 new; e5 twice in the batch
    again = [_add("a", "e2", 2), _add("a", "e4", 8), _add("b", "e3", 4), _add("c", "e5", 16), _add("c", "e5", 16)]
    assert await update_many_once(totals, again) == 2
    assert await update_many_once(totals, again) == 0
    found = {d["_id"]: d["total"] async for d in totals.find({})}
    assert found == {"a": 1 + 2 + 8, "b": 4, "c": 16}


async def test_pushes_of_a_batch_keep_their_order_and_the_last_slice(mongo_client, unique):
    totals = mongo_client[f"t_guarded_{unique}"].totals
    batch = [_add("a", f"e{i}", 1, ref=f"r{i}") for i in range(5)]
    await update_many_once(totals, batch)
    doc = await totals.find_one({"_id": "a"})
    assert (doc["total"], doc["refs"], doc["last"]) == (5, ["r2", "r3", "r4"], "e4")


def _read(account: str, event: str, amount: int, partition: int, offset: int) -> Guarded:
    """`_add` for an event a consumer read from crm.test at this partition and offset."""
    doc_id, event_id, update = _add(account, event, amount)
    return Guarded(doc_id, event_id, update, Position("crm.test", partition, offset))


async def test_events_read_from_kafka_come_again_in_any_number_and_apply_once(mongo_client, unique):
    """A consumer's batches come again cut differently, far more of them than the ids a document
    keeps: the offsets the document took per partition refuse them, and the document stays small."""
    totals = mongo_client[f"t_guarded_{unique}"].totals
    keep = IDS_KEPT_BESIDE_OFFSETS
    stream = [_read("a", f"e{i}", 1, i % 2, i // 2) for i in range(600)]  # two partitions, in offset order
    for start in range(0, 600, 100):
        assert await update_many_once(totals, stream[start : start + 100], keep=keep) == 100
    for start in range(0, 600, 150):  # all of it again (a group that lost its commits), cut differently
        assert await update_many_once(totals, stream[start : start + 150], keep=keep) == 0
    doc = await totals.find_one({"_id": "a"})
    assert doc["total"] == 600
    assert doc["applied_at"] == {"crm:test/0": 299, "crm:test/1": 299}
    assert doc["applied_events"] == [f"e{i}" for i in range(600 - keep, 600)]
    # a redelivery that reaches past what was taken: only what is new applies
    newer = [_read("a", f"n{i}", 10, 0, 300 + i) for i in range(3)]
    assert await update_many_once(totals, stream[550:] + newer, keep=keep) == 3
    assert (await totals.find_one({"_id": "a"}))["total"] == 630


async def test_an_event_published_twice_or_applied_by_its_id_before_applies_once(mongo_client, unique):
    """The same event at two offsets (an outbox relay that died before clearing what it sent
    publishes it again), and an event applied first with no position (a parked event counted
    later) and then read from Kafka: each applies once."""
    totals = mongo_client[f"t_guarded_{unique}"].totals
    assert await update_many_once(totals, [_read("a", "e1", 1, 0, 10)]) == 1
    assert await update_many_once(totals, [_read("a", "e1", 1, 0, 11), _read("a", "e2", 2, 0, 12)]) == 1
    assert await update_many_once(totals, [_add("b", "p1", 4)]) == 1  # no position
    assert await update_many_once(totals, [_read("b", "p1", 4, 1, 7), _read("b", "e3", 8, 1, 8)]) == 1
    assert await update_many_once(totals, [_add("b", "e3", 8)]) == 0  # and the other way round
    found = {d["_id"]: d["total"] async for d in totals.find({})}
    assert found == {"a": 1 + 2, "b": 4 + 8}


async def test_a_document_from_before_the_offsets_guard_keeps_its_ids_and_refuses_what_it_took_by_them(
    mongo_client, unique
):
    """An upgrade: a report document guarded by its last 2,000 event ids alone, which took events
    from two partitions. After the upgrade, partition 0's next events are written; then a poll
    of partition 1 it took before the upgrade comes again (the consumer died before it
    committed): refused, though its ids are older than the last 50 and partition 1 has no offset
    there. A document made since is marked and keeps 50 ids."""
    totals = mongo_client[f"t_guarded_{unique}"].totals
    old_ids = [f"old-{i}" for i in range(2_000)]
    await totals.insert_one({"_id": "a", "total": 2_000, "applied_events": old_ids})
    new = [_read("a", f"new-{i}", 1, 0, 100 + i) for i in range(60)]
    assert await update_many_once(totals, new, keep=IDS_KEPT_BESIDE_OFFSETS) == 60
    again = [_read("a", f"old-{i}", 1, 1, 7 + i) for i in range(1_000, 1_100)]
    assert await update_many_once(totals, again, keep=IDS_KEPT_BESIDE_OFFSETS) == 0
    doc = await totals.find_one({"_id": "a"})
    assert doc["total"] == 2_000 + 60
    assert doc["applied_events"] == [*old_ids[60:], *(f"new-{i}" for i in range(60))]
    await update_many_once(totals, [_read("b", "e1", 1, 0, 200)], keep=IDS_KEPT_BESIDE_OFFSETS)
    made_since = await totals.find_one({"_id": "b"})
    assert made_since["guarded_by"] == "offsets"
    for i in range(60):
        await update_many_once(totals, [_read("b", f"e{i + 2}", 1, 0, 201 + i)], keep=IDS_KEPT_BESIDE_OFFSETS)
    assert len((await totals.find_one({"_id": "b"}))["applied_events"]) == IDS_KEPT_BESIDE_OFFSETS


def test_merged_update_sums_incs_keeps_last_sets_and_concatenates_pushes():
    merged = merged_update(
        [
            {"$inc": {"n": 1, "m": 2}, "$set": {"s": "a"}, "$push": {"p": {"$each": [1], "$slice": -5}}},
            {"$inc": {"n": 3}, "$set": {"s": "b"}, "$push": {"p": 2}},
        ]
    )
    assert merged == {"$inc": {"n": 4, "m": 2}, "$set": {"s": "b"}, "$push": {"p": {"$each": [1, 2], "$slice": -5}}}
    with pytest.raises(ValueError, match=r"\$unset"):
        merged_update([{"$unset": {"x": ""}}])


async def test_group_commit_gives_each_concurrent_writer_its_own_outcome(mongo_client, unique):
    claims = mongo_client[f"t_group_{unique}"].claims
    writes = GroupCommit(claims, max_batch=16)
    # 300 writers at once, every key wanted by three of them: exactly one of each three wins
    keys = [f"k{i % 100}" for i in range(300)]
    won = await asyncio.gather(*(writes.insert({"_id": key, "by": n}) for n, key in enumerate(keys)))
    assert sum(won) == 100
    for key in set(keys):
        winners = [n for n, (k, w) in enumerate(zip(keys, won, strict=True)) if k == key and w]
        assert len(winners) == 1
        assert (await claims.find_one({"_id": key}))["by"] == winners[0]
    # updates of one document never share a bulk write: all of them apply, in the order made
    await asyncio.gather(
        *(writes.update("counter", {"$inc": {"n": 1}, "$push": {"order": i}}, upsert=True) for i in range(50))
    )
    doc = await claims.find_one({"_id": "counter"})
    assert (doc["n"], doc["order"]) == (50, list(range(50)))
    # a write the driver refuses (it cannot encode it) fails its own caller only, not those beside it
    outcomes = await asyncio.gather(
        *(writes.insert({"_id": f"fine-{i}"}) for i in range(5)),
        writes.insert({"_id": "odd", "value": object()}),
        return_exceptions=True,
    )
    assert outcomes[:5] == [True] * 5
    assert isinstance(outcomes[5], InvalidDocument)
    assert await claims.count_documents({"_id": {"$in": [f"fine-{i}" for i in range(5)]}}) == 5
