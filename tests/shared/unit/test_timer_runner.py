"""The timer runner's scheduling of handlers within a round: timers of one aggregate fire one
after another (they would only collide on its version guard), different aggregates side by
side; an aggregate that kept changing under a handler is tried again shortly, not after a
growing backoff."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from crmhub.aggregate import ConcurrentChange
from crmhub.timers import Held, Timer, TimerRunner
from support.memory import MemoryTimers

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


class RoundStore(MemoryTimers):
    """MemoryTimers plus the runner's side: what is due, claims, done, retries."""

    def __init__(self) -> None:
        super().__init__()
        self.retries: dict[str, datetime] = {}
        self.clock = NOW  # when `schedule` is called
        self.scheduled: dict[str, datetime] = {}

    async def schedule(self, key: str, kind: str, due_at: datetime, payload=None) -> None:  # type: ignore[override]
        await super().schedule(key, kind, due_at, payload)
        self.scheduled[key] = self.clock

    async def due(self, now: datetime, kinds, *, limit: int, held=None) -> list[Timer]:  # type: ignore[override]
        def let_go(t: Timer) -> bool:
            hold = (held or {}).get(t.kind)
            if hold is None:
                return True
            return self.scheduled[t.key] <= hold.scheduled_before or (
                hold.through is not None and t.due_at <= hold.through
            )

        found = [t for t in self.due_now(now) if t.kind in kinds and t.key not in self.retries and let_go(t)]
        return found[:limit]

    async def claim(self, timers, *, owner: str, now: datetime, lease: timedelta) -> list[Timer]:  # type: ignore[override]
        return [t for t in timers if t.key in self.pending]

    async def extend(self, timer: Timer, *, owner: str, now: datetime, lease: timedelta) -> bool:
        return timer.key in self.pending

    async def done(self, timer: Timer) -> None:
        self.pending.pop(timer.key, None)

    async def done_many(self, timers, *, owner: str) -> None:  # type: ignore[override]
        for timer in timers:
            self.pending.pop(timer.key, None)

    async def retry_at(self, timer: Timer, moment: datetime, error: str) -> None:
        self.retries[timer.key] = moment


class Overlap:
    """A handler that records, per group (a payload field), the order timers fired in, how many
    of a group ran at once and how many ran at once in all."""

    def __init__(self, field: str, groups: list[str]) -> None:
        self.field = field
        self.fired: dict[str, list[str]] = {g: [] for g in groups}
        self.running = dict.fromkeys(groups, 0)
        self.most = dict.fromkeys(groups, 0)
        self.together = 0

    async def __call__(self, timer: Timer) -> None:
        group = timer.payload[self.field]
        self.running[group] += 1
        self.most[group] = max(self.most[group], self.running[group])
        self.together = max(self.together, sum(self.running.values()))
        await asyncio.sleep(0.01 * (4 - len(self.fired[group])))  # the first takes longest: a race would reorder
        self.fired[group].append(timer.key)
        self.running[group] -= 1


async def test_timers_of_one_aggregate_fire_one_after_another_and_others_side_by_side():
    store = RoundStore()
    for aggregate in ("deal-a", "deal-b"):
        for n in range(3):
            await store.schedule(f"t:{aggregate}-{n}", "t", NOW, {"aggregate": aggregate})
    handler = Overlap("aggregate", ["deal-a", "deal-b"])
    runner = TimerRunner(store, concurrency=8, now=lambda: NOW)
    runner.on("t", handler)
    assert await runner.fire_due() == 6
    assert handler.most == {"deal-a": 1, "deal-b": 1}
    assert handler.together == 2
    assert store.pending == {}


