"""The outbox: an event written with its state reaches Kafka, and a relay that dies after
publishing and before clearing re-sends the same event, which a consumer applies once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from crmhub.events import new_event
from crmhub.outbox import new_aggregate
from support.kafka import eventually, headers_of, read_topic
from support.probe import CRASH_EXIT, PROBE_TOPIC, ProbeRecorded

pytestmark = pytest.mark.integration


def _account_event(account: str, amount: int):
    return new_event(
        ProbeRecorded(account=account, amount=amount), source="/crm/test", subject=account, time=datetime.now(UTC)
    )


async def test_event_written_with_its_state_reaches_kafka_and_leaves_the_outbox(infra, mongo_client, probe, unique):
    db = f"t_outbox_{unique}"
    account = f"acct-{unique}"
    event = _account_event(account, 5)
    await mongo_client[db].accounts.insert_one({"_id": account, **new_aggregate({"balance": 5}, [event])})

    relay = probe("relay", db)
    assert await asyncio.to_thread(relay.wait, 60) == 0

    records = await read_topic(
        infra.kafka, PROBE_TOPIC.name, until=lambda rs: any(r.key == account.encode() for r in rs)
    )
    mine = [r for r in records if r.key == account.encode()]
    assert len(mine) == 1
    headers = headers_of(mine[0])
    assert headers["ce_id"] == event.id
    assert headers["ce_type"] == "test.probe.recorded"
    assert headers["ce_source"] == "/crm/test"
    assert headers["ce_subject"] == account
    assert headers["ce_specversion"] == "1.0"
    assert headers["ce_time"].endswith("Z")
    assert b'"amount":5' in mine[0].value
    doc = await mongo_client[db].accounts.find_one({"_id": account})
    assert doc["outbox"] == []
    assert doc["balance"] == 5


async def test_relay_crash_between_publish_and_clear_resends_same_id_and_consumer_applies_once(
    infra, mongo_client, probe, unique
):
    db = f"t_relaycrash_{unique}"
    account = f"acct-{unique}"
    event = _account_event(account, 7)
    await mongo_client[db].accounts.insert_one({"_id": account, **new_aggregate({"balance": 7}, [event])})

    crashed = probe("relay", db, "--crash-after-publish")
    assert await asyncio.to_thread(crashed.wait, 60) == CRASH_EXIT
    # Kafka has it, and the outbox still has it: exactly the state a crash leaves behind.
    await read_topic(infra.kafka, PROBE_TOPIC.name, until=lambda rs: any(r.key == account.encode() for r in rs))
    assert len((await mongo_client[db].accounts.find_one({"_id": account}))["outbox"]) == 1

    recovered = probe("relay", db)
    assert await asyncio.to_thread(recovered.wait, 60) == 0
    records = await read_topic(
        infra.kafka, PROBE_TOPIC.name, until=lambda rs: sum(r.key == account.encode() for r in rs) >= 2
    )
    ids = [headers_of(r)["ce_id"] for r in records if r.key == account.encode()]
    assert ids == [event.id, event.id]
    assert (await mongo_client[db].accounts.find_one({"_id": account}))["outbox"] == []

    group = f"probe-{unique}"
    probe("consume", db, "--topic", PROBE_TOPIC.name, "--group", group)
    totals = mongo_client[db].totals
    deliveries = mongo_client[db].deliveries

    async def both_copies_seen():
        doc = await deliveries.find_one({"_id": event.id})
        return doc is not None and doc["n"] == 2

    await eventually(both_copies_seen, timeout=30)
    assert (await totals.find_one({"_id": account}))["total"] == 7


async def test_pending_events_of_many_documents_keep_their_order_per_key(infra, mongo_client, probe, unique):
    db = f"t_order_{unique}"
    accounts = [f"acct-{unique}-{i}" for i in range(5)]
    expected = {}
    for account in accounts:
        events = [_account_event(account, n) for n in range(1, 6)]
        expected[account] = [e.id for e in events]
        await mongo_client[db].accounts.insert_one({"_id": account, **new_aggregate({}, events)})

    relay = probe("relay", db)
    assert await asyncio.to_thread(relay.wait, 60) == 0
    keys = {a.encode() for a in accounts}
    records = await read_topic(infra.kafka, PROBE_TOPIC.name, until=lambda rs: sum(r.key in keys for r in rs) >= 25)
    for account in accounts:
        assert [headers_of(r)["ce_id"] for r in records if r.key == account.encode()] == expected[account]
