"""The pool's rotation cursor under concurrency: decisions taken while a cursor write is in
flight go together in the next write, rotation stays exact within a process and across
processes sharing one store, and a write that fails voids exactly the decisions it carried and
those taken after them."""

from __future__ import annotations

import asyncio
import random
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pymongo.errors import AutoReconnect

from leads.bootstrap import bootstrap
from leads.domain.assignment import Pool
from support.clock import Clock
from support.leads import SOURCES
from support.leads import submit as _submit
from support.memory import MemoryLeadStore
from support.team import directory, manager

TEAM = ("anna", "boris", "clara")


class SlowPoolStore(MemoryLeadStore):
    """A store whose cursor writes take a while (`pause` event-loop turns, or until `gate` opens),
    counted, and optionally failing once with a lost connection."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[str | None] = []
        self.gate: asyncio.Event | None = None
        self.pause = lambda: 0
        self.fail_next = False

    async def advance_pool(self, pool_key: str, *, expected_version: int, cursor: str | None) -> bool:
        if self.gate is not None:
            await self.gate.wait()
        for _ in range(self.pause()):
            await asyncio.sleep(0)
        if self.fail_next:
            self.fail_next = False
            raise AutoReconnect("connection lost")
        stored = await super().advance_pool(pool_key, expected_version=expected_version, cursor=cursor)
        if stored:
            self.writes.append(cursor)
        return stored


def instance(store: MemoryLeadStore, clock: Clock):
    return bootstrap(store=store, directory=directory(*(manager(m) for m in TEAM)), sources=SOURCES, now=clock)


async def owners(store: MemoryLeadStore, taken) -> list[str]:
    return [(await store.leads.get(t.lead_id)).manager_id for t in taken]


async def test_leads_decided_during_a_cursor_write_share_the_next_one_and_rotate_exactly():
    store, clock = SlowPoolStore(), Clock()
    deps = instance(store, clock)
    store.gate = asyncio.Event()
    pending = [asyncio.create_task(_submit(deps, {"phone": "+79165550000"}))]
    await asyncio.sleep(0.01)  # the first lead's cursor write is in flight, held at the gate
    pending += [asyncio.create_task(_submit(deps, {"phone": f"+7916555{i:04d}"})) for i in range(1, 12)]
    await asyncio.sleep(0.01)  # eleven more have decided meanwhile
    assert not any(p.done() for p in pending)  # nobody is told a manager the store does not hold yet
    store.gate.set()
    taken = await asyncio.gather(*pending)
    assert len(store.writes) == 2  # the first lead's write, then one for the eleven decided during it
    chosen = await owners(store, taken)
    assert Counter(chosen) == dict.fromkeys(TEAM, 4)
    assert chosen == [*TEAM] * 4  # in the order the requests came
    assert store.writes[-1] == chosen[-1]  # the stored cursor is the last lead's manager


@settings(max_examples=60, deadline=None)
@given(
    plan=st.lists(st.tuples(st.integers(0, 1), st.integers(0, 3)), min_size=1, max_size=40),
    seed=st.integers(0, 2**16),
)
def test_two_processes_on_one_store_keep_the_rotation_exact_whatever_the_interleaving(plan, seed):
    """Each lead goes to one of two processes, arriving a few loop turns after the previous one;
    cursor writes take a random number of turns, so groups form and collide at random."""

    async def scenario() -> None:
        store, clock = SlowPoolStore(), Clock()
        rng = random.Random(seed)
        store.pause = lambda: rng.randint(0, 4)
        processes = (instance(store, clock), instance(store, clock))
        pending = []
        for i, (which, delay) in enumerate(plan):
            pending.append(asyncio.create_task(_submit(processes[which], {"phone": f"+7916777{i:04d}"})))
            for _ in range(delay):
                await asyncio.sleep(0)
        taken = await asyncio.gather(*pending)
        counts = Counter(await owners(store, taken))
        assert sum(counts.values()) == len(plan)
        spread = [counts.get(m, 0) for m in TEAM]
        assert max(spread) - min(spread) <= 1, counts
        cursor, version = await store.pool_cursor(Pool(department_id="sales").key)
        assert version == len(store.writes)
        assert cursor == store.writes[-1]

    asyncio.run(scenario())


async def test_a_lost_cursor_write_fails_its_lead_and_those_decided_after_it_are_decided_again():
    store, clock = SlowPoolStore(), Clock()
    deps = instance(store, clock)
    first = await _submit(deps, {"phone": "+79168880001"})  # anna
    store.gate, store.fail_next = asyncio.Event(), True
    lost = asyncio.create_task(_submit(deps, {"phone": "+79168881000"}))  # boris, in a write that is lost
    await asyncio.sleep(0.01)
    after = asyncio.create_task(_submit(deps, {"phone": "+79168882000"}))
    await asyncio.sleep(0.01)  # decided from the lost write's cursor: clara
    store.gate.set()
    with pytest.raises(AutoReconnect):  # the client is not told a lead was stored; it sends again
        await lost
    taken = await after
    assert len(store.leads.documents) == 2
    # decided again from what was stored: boris after anna, as if the lost lead never came
    assert await owners(store, [first, taken]) == ["anna", "boris"]
