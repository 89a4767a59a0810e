"""The timer runner's scheduling of handlers within a round: timers of one aggregate fire one
after another (they would only collide on its version guard), different aggregates side by
side; an aggregate that kept changing under a handler is tried again shortly, not after a
growing backoff."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from crmhub.aggregate import ConcurrentChange
from crmhub.timers import Timer, TimerRunner
from support.memory import MemoryTimers

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


class RoundStore(MemoryTimers):
    """MemoryTimers plus the runner's side: what is due, claims, done, retries."""

    def __init__(self) -> None:
        super().__init__()
        self.retries: dict[str, datetime] = {}

    async def due(self, now: datetime, kinds, *, limit: int) -> list[Timer]:  # type: ignore[override]
        return [t for t in self.due_now(now) if t.kind in kinds and t.key not in self.retries][:limit]

    async def claim(self, timer: Timer, *, owner: str, now: datetime, lease: timedelta) -> bool:
        return timer.key in self.pending

    async def done(self, timer: Timer) -> None:
        self.pending.pop(timer.key, None)

    async def retry_at(self, timer: Timer, moment: datetime, error: str) -> None:
        self.retries[timer.key] = moment


async def test_timers_of_one_aggregate_fire_one_after_another_and_others_side_by_side():
    store = RoundStore()
    for aggregate in ("deal-a", "deal-b"):
        for n in range(3):
            await store.schedule(f"t:{aggregate}-{n}", "t", NOW, {"aggregate": aggregate})
    running: dict[str, int] = {"deal-a": 0, "deal-b": 0}
    most: dict[str, int] = {"deal-a": 0, "deal-b": 0}
    together = 0

    async def handler(timer: Timer) -> None:
        nonlocal together
        aggregate = timer.payload["aggregate"]
        running[aggregate] += 1
        most[aggregate] = max(most[aggregate], running[aggregate])
        together = max(together, sum(running.values()))
        await asyncio.sleep(0.01)
        running[aggregate] -= 1

    runner = TimerRunner(store, concurrency=8, now=lambda: NOW)
    runner.on("t", handler)
    assert await runner.fire_due() == 6
    assert most == {"deal-a": 1, "deal-b": 1}
    assert together == 2
    assert store.pending == {}


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
