"""Durable timers against the real MongoDB-wire server: a due timer fires exactly once across a
kill -9 of its process and across two running instances; moved timers fire at their new time,
cancelled ones never; a failing handler is retried and its timer kept; /metrics counts it all."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import ClassVar

import pytest
from prometheus_client import REGISTRY
from pymongo import AsyncMongoClient, monitoring

from crmhub.aggregate import Aggregate
from crmhub.aggregate_store import AggregateStore
from crmhub.timers import Held, Timer, TimerRunner, TimerStore
from support.clock import Clock
from support.kafka import eventually
from support.probe import CRASH_EXIT

pytestmark = pytest.mark.integration


async def test_a_due_timer_fires_exactly_once_across_a_kill_9_of_its_process(infra, mongo_client, probe, unique):
    db_name = f"t_timers_{unique}"
    db = mongo_client[db_name]
    store = TimerStore(db["timers"])
    await store.schedule(f"probe.tick:{unique}", "probe.tick", datetime.now(UTC))
    firing_id = f"probe.tick:{unique}#1"

    crashed = probe("timers", db_name, "--lease", "2", "--crash-after-effect")
    await asyncio.to_thread(crashed.wait, 60)
    assert crashed.returncode == CRASH_EXIT
    assert await db.effects.count_documents({}) == 1
    assert await store.get(f"probe.tick:{unique}") is not None  # not marked fired: it must fire again

    probe("timers", db_name, "--lease", "2")
    await eventually(lambda: _gone(store, f"probe.tick:{unique}"), timeout=30)
    assert await db.effects.count_documents({}) == 1  # the effect happened once
    assert (await db.firings.find_one({"_id": firing_id}))["n"] == 2  # fired again after the crash, same firing id


async def _gone(store: TimerStore, key: str) -> bool:
    return await store.get(key) is None


async def test_two_running_instances_fire_each_due_timer_once(infra, mongo_client, probe, unique):
    db_name = f"t_timers_{unique}"
    db = mongo_client[db_name]
    store = TimerStore(db["timers"])
    now = datetime.now(UTC)
    for i in range(150):
        await store.schedule(f"probe.tick:{unique}-{i}", "probe.tick", now + timedelta(milliseconds=10 * i))
    probe("timers", db_name)
    probe("timers", db_name)
    await eventually(lambda: _all_fired(store), timeout=60)
    firings = await db.firings.find().to_list()
    assert len(firings) == 150
    assert [f["_id"] for f in firings if f["n"] != 1] == []
    assert await db.effects.count_documents({}) == 150


async def _all_fired(store: TimerStore) -> bool:
    return await store.collection.count_documents({}) == 0


async def test_a_moved_timer_fires_at_its_new_time_and_a_cancelled_one_never(mongo_client, unique):
    clock = Clock(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))
    store = TimerStore(mongo_client[f"t_timers_{unique}"]["timers"])
    runner = TimerRunner(store, now=clock)
    fired: list[str] = []

    async def remember(timer: Timer) -> None:
        fired.append(timer.firing_id)

    runner.on("deal.follow_up", remember)
    await store.schedule("deal.follow_up:a", "deal.follow_up", clock.now + timedelta(minutes=5))
    await store.schedule("deal.follow_up:b", "deal.follow_up", clock.now + timedelta(minutes=5))
    await store.schedule("deal.follow_up:a", "deal.follow_up", clock.now + timedelta(minutes=30))  # moved
    await store.cancel("deal.follow_up:b")
    clock.now += timedelta(minutes=10)
    assert await runner.fire_due() == 0
    clock.now += timedelta(minutes=30)
    assert await runner.fire_due() == 1
    assert fired == ["deal.follow_up:a#2"]
    assert await runner.fire_due() == 0  # fired timers are gone


async def test_a_failing_handler_keeps_its_timer_and_it_fires_again_after_a_backoff(mongo_client, unique):
    clock = Clock(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))
    store = TimerStore(mongo_client[f"t_timers_{unique}"]["timers"])
    runner = TimerRunner(store, now=clock)
    attempts: list[datetime] = []

    async def flaky(timer: Timer) -> None:
        attempts.append(clock.now)
        if len(attempts) == 1:
            raise ConnectionError("the mail server is down")

    runner.on("task.due", flaky)
    await store.schedule("task.due:t1", "task.due", clock.now)
    before = _sample("crmhub_timers_fired_total", kind="task.due", outcome="fired")
    assert await runner.fire_due() == 0
    assert (await store.get("task.due:t1")).attempts == 1
    assert await runner.fire_due() == 0  # backing off
    clock.now += timedelta(seconds=2)
    assert await runner.fire_due() == 1
    assert len(attempts) == 2
    assert await store.get("task.due:t1") is None
    assert _sample("crmhub_timers_fired_total", kind="task.due", outcome="fired") == before + 1
    assert _sample("crmhub_timer_lateness_seconds_count", kind="task.due") >= 1


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_a_timer_whose_aggregate_is_a_moment_away_fires_once_it_is_there_and_a_spare_is_dropped(
    mongo_client, unique
):
    from crmhub.timers import NotYet

    clock = Clock(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))
    store = TimerStore(mongo_client[f"t_timers_{unique}"]["timers"])
    runner = TimerRunner(store, now=clock)
    stored: set[str] = set()
    fired: list[str] = []

    async def send(timer: Timer) -> None:
        if timer.subject not in stored:
            raise NotYet(timer.subject)
        fired.append(timer.subject)

    runner.on("delivery.send", send)
    await store.schedule("delivery.send:d1", "delivery.send", clock.now)  # scheduled just before d1 is written
    await store.schedule("delivery.send:d2", "delivery.send", clock.now)  # ... d2's write never happens
    assert await runner.fire_due() == 0
    stored.add("d1")
    for _ in range(8):
        clock.now += timedelta(seconds=10)
        await runner.fire_due()
    assert fired == ["d1"]
    assert await store.collection.count_documents({}) == 0  # the spare was dropped, not retried for ever


async def test_timers_of_a_gated_kind_wait_in_the_database_query_for_their_gate(mongo_client, unique):
    """The query itself leaves held timers out (a backlog of e-mails waiting for the watermark is
    not read, claimed and put back every round), oldest first, other kinds as usual; one that
    has waited long enough goes whatever the gate says."""
    store = TimerStore(mongo_client[f"t_timers_{unique}"]["timers"])
    now = datetime.now(UTC)
    await store.schedule("mail:waited", "mail", now - timedelta(seconds=60))
    await asyncio.sleep(0.01)  # stored times keep milliseconds
    waited_from = datetime.now(UTC)
    await asyncio.sleep(0.01)
    for n in range(5):
        await store.schedule(f"mail:{n}", "mail", now - timedelta(seconds=10 - n))
        await store.schedule(f"inbox:{n}", "inbox", now - timedelta(seconds=10 - n))
    await store.schedule("mail:future", "mail", now + timedelta(seconds=1))
    hold = Held(through=now - timedelta(seconds=7.5), scheduled_before=waited_from)
    due = await store.due(now, ["mail", "inbox"], limit=100, held={"mail": hold})
    assert [t.key for t in due if t.kind == "mail"] == ["mail:waited", "mail:0", "mail:1", "mail:2"]
    assert [t.key for t in due if t.kind == "inbox"] == [f"inbox:{n}" for n in range(5)]
    assert [t.due_at for t in due] == sorted(t.due_at for t in due)
    unknown = Held(through=None, scheduled_before=waited_from)
    assert [t.key for t in await store.due(now, ["mail"], limit=100, held={"mail": unknown})] == ["mail:waited"]
    past_now = Held(through=now + timedelta(hours=1), scheduled_before=waited_from)
    only_mail = await store.due(now, ["mail"], limit=100, held={"mail": past_now})
    assert [t.key for t in only_mail] == ["mail:waited"] + [f"mail:{n}" for n in range(5)]  # never before its time


async def test_a_sequence_due_within_one_millisecond_is_taken_in_its_order_and_only_once_that_millisecond_is_past(
    mongo_client, unique
):
    """A burst queues several messages to one person within a millisecond, and stored times keep
    milliseconds: the query orders them by their microseconds, so a round's limit never takes a
    later one before an earlier one; and a gate inside that millisecond lets none of them go
    (an earlier event of that millisecond may not be handled yet)."""
    store = TimerStore(mongo_client[f"t_timers_{unique}"]["timers"])
    moment = (datetime.now(UTC) - timedelta(seconds=10)).replace(microsecond=500_000)
    for n in (3, 0, 2, 1):
        at = moment + timedelta(microseconds=100 * n)
        payload = {"aggregate": f"m{n}", "in_order_of": "anna", "in_order_at": round(at.timestamp() * 1_000_000)}
        await store.schedule(f"mail:{3 - n}", "mail", at, payload)  # keys in the other order than times
    now = moment + timedelta(seconds=5)  # scheduled just now: not waiting long enough to go without the gate
    assert [t.key for t in await store.due(now, ["mail"], limit=2)] == ["mail:3", "mail:2"]
    inside = Held(through=moment + timedelta(microseconds=500), scheduled_before=now - timedelta(hours=1))
    assert await store.due(now, ["mail"], limit=10, held={"mail": inside}) == []
    past = Held(through=moment + timedelta(milliseconds=1), scheduled_before=now - timedelta(hours=1))
    assert [t.key for t in await store.due(now, ["mail"], limit=10, held={"mail": past})] == [
        f"mail:{3 - n}" for n in range(4)
    ]


async def test_a_round_claims_its_timers_at_once_and_leaves_one_moved_meanwhile_free_at_its_new_time(
    mongo_client, unique
):
    store = TimerStore(mongo_client[f"t_timers_{unique}"]["timers"])
    now = datetime.now(UTC)
    for n in range(3):
        await store.schedule(f"t:{n}", "t", now - timedelta(seconds=1))
    due = await store.due(now, ["t"], limit=10)
    await store.schedule("t:1", "t", now + timedelta(seconds=5))  # moved between the read and the claim
    lease = timedelta(seconds=30)
    claimed = await store.claim(due, owner="a", now=now, lease=lease)
    assert [t.key for t in claimed] == ["t:0", "t:2"]
    assert await store.claim(due, owner="b", now=now, lease=lease) == []  # another instance gets none of them
    # at its new time, t:1 fires: a's claim, held for 30 s, did not keep it
    assert [t.key for t in await store.due(now + timedelta(seconds=6), ["t"], limit=10)] == ["t:1"]


async def test_a_timer_scheduled_again_while_it_fires_keeps_its_new_time_and_the_others_are_removed(
    mongo_client, unique
):
    store = TimerStore(mongo_client[f"t_timers_{unique}"]["timers"])
    clock = Clock(datetime.now(UTC))
    runner = TimerRunner(store, now=clock)
    fired: list[str] = []

    async def handler(timer: Timer) -> None:
        fired.append(timer.key)
        if fired.count("t:1") == 1 and timer.key == "t:1":  # the first time, its aggregate asks for
            await store.schedule("t:1", "t", clock.now + timedelta(minutes=5))  # another reminder meanwhile

    runner.on("t", handler)
    for n in range(3):
        await store.schedule(f"t:{n}", "t", clock.now - timedelta(seconds=1))
    assert await runner.fire_due() == 3
    assert sorted(fired) == ["t:0", "t:1", "t:2"]
    remaining = await store.collection.find({}).to_list()
    assert [d["_id"] for d in remaining] == ["t:1"]
    clock.now += timedelta(minutes=6)
    assert await runner.fire_due() == 1
    assert await store.collection.count_documents({}) == 0


async def test_a_round_that_outlasts_half_its_lease_renews_it_before_firing_and_skips_what_was_taken(
    mongo_client, unique
):
    """A slow channel can make one round long; a timer is fired only while its lease still runs
    (renewed at half time), so another instance that took it meanwhile is not doubled."""
    store = TimerStore(mongo_client[f"t_timers_{unique}"]["timers"])
    clock = Clock(datetime.now(UTC))
    runner = TimerRunner(store, now=clock, lease=timedelta(seconds=10), concurrency=1)
    fired: list[str] = []

    async def slow(timer: Timer) -> None:
        fired.append(timer.key)
        clock.now += timedelta(seconds=6)  # past half the lease
        if timer.key == "t:0":  # meanwhile another instance found t:2's lease... expired and took it
            await store.collection.update_one({"_id": "t:2"}, {"$set": {"owner": "other"}})

    runner.on("t", slow)
    for n in range(3):
        await store.schedule(f"t:{n}", "t", clock.now - timedelta(seconds=3 - n), {"in_order_of": "anna"})
    assert await runner.fire_due() == 2
    assert fired == ["t:0", "t:1"]
    renewed = await store.collection.find_one({"_id": "t:2"})
    assert renewed is not None
    assert renewed["owner"] == "other"


async def test_a_handler_cancelling_its_own_timer_leaves_it_to_the_round_and_other_cancels_apply_at_once(
    mongo_client, unique
):
    """A delivery sent cancels its send timer as it is recorded; the round removes that timer
    with the others it fired (one write for all), while a cancel of another timer applies at
    once."""
    store = TimerStore(mongo_client[f"t_timers_{unique}"]["timers"])
    runner = TimerRunner(store)
    seen: list[int] = []

    async def handler(timer: Timer) -> None:
        await store.cancel(timer.key)
        await store.cancel("t:other")
        seen.append(await store.collection.count_documents({"_id": {"$in": [timer.key, "t:other"]}}))

    runner.on("t", handler)
    await store.schedule("t:0", "t", datetime.now(UTC) - timedelta(seconds=1))
    await store.schedule("t:other", "other", datetime.now(UTC) + timedelta(hours=1))
    assert await runner.fire_due() == 1
    assert seen == [1]  # inside the handler: its own timer still there (held by the round), the other gone
    assert await store.collection.count_documents({}) == 0
    await store.schedule("t:1", "t", datetime.now(UTC) + timedelta(hours=1))
    await store.cancel("t:1")  # outside any handler: at once
    assert await store.get("t:1") is None


class _Visit(Aggregate):
    """An aggregate that, like a lead assigned at once, schedules one timer and cancels another."""

    event_source: ClassVar[str] = "/test/visits"

    def plan(self, due_at: datetime) -> None:
        self.schedule("visit.remind", due_at)
        self.cancel_timer("visit.retry")


class _Deletes(monitoring.CommandListener):
    def __init__(self) -> None:
        self.collections: list[str] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name == "delete":
            self.collections.append(event.command["delete"])

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


async def test_a_new_aggregate_stores_its_timers_without_deleting_any_and_a_saved_one_removes_its_cancelled(
    infra, unique
):
    """No timer of an aggregate never stored can be pending, so `add` writes its schedules and
    sends no delete for its cancels (a new lead cancels its retry timer: one round trip per lead
    for nothing); a later save's cancel does remove the timer."""
    deletes = _Deletes()
    client: AsyncMongoClient[dict] = AsyncMongoClient(infra.mongo, tz_aware=True, event_listeners=[deletes])
    try:
        db = client[f"t_timers_add_{unique}"]
        timers = TimerStore(db["timers"])
        visits = AggregateStore(db["visits"], _Visit, timers=timers)
        due = datetime.now(UTC) + timedelta(hours=1)
        visit = _Visit(id="v1")
        visit.plan(due)
        assert await visits.add(visit)
        assert (await timers.get("visit.remind:v1")).due_at == due.replace(microsecond=due.microsecond // 1000 * 1000)
        assert deletes.collections == []

        def stop_reminding(v: _Visit) -> None:
            v.cancel_timer("visit.remind")

        await visits.change("v1", stop_reminding)
        assert await timers.get("visit.remind:v1") is None
        assert deletes.collections == ["timers"]
    finally:
        await client.close()
