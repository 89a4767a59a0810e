"""What the hub needs from its MongoDB-wire server, checked on the one the suite runs against.

The outbox and every idempotent consumer rest on one premise: a single-document update is
atomic, even when several writers hit the same document at once. FerretDB v1.24 breaks it (it
reads, changes and writes back without a guard), which is why it is not the default (ADR 0003).
"""

from __future__ import annotations

import asyncio
import random
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from bson import Decimal128, Int64, ObjectId
from pymongo import MongoClient
from pymongo.errors import DuplicateKeyError, PyMongoError

from crmhub.outbox import PENDING, PENDING_INDEX, new_aggregate, save_aggregate
from localservers import free_port, mongo_wire_kind, start_mongo

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


async def test_a_read_of_many_documents_by_id_returns_each_asked_for_once_and_honours_the_rest(mongo_client, unique):
    """Reports, the month close and the reference lookups read hundreds of documents by `_id $in`
    at once. The local server takes them from the `_id` index and checks only the rest of the
    query (ADR 3): what comes back must be what MongoDB returns."""
    collection = mongo_client[f"t_wire_{unique}"]["many"]
    await collection.insert_many([{"_id": f"d{i:04d}", "v": i % 4} for i in range(2000)])
    wanted = [f"d{i:04d}" for i in range(1999, -1, -3)] + ["d0001", "missing", "d0002"]
    expected = sorted({w for w in wanted if w != "missing"})
    found = [d["_id"] for d in await collection.find({"_id": {"$in": wanted}}).to_list()]
    assert found == expected  # each once, in `_id` order as MongoDB's index gives them
    some = await collection.find({"_id": {"$in": wanted}, "v": {"$in": [1, 3]}}).to_list()
    assert sorted(d["_id"] for d in some) == [w for w in expected if int(w[1:]) % 4 in (1, 3)]
    assert await collection.count_documents({"_id": {"$in": wanted}, "v": 2}) == sum(
        1 for w in expected if int(w[1:]) % 4 == 2
    )
    page = await collection.find({"_id": {"$in": wanted}}).sort("_id", -1).skip(2).limit(3).to_list()
    assert [d["_id"] for d in page] == expected[::-1][2:5]
    changed = await collection.update_many({"_id": {"$in": wanted}, "v": 0}, {"$set": {"seen": True}})
    assert changed.modified_count == sum(1 for w in expected if int(w[1:]) % 4 == 0)
    assert await collection.count_documents({"seen": True}) == changed.modified_count  # by a scan
    # a null among the values also matches documents without the field, which no index entry says
    codes = mongo_client[f"t_wire_{unique}"]["codes"]
    await codes.create_index("code", unique=True, sparse=True)
    await codes.insert_many([{"_id": 1, "code": "a"}, {"_id": 2}, {"_id": 3, "code": "b"}])
    assert sorted(d["_id"] for d in await codes.find({"code": {"$in": [None, "b"]}}).to_list()) == [2, 3]


async def test_dotted_and_positional_update_paths_do_what_mongodb_does(mongo_client, unique):
    """The local server's handling of update paths is patched at provisioning (the patterns it
    checked every path level against are compiled once, and the element a `$` stands for is
    looked for only when a path names one: deploy/local/mongo-wire/library.patch). What those
    decide must not change: deep dotted paths made as they are named, `$` standing for the
    element the query matched, and the refusals."""
    collection = mongo_client[f"t_wire_{unique}"]["paths"]
    await collection.insert_one({"_id": "m", "items": [{"id": "a", "n": 1}, {"id": "b", "n": 1}]})
    await collection.update_one(
        {"_id": "m"}, {"$inc": {"days.2026-11-10.kpis.calls": 2, "c.9f2e.m.leads": 1}, "$set": {"c.9f2e.k": ["x", ""]}}
    )
    await collection.update_one({"_id": "m", "items.id": "b"}, {"$inc": {"items.$.n": 5}})
    doc = await collection.find_one({"_id": "m"})
    assert doc["days"] == {"2026-11-10": {"kpis": {"calls": 2}}}
    assert doc["c"] == {"9f2e": {"m": {"leads": 1}, "k": ["x", ""]}}
    assert doc["items"] == [{"id": "a", "n": 1}, {"id": "b", "n": 6}]
    with pytest.raises(PyMongoError, match="positional"):  # `$` with no element matched by the query
        await collection.update_one({"_id": "m"}, {"$inc": {"items.$.n": 1}})
    with pytest.raises(PyMongoError, match="Too many positional"):
        await collection.update_one({"_id": "m", "items.id": "a"}, {"$set": {"items.$.tags.$.x": 1}})
    assert (await collection.find_one({"_id": "m"}))["items"] == [{"id": "a", "n": 1}, {"id": "b", "n": 6}]


