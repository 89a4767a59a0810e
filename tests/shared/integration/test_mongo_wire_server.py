"""What the hub needs from its MongoDB-wire server, checked on the one the suite runs against.

The outbox and every idempotent consumer rest on one premise: a single-document update is
atomic, even when several writers hit the same document at once. FerretDB v1.24 breaks it (it
reads, changes and writes back without a guard), which is why it is not the default (ADR 0003).
"""

from __future__ import annotations

import asyncio

import pytest

from crmhub.outbox import new_aggregate, save_aggregate

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
