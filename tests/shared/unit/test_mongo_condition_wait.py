"""The wedge after a database restart (issue 10, item 1): PyMongo's async driver waits on its
topology and pool conditions under a lock. On Python 3.11 its `asyncio.wait_for` could leave that
lock held by nobody when a timeout, a cancellation of the caller and a notify met — every later
server selection then hung for good. crmhub.mongo puts a wait that always returns the lock in
its place. These trials drive the driver's own lock and condition through those races."""

from __future__ import annotations

import asyncio
import random

import pymongo.asynchronous.pool
import pymongo.asynchronous.topology
from pymongo.lock import _async_create_condition, _async_create_lock

from crmhub.mongo import condition_wait


async def _trial(rng: random.Random) -> tuple[bool, list[str]]:
    """Three server selections waiting with short timeouts, cancelled and notified at random
    moments; then: is the lock free again, and did anything fail on the lock itself?"""
    lock = _async_create_lock()
    condition = _async_create_condition(lock)
    errors: list[str] = []

    async def select() -> None:  # the shape of Topology._select_servers_loop
        try:
            async with lock:
                await pymongo.asynchronous.topology._async_cond_wait(condition, rng.choice([0.001, 0.002, 0.005]))
        except RuntimeError as exc:
            errors.append(str(exc))

    async def server_came_back() -> None:
        async with lock:
            condition.notify_all()

    selections = [asyncio.create_task(select()) for _ in range(3)]
    others = []
    for _ in range(rng.randint(1, 6)):
        await asyncio.sleep(rng.choice([0, 0, 0.001, 0.002]))
        if rng.random() < 0.5:
            rng.choice(selections).cancel()
        else:
            others.append(asyncio.create_task(server_came_back()))
    await asyncio.wait([*selections, *others], timeout=1)
    try:
        async with asyncio.timeout(1):
            async with lock:
                pass
    except TimeoutError:
        return True, errors
    return False, errors


def test_the_driver_uses_the_wait_that_gives_its_lock_back():
    assert pymongo.asynchronous.topology._async_cond_wait is condition_wait
    assert pymongo.asynchronous.pool._async_cond_wait is condition_wait


def test_cancelled_and_notified_waits_never_leave_the_drivers_lock_held():
    # With asyncio.wait_for (PyMongo's own wait on Python 3.11) about 2 % of these trials left the
    # lock held for good, and some raised "cannot wait on un-acquired lock".
    async def trials() -> tuple[int, list[str]]:
        rng = random.Random(1)
        wedged, errors = 0, []
        for _ in range(600):
            stuck, failed = await _trial(rng)
            wedged += stuck
            errors += failed
        return wedged, errors

    wedged, errors = asyncio.run(trials())
    assert (wedged, errors) == (0, [])


def test_a_wait_still_times_out_and_still_wakes_when_notified():
    async def scenario() -> tuple[bool, bool]:
        lock = _async_create_lock()
        condition = _async_create_condition(lock)
        async with lock:
            timed_out = await condition_wait(condition, 0.01)

        async def notify_soon() -> None:
            await asyncio.sleep(0.01)
            async with lock:
                condition.notify_all()

        task = asyncio.create_task(notify_soon())
        async with lock:
            woken = await condition_wait(condition, 10)
        await task
        return timed_out, woken

    assert asyncio.run(scenario()) == (False, True)