async def test_an_update_counts_as_modified_when_it_changes_the_document_and_leaves_the_old_one_whole(
    mongo_client, unique
):
    """The local server keeps the document before an update as a shallow copy, and tells an
    update that changed nothing by the comparison that decided not to write it (library.patch):
    the counts an idempotent consumer relies on, the document findAndModify returns from before,
    and the unique index's old key must all be as MongoDB has them."""
    collection = mongo_client[f"t_wire_{unique}"]["cells"]
    await collection.create_index("code", unique=True, sparse=True)
    await collection.insert_many(
        [
            {"_id": "d", "code": "A", "c": {"x": {"m": {"n": 1}, "k": ["a", ""]}}, "ids": ["e1"]},
            {"_id": "e", "c": {"x": {"m": {"n": 1}}}},
            {"_id": "f", "c": {"x": {"m": {"n": 2}}}},
        ]
    )
    unchanged = await collection.update_one({"_id": "d"}, {"$set": {"c.x.m.n": 1, "c.x.k": ["a", ""]}})
    assert (unchanged.matched_count, unchanged.modified_count) == (1, 0)
    before = await collection.find_one_and_update(
        {"_id": "d"},
        {"$inc": {"c.x.m.n": 2}, "$set": {"c.x.k.0": "b", "code": "B"}, "$push": {"ids": "e2"}},
    )
    assert before == {"_id": "d", "code": "A", "c": {"x": {"m": {"n": 1}, "k": ["a", ""]}}, "ids": ["e1"]}
    assert await collection.find_one({"_id": "d"}) == {
        "_id": "d",
        "code": "B",
        "c": {"x": {"m": {"n": 3}, "k": ["b", ""]}},
        "ids": ["e1", "e2"],
    }
    await collection.insert_one({"_id": "g", "code": "A"})  # the old key left the index
    with pytest.raises(DuplicateKeyError):
        await collection.insert_one({"_id": "h", "code": "B"})
    # of three documents, the one already at 2 is matched and not modified
    many = await collection.update_many({"_id": {"$in": ["d", "e", "f"]}}, {"$set": {"c.x.m.n": 2}})
    assert (many.matched_count, many.modified_count) == (3, 2)
    # a document rewritten with a number widened to a long of the same value is modified, as
    # MongoDB counts it (the library counted it as not modified, though it wrote it)
    retyped = await collection.update_one({"_id": "f"}, {"$inc": {"c.x.m.n": Int64(0)}})
    assert retyped.modified_count == 1
    assert isinstance((await collection.find_one({"_id": "f"}))["c"]["x"]["m"]["n"], Int64)


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


def test_pending_outbox_documents_are_found_through_the_partial_index_exactly_and_without_a_scan(tmp_path, monkeypatch):
    """The relays' safety scan asks for the documents with pending events. MongoDB answers it from
    the partial index the relay declares; the local server ignored every index that is not unique
    and read the whole collection, under its lock, which made writes wait longer as data grew
    (ADR 3). The index must give exactly the pending documents through inserts, pushes, clears,
    replaces, deletes and a restart, and the server must stop scanning once it exists."""
    monkeypatch.setenv("CRMHUB_WIRE_LOG_SCANS", "1")
    port = free_port()
    server = start_mongo(tmp_path / "db", port=port)
    scan_log = server.log_path

    def pending_scans() -> int:
        return sum('"scan":"t_partial.things"' in line and "outbox.0" in line for line in scan_log.open())

    def declare(collection: Any) -> None:
        collection.create_index([("outbox.id", 1)], name=PENDING_INDEX, partialFilterExpression=PENDING)

    def found(collection: Any) -> set[str]:
        return {doc["_id"] for doc in collection.find(PENDING, {"_id": 1})}

    def truth(collection: Any) -> set[str]:  # read every document and decide here
        return {doc["_id"] for doc in collection.find({}) if doc.get("outbox")}

    try:
        client: MongoClient[dict] = MongoClient(server.address)
        things = client["t_partial"]["things"]
        things.insert_many([{"_id": f"d{i}", "outbox": [{"id": f"e{i}"}] if i % 10 == 0 else []} for i in range(1000)])
        declare(things)
        assert found(things) == truth(things) == {f"d{i}" for i in range(0, 1000, 10)}
        things.update_many({"_id": {"$in": ["d1", "d2"]}}, {"$push": {"outbox": {"id": "new"}}})
        things.update_one({"_id": "d10"}, {"$pullAll": {"outbox": [{"id": "e10"}]}})
        things.update_one({"_id": "d20"}, {"$push": {"outbox": {"id": "more"}}})
        things.replace_one({"_id": "d30"}, {"outbox": []})
        things.replace_one({"_id": "d3"}, {"outbox": [{"id": "x"}]})
        things.delete_one({"_id": "d40"})
        things.delete_one({"_id": "d4"})
        things.update_one({"_id": "fresh"}, {"$push": {"outbox": {"id": "f"}}}, upsert=True)
        things.insert_one({"_id": "quiet", "outbox": []})
        expected = {f"d{i}" for i in range(0, 1000, 10)} - {"d10", "d30", "d40"} | {"d1", "d2", "d3", "fresh"}
        assert found(things) == truth(things) == expected
        if server.name == "mongo-java-server":
            assert pending_scans() == 0
        client.close()
        server.stop()

        server = start_mongo(tmp_path / "db", port=port)
        client = MongoClient(server.address)
        things = client["t_partial"]["things"]
        assert found(things) == expected  # reopened: read by a scan until the index is declared again
        declare(things)
        things.update_one({"_id": "d50"}, {"$set": {"outbox": []}})
        assert found(things) == truth(things) == expected - {"d50"}
        if server.name == "mongo-java-server":
            assert pending_scans() == 1  # the one before the declaration
        client.close()
    finally:
        server.stop()


