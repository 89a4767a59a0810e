"""What the hub needs from its MongoDB-wire server, checked on the one the suite runs against.

The outbox and every idempotent consumer rest on one premise: a single-document update is
atomic, even when several writers hit the same document at once. FerretDB v1.24 breaks it (it
reads, changes and writes back without a guard), which is why it is not the default (ADR 0003).
"""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from pymongo import MongoClient
from pymongo.errors import DuplicateKeyError, PyMongoError

from crmhub.outbox import new_aggregate, save_aggregate
from localservers import free_port, start_mongo

pytestmark = pytest.mark.integration


async def test_concurrent_updates_of_one_document_are_all_applied(mongo_client, unique):
    collection = mongo_client[f"t_wire_{unique}"]["counters"]
    await collection.insert_one({"_id": "c", "n": 0, "log": []})

    async def writer(name: str) -> None:
        for i in range(50):
            await collection.update_one({"_id": "c"}, {"$inc": {"n": 1}, "$push": {"log": f"{name}-{i}"}})

    await asyncio.gather(*(writer(f"w{k}") for k in range(4)))
    doc = await collection.find_one({"_id": "c"})
    assert doc["n"] == 200
    assert len(doc["log"]) == 200


async def test_of_two_writers_holding_the_same_version_exactly_one_wins(mongo_client, unique):
    collection = mongo_client[f"t_wire_{unique}"]["aggregates"]
    for round_ in range(20):
        await collection.insert_one({"_id": round_, **new_aggregate({"owner": None}, [])})
        results = await asyncio.gather(
            *(
                save_aggregate(collection, round_, expected_version=1, state={"owner": who}, events=[])
                for who in ("anna", "boris", "olga")
            )
        )
        assert sorted(results) == [False, False, True]
        assert (await collection.find_one({"_id": round_}))["version"] == 2


async def test_a_query_by_id_with_other_conditions_honours_every_condition(mongo_client, unique):
    """The local server narrows `{_id: x, ...}` by the `_id` index (ADR 3): the other conditions
    must still decide, for reads, guarded updates, upserts and deletes alike."""
    collection = mongo_client[f"t_wire_{unique}"]["guarded"]
    await collection.insert_many([{"_id": f"d{i}", "v": i % 3, "items": [{"id": f"x{i}"}]} for i in range(300)])
    assert await collection.find_one({"_id": "d4", "v": 1}) == {"_id": "d4", "v": 1, "items": [{"id": "x4"}]}
    assert await collection.find_one({"_id": "d4", "v": 2}) is None
    assert await collection.find_one({"_id": "d4", "$or": [{"v": 0}, {"v": 1}]}) is not None
    assert await collection.count_documents({"_id": "d5", "items.id": {"$ne": "x5"}}) == 0
    pushed = await collection.update_one({"_id": "d5", "items.id": {"$ne": "y"}}, {"$push": {"items": {"id": "y"}}})
    again = await collection.update_one({"_id": "d5", "items.id": {"$ne": "y"}}, {"$push": {"items": {"id": "y"}}})
    assert (pushed.modified_count, again.modified_count) == (1, 0)
    with pytest.raises(DuplicateKeyError):  # the guard fails on an existing document: no second d6
        await collection.update_one({"_id": "d6", "v": 99}, {"$set": {"w": 1}}, upsert=True)
    assert (await collection.delete_one({"_id": "d7", "v": 2})).deleted_count == 0
    assert (await collection.delete_one({"_id": "d7", "v": 1})).deleted_count == 1
    assert await collection.count_documents({}) == 299
    assert await collection.count_documents({"_id": "nobody", "v": 0}) == 0


async def test_a_find_without_a_batch_size_is_answered_in_batches_as_mongodb_does(mongo_client, unique):
    """A client that names no batch size gets 101 documents first and the rest on getMore, as
    from MongoDB; the local server answered with every match in one reply, which past 48 MB (a
    start reading a million leads) the client refused (ADR 3)."""
    database = mongo_client[f"t_wire_{unique}"]
    await database["many"].insert_many([{"_id": i} for i in range(1_500)])
    first = await database.command("find", "many")
    assert len(first["cursor"]["firstBatch"]) == 101
    assert len([doc async for doc in database["many"].find({})]) == 1_500


def test_every_acknowledged_write_survives_a_kill_9_of_the_database(tmp_path):
    """Acknowledged means stored: writers insert and update as fast as they can, the database
    process is killed with SIGKILL mid-stream, and after a restart on the same files every write
    that was acknowledged is there (the wire server answers a write only once it is committed)."""
    port = free_port()
    server = start_mongo(tmp_path / "db", port=port)
    acknowledged: list[int] = []
    stop = threading.Event()

    def writer(offset: int) -> None:
        client: MongoClient[dict] = MongoClient(server.address, serverSelectionTimeoutMS=2000, retryWrites=False)
        collection = client["t_durable"]["docs"]
        n = offset
        while not stop.is_set():
            try:
                collection.insert_one({"_id": n, "body": "x" * 200})
            except PyMongoError:
                return
            acknowledged.append(n)
            n += 4
        client.close()

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30
    while len(acknowledged) < 1500 and time.monotonic() < deadline:
        time.sleep(0.05)
    server.process.kill()  # SIGKILL, mid-stream
    server.process.wait()
    stop.set()
    for thread in threads:
        thread.join()
    assert len(acknowledged) >= 1500
    again = start_mongo(tmp_path / "db", port=port)
    try:
        client: MongoClient[dict] = MongoClient(again.address, serverSelectionTimeoutMS=10000)
        stored = {doc["_id"] for doc in client["t_durable"]["docs"].find({}, {"_id": 1})}
        lost = sorted(set(acknowledged) - stored)
        assert not lost, f"{len(lost)} acknowledged writes lost, e.g. {lost[:10]}"
        client.close()
    finally:
        again.stop()