async def test_timers_of_one_sequence_fire_one_after_another_oldest_due_first():
    """A recipient's messages (one aggregate each) in the order they fell due, whatever order
    they were scheduled in; another recipient's side by side."""
    store = RoundStore()
    for n in (3, 1, 2, 0):
        for person in ("anna", "boris"):
            key = f"t:{person}-{n}"
            await store.schedule(key, "t", NOW - timedelta(seconds=10 - n), {"aggregate": key, "in_order_of": person})
    handler = Overlap("in_order_of", ["anna", "boris"])
    runner = TimerRunner(store, concurrency=8, now=lambda: NOW)
    runner.on("t", handler)
    assert await runner.fire_due() == 8
    assert handler.fired == {p: [f"t:{p}-{n}" for n in range(4)] for p in ("anna", "boris")}
    assert handler.most == {"anna": 1, "boris": 1}
    assert handler.together == 2


async def test_timers_of_a_sequence_due_in_one_millisecond_fire_in_microsecond_order():
    """Stored times keep milliseconds; a burst holds several events a millisecond."""
    store = RoundStore()
    for n in (2, 0, 1):
        await store.schedule(f"t:{n}", "t", NOW, {"aggregate": f"t:{n}", "in_order_of": "anna", "in_order_at": n})
    fired: list[str] = []

    async def handler(timer: Timer) -> None:
        fired.append(timer.key)

    runner = TimerRunner(store, now=lambda: NOW)
    runner.on("t", handler)
    assert await runner.fire_due() == 3
    assert fired == ["t:0", "t:1", "t:2"]


async def test_a_handler_whose_aggregate_kept_changing_is_tried_again_within_about_a_second():
    store = RoundStore()
    await store.schedule("t:deal-a", "t", NOW, {"aggregate": "deal-a"})

    async def busy(timer: Timer) -> None:
        raise ConcurrentChange("deal-a is being changed concurrently; retry")

    runner = TimerRunner(store, now=lambda: NOW)
    runner.on("t", busy)
    assert await runner.fire_due() == 0
    assert "t:deal-a" in store.pending  # kept
    assert NOW < store.retries["t:deal-a"] <= NOW + timedelta(seconds=1.1)


async def test_a_gated_kind_fires_only_what_its_gate_lets_go_and_other_kinds_as_usual():
    """The notifier's e-mails wait until every earlier event has been handled (the gate), or
    until they have waited long enough; its inbox messages, another kind, do not wait."""
    store = RoundStore()
    store.clock = NOW - timedelta(seconds=40)
    await store.schedule("mail:old", "mail", NOW - timedelta(seconds=40), {"aggregate": "mail:old"})
    store.clock = NOW - timedelta(seconds=10)
    for n in range(4):
        await store.schedule(f"mail:{n}", "mail", NOW - timedelta(seconds=10 - n), {"aggregate": f"mail:{n}"})
    await store.schedule("inbox:0", "inbox", NOW - timedelta(seconds=10), {"aggregate": "inbox:0"})
    hold = Held(through=None, scheduled_before=NOW - timedelta(seconds=30))  # nothing known yet
    asked: list[datetime] = []

    async def gate(now: datetime) -> Held:
        asked.append(now)
        return hold

    fired: list[str] = []

    async def handler(timer: Timer) -> None:
        fired.append(timer.key)

    runner = TimerRunner(store, now=lambda: NOW)
    runner.on("mail", handler, gate=gate)
    runner.on("inbox", handler)
    assert await runner.fire_due() == 2
    assert sorted(fired) == ["inbox:0", "mail:old"]  # waited 40 s: gone without the gate's word
    assert asked == [NOW]
    hold = Held(through=NOW - timedelta(seconds=8.5), scheduled_before=hold.scheduled_before)
    assert await runner.fire_due() == 2
    assert fired[2:] == ["mail:0", "mail:1"]
    hold = Held(through=NOW + timedelta(seconds=5), scheduled_before=hold.scheduled_before)
    await store.schedule("mail:later", "mail", NOW + timedelta(seconds=1), {"aggregate": "mail:later"})
    assert await runner.fire_due() == 2  # never before its own time, whatever the gate says
    assert fired[4:] == ["mail:2", "mail:3"]