def _started_twice(tmp_path: Path, fixture: str) -> Iterator[tuple[int, MongoClient[dict]]]:
    """A store the previous server wrote (`data/<fixture>`), started twice on one port: the
    start's number and a client, each time (the server stops when the caller moves on)."""
    data = tmp_path / "db"
    data.mkdir()
    shutil.copy(Path(__file__).parent / "data" / fixture, data / "hub.mv.db")
    port = free_port()
    for start in range(2):
        server = start_mongo(data, port=port)
        client: MongoClient[dict] = MongoClient(server.address, tz_aware=True, uuidRepresentation="standard")
        try:
            yield start, client
        finally:
            client.close()
            server.stop()


def test_a_store_written_before_documents_were_bson_is_converted_once_and_reads_as_before(tmp_path):
    """The wire server used to store documents by Java serialization; it now stores them as BSON
    (a third of its work under load was that serialization). A store from before (made by the
    previous WireServer, with every BSON type the hub and the drivers use) is converted at the
    first start, each value read back as it was written, and not converted again."""
    if mongo_wire_kind() != "mongo-java-server":
        pytest.skip("the store file is mongo-java-server's")
    expected = {
        "lead-1": {
            "_id": "lead-1",
            "name": "Пётр",
            "version": 3,
            "big": Int64(2**40),
            "score": 0.5,
            "active": True,
            "none": None,
            "at": datetime(2026, 11, 1, 9, 30, 15, 123000, tzinfo=UTC),
            "tags": ["a", "b", 3],
            "nested": {"phone": "+79160000001", "deep": {"n": 1}},
            "outbox": [{"id": "e1", "type": "lead.created"}],
        },
        "lead-2": {
            "_id": "lead-2",
            "money": Decimal128("1500000.50"),
            "oid": ObjectId("65f000000000000000000001"),
            "bin": b"\x00\x01\x02",
            "uuid": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        },
    }
    for start, client in _started_twice(tmp_path, "store-before-bson.mv.db"):
        db = client["legacy_hub"]
        found = {doc["_id"]: doc for doc in db.leads.find({})}
        assert found == expected
        assert isinstance(found["lead-1"]["big"], Int64)
        assert db.counters.find_one({"_id": 7}) == {"_id": 7, "kpis": {"calls": 12}}
        assert db.leads.find_one({"nested.phone": "+79160000001"})["_id"] == "lead-1"
        if start == 0:
            db.leads.update_one({"_id": "lead-1"}, {"$inc": {"version": 1}})
            db.leads.update_one({"_id": "lead-1"}, {"$inc": {"version": -1}})
    log = (tmp_path / "db" / "mongo-java-server.log").read_text()
    assert log.count("stored 2 documents of legacy_hub.leads as BSON") == 1
    assert log.count("stored 1 documents of legacy_hub.counters as BSON") == 1


