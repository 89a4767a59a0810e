"""Consumers: commit only after the effect is stored, apply each event once, and move poison
messages to the dead-letter topic while the partition keeps flowing."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from crmhub.events import new_event, to_record
from support.kafka import eventually, headers_of, produce, read_topic
from support.probe import CRASH_EXIT, ProbeRecorded

pytestmark = pytest.mark.integration
# one event at a time, and a poll's events at once (one guarded bulk write, as motivation counts)
MODES = pytest.mark.parametrize("mode", [[], ["--batch"]], ids=["one_by_one", "batched"])


def _message(account: str, amount: int, fail: str | None = None, key: str | None = None):
    event = new_event(
        ProbeRecorded(account=account, amount=amount, fail=fail),
        source="/crm/test",
        subject=key or account,
        time=datetime.now(UTC),
    )
    record = to_record(event)
    return event, (record.key, record.value, record.headers)


async def _committed_offsets(bootstrap: str, group: str) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return sum(o.offset for o in offsets.values())


@MODES
async def test_consumer_killed_after_storing_effect_reprocesses_without_second_effect(
    infra, mongo_client, probe, unique, mode
):
    topic = f"test.crash.{unique}"
    db = f"t_crash_{unique}"
    account = f"acct-{unique}"
    event, message = _message(account, 10)
    await produce(infra.kafka, topic, [message])

    crashed = probe("consume", db, "--topic", topic, "--group", f"g-{unique}", "--crash-after-effect", *mode)
    assert await asyncio.to_thread(crashed.wait, 60) == CRASH_EXIT
    assert (await mongo_client[db].totals.find_one({"_id": account}))["total"] == 10
    assert await _committed_offsets(infra.kafka, f"g-{unique}") == 0, (
        "the offset must not be committed before the handler returned"
    )

    probe("consume", db, "--topic", topic, "--group", f"g-{unique}", *mode)

    async def redelivered_and_committed():
        doc = await mongo_client[db].deliveries.find_one({"_id": event.id})
        return doc is not None and doc["n"] == 2 and await _committed_offsets(infra.kafka, f"g-{unique}") == 1

    await eventually(redelivered_and_committed, timeout=30)
    assert (await mongo_client[db].totals.find_one({"_id": account}))["total"] == 10


@MODES
async def test_poison_messages_go_to_dead_letter_topic_and_later_messages_keep_flowing(
    infra, mongo_client, probe, unique, mode
):
    topic = f"test.dlq.{unique}"
    db = f"t_dlq_{unique}"
    key = f"k-{unique}"  # one key: everything lands on one partition, in this order
    _, m1 = _message("good", 1, key=key)
    bad_data, m2 = _message("bad", 2, key=key)
    m2 = (m2[0], b'{"account": "bad", "amount": "not a number"}', m2[2])
    closed, m3 = _message("closed", 4, fail="poison", key=key)
    buggy, m4 = _message("buggy", 8, fail="bug", key=key)
    not_json = (
        key.encode(),
        b"\xff{not json",
        {"ce_id": "raw-1", "ce_type": "test.probe.recorded", "ce_source": "/x", "ce_time": "2026-01-01T00:00:00Z"},
    )
    no_headers = (key.encode(), b'{"account": "x", "amount": 1}', {})
    _, m7 = _message("good", 16, fail="flaky2", key=key)
    _, m8 = _message("good", 32, key=key)
    await produce(infra.kafka, topic, [m1, m2, m3, m4, not_json, no_headers, m7, m8])

    probe("consume", db, "--topic", topic, "--group", f"g-{unique}", *mode)

    async def all_committed():
        return await _committed_offsets(infra.kafka, f"g-{unique}") == 8

    await eventually(all_committed, timeout=40)
    # the good ones, including one that met a passing database outage twice, were applied once each
    assert (await mongo_client[db].totals.find_one({"_id": "good"}))["total"] == 1 + 16 + 32
    assert await mongo_client[db].totals.find_one({"_id": "bad"}) is None
    assert await mongo_client[db].totals.find_one({"_id": "closed"}) is None
    assert await mongo_client[db].totals.find_one({"_id": "buggy"}) is None

    dead = await read_topic(infra.kafka, f"{topic}.dlq", until=lambda rs: len(rs) >= 5)
    by_id = {headers_of(r).get("ce_id"): headers_of(r) for r in dead}
    assert set(by_id) == {bad_data.id, closed.id, buggy.id, "raw-1", None}
    assert "amount" in by_id[bad_data.id]["dlq_error"]
    assert by_id[bad_data.id]["dlq_reason"] == "poison"
    assert "closed" in by_id[closed.id]["dlq_error"]
    assert by_id[buggy.id]["dlq_reason"] == "handler_error"
    assert by_id[buggy.id]["dlq_error_type"] == "ZeroDivisionError"
    assert "not JSON" in by_id["raw-1"]["dlq_error"]
    assert "missing header" in by_id[None]["dlq_error"]
    for headers in by_id.values():
        assert headers["dlq_source_topic"] == topic
        assert headers["dlq_consumer_group"] == f"g-{unique}"
    # the original headers and body travel with the dead letter
    assert by_id[closed.id]["ce_type"] == "test.probe.recorded"
    assert [r.value for r in dead if headers_of(r).get("ce_id") == "raw-1"] == [b"\xff{not json"]
    # the handler error was retried before it was dead-lettered; the poison message was not
    assert (await mongo_client[db].deliveries.find_one({"_id": buggy.id}))["n"] == 3
    assert (await mongo_client[db].deliveries.find_one({"_id": closed.id}))["n"] == 1


@MODES
async def test_two_consumers_in_one_group_share_the_partitions_and_apply_everything_once(
    infra, mongo_client, probe, unique, mode
):
    topic = f"test.share.{unique}"
    db = f"t_share_{unique}"
    from crmhub.kafka import ensure_topics
    from crmhub.topics import Topic

    await ensure_topics(infra.kafka, [Topic(topic, partitions=4)], with_dead_letters=False)
    messages = [_message(f"acct-{i % 8}", 1)[1] for i in range(200)]
    probe("consume", db, "--topic", topic, "--group", f"g-{unique}", *mode)
    probe("consume", db, "--topic", topic, "--group", f"g-{unique}", *mode)
    await eventually(
        lambda: _group_members(infra.kafka, f"g-{unique}", 2), timeout=60
    )  # both joined: the work is split
    await produce(infra.kafka, topic, messages)

    async def all_applied():
        return sum([d["total"] async for d in mongo_client[db].totals.find({})]) == 200

    await eventually(all_applied, timeout=60)
    await asyncio.sleep(1)
    assert sum([d["total"] async for d in mongo_client[db].totals.find({})]) == 200
    assert len(await mongo_client[db].deliveries.distinct("by")) == 2, "both instances should have taken a share"


async def _group_members(kafka: str, group: str, wanted: int) -> bool:
    """True once the consumer group is stable with `wanted` members (each holds partitions)."""
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.errors import KafkaError

    admin = AIOKafkaAdminClient(bootstrap_servers=kafka)
    await admin.start()
    try:
        (response,) = await admin.describe_consumer_groups([group])
    except KafkaError:  # the group has no coordinator yet: nobody joined
        return False
    finally:
        await admin.close()
    _, _, state, _, _, members, *_ = response.groups[0]
    return state == "Stable" and len(members) == wanted