def test_a_batch_by_id_with_other_conditions_reads_only_those_documents(tmp_path, monkeypatch):
    """A round of timers is claimed with `{_id: {$in: [...]}, lease_until: {$lte: now}}` and read
    back with `{_id: {$in: [...]}, owner: ...}`: MongoDB answers both from the `_id` index. The
    local server scanned the whole collection for them (10,000 pending timers, twice a round)."""
    monkeypatch.setenv("CRMHUB_WIRE_LOG_SCANS", "1")
    server = start_mongo(tmp_path / "db", port=free_port())

    def scans() -> list[str]:
        return [line for line in server.log_path.open() if '"scan":"t_in.timers"' in line]

    try:
        client: MongoClient[dict] = MongoClient(server.address)
        timers = client["t_in"]["timers"]
        timers.insert_many([{"_id": f"t{i}", "lease": i % 3, "owner": None} for i in range(3000)])
        wanted = [f"t{i}" for i in range(0, 60)] + ["missing"]
        claimed = timers.update_many({"_id": {"$in": wanted}, "lease": {"$lte": 1}}, {"$set": {"owner": "round-1"}})
        assert claimed.modified_count == 40
        mine = {d["_id"] for d in timers.find({"_id": {"$in": wanted}, "owner": "round-1"})}
        assert mine == {f"t{i}" for i in range(60) if i % 3 <= 1}
        assert {d["_id"] for d in timers.find({"owner": "round-1"})} == mine  # the truth, by a scan
        assert timers.delete_many({"_id": {"$in": [*wanted, "t61"]}, "owner": "round-1"}).deleted_count == 40
        assert len(timers.find({"_id": {"$in": wanted}}).to_list()) == 20
        if server.name == "mongo-java-server":
            assert len(scans()) == 1, scans()  # only the read of the truth
        client.close()
    finally:
        server.stop()


def test_a_store_written_before_index_keys_had_their_own_type_is_converted_once_and_keeps_every_index(tmp_path):
    """Unique indexes (`_id` and the others) used to keep their keys Java-serialized and compared
    them by serializing both sides; they now keep them as values. A store from before (made by
    the previous WireServer: string, number, ObjectId, document and boolean `_id`s, a compound
    unique index, a unique index holding a missing value) is converted at the first start: every
    document is found by its key again, every unique index still refuses a duplicate, and the
    conversion happens once."""
    if mongo_wire_kind() != "mongo-java-server":
        pytest.skip("the store file is mongo-java-server's")
    ids = [7, Int64(2**40), 2.5, ObjectId("65f000000000000000000001"), {"a": 1, "b": "x"}, "7", True]
    kinds = ["int", "long", "double", "oid", "doc", "str", "bool"]
    for start, client in _started_twice(tmp_path, "store-before-key-type.mv.db"):
        db = client["legacy_keys"]
        for _id, kind in zip(ids, kinds, strict=True):
            assert db.things.find_one({"_id": _id}) == {"_id": _id, "kind": kind}
            with pytest.raises(DuplicateKeyError):
                db.things.insert_one({"_id": _id})
        assert sorted(d["kind"] for d in db.things.find({"_id": {"$in": ids[:4]}})) == sorted(kinds[:4])
        for i in (0, 151, 299):
            assert db.leads.find_one({"_id": f"lead-{i}"})["n"] == i
        with pytest.raises(DuplicateKeyError):
            db.leads.insert_one({"_id": "new", "phone": "+79160000151", "source": "x", "n": -1})
        with pytest.raises(DuplicateKeyError):
            db.leads.insert_one({"_id": "new", "phone": "+79169999999", "source": "site", "n": 151})
        with pytest.raises(DuplicateKeyError):
            db.people.insert_one({"_id": "p3"})  # a second person without an e-mail
        if start == 0:  # written after the conversion, found after the restart
            db.leads.insert_one({"_id": "lead-new", "phone": "+79160001000", "source": "site", "n": 1000})
        assert db.leads.find_one({"_id": "lead-new"})["n"] == 1000
        assert db.leads.count_documents({}) == 301
    log = (tmp_path / "db" / "mongo-java-server.log").read_text()
    assert log.count("keys of the index legacy_keys.things._index__id_ as values") == 1
    assert log.count("stored 300 keys of the index legacy_keys.leads._index_source_1_n_1 as values") == 1


async def test_keys_of_every_kind_mixed_in_one_index_are_each_found_and_kept_unique(mongo_client, unique):
    """The server orders unique-index keys by value, kinds apart (null, then strings, numbers and
    other ordered values by kind, then documents). A lookup must find each key among hundreds of
    every kind, and a second document with any of them must be refused."""
    rng = random.Random(11)
    keys: list[Any] = []
    for i in range(400):
        keys.append(
            rng.choice(
                [
                    f"k{i}",
                    i,
                    Int64(2**33 + i),
                    i + 0.25,
                    ObjectId(f"{i:024x}"),
                    {"n": i, "s": f"d{i}"},
                    datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=i),
                ]
            )
        )
    keys += [True, False]
    things = mongo_client[f"t_keys_{unique}"]["things"]
    await things.create_index([("code", 1)], unique=True)
    rng.shuffle(keys)
    await things.insert_many([{"_id": key, "code": [key] if i % 2 else key} for i, key in enumerate(keys)])
    for key in keys:
        assert (await things.find_one({"_id": key}, {"_id": 1}))["_id"] == key
        with pytest.raises(DuplicateKeyError):
            await things.insert_one({"_id": key})
    assert await things.count_documents({"_id": {"$in": keys[:50]}}) == 50
