"""Giving leads to managers: the pool's persisted round-robin cursor, the open-lead counts, and
the two timers a lead may set — the next try when nobody was on duty, and its first-response
deadline (a breach tells the head and gives the lead to the next manager on duty)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from crmhub.aggregate_store import retry_on_conflict
from crmhub.schemas.leads import AssignReason
from crmhub.team_directory import TeamDirectory
from crmhub.timers import NotYet, Timer
from crmhub.working_time import add_working_time, workplace_of
from leads import metrics
from leads.adapters.lead_store import LeadStore
from leads.adapters.sources import Source
from leads.domain.assignment import choose_pool, decide, members_of
from leads.domain.lead import Lead

if TYPE_CHECKING:
    from leads.service_layer.context import Leads

log = logging.getLogger("leads.assignment")

# a conflict costs a re-read and a decision: two busy instances on one pool may meet several in a row
POOL_RETRIES = 32


def _settle(waiting: list[asyncio.Future[bool]], outcome: bool | BaseException) -> None:
    for future in waiting:
        if future.done():  # its request gave up
            continue
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)


@dataclass(eq=False)
class _Cursor:
    """A pool's round-robin cursor as this process knows it: `at`, with every decision taken
    here so far, and the `version` last stored. The decisions not yet stored wait in
    `unstored`, each for the write that carries it."""

    at: str | None
    version: int
    unstored: list[asyncio.Future[bool]] = field(default_factory=list)
    writer: asyncio.Task[None] | None = None


class Assigner:
    """One per process: the pools' cursors as this process last moved them (re-read only when
    another instance moved one: the version check fails), and the open leads per manager for
    capacity and least-loaded, adjusted as leads come and go and re-counted from the store
    every `recount_seconds` (which takes in other instances' work).

    Decisions from one pool are taken one after another in memory, each from the cursor the
    previous one left, so rotation is exact; a lead is given its manager only once a write of
    a cursor at or past its decision is stored. Decisions taken while a write is in flight go
    together in the next one (group commit): a busy pool costs one write per round trip, not
    one per lead. When another instance moved the cursor meanwhile, the write fails and every
    decision it carried, and every one taken after it, is taken again from the stored cursor."""

    def __init__(
        self,
        store: LeadStore,
        directory: TeamDirectory,
        *,
        recount_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.directory = directory
        self.recount_seconds = recount_seconds
        self._clock = clock
        self._loading: dict[str, asyncio.Lock] = {}
        self._cursors: dict[str, _Cursor] = {}
        self.loads: dict[str, int] = {}
        self._counted_at = float("-inf")

    def change_load(self, manager_id: str | None, delta: int) -> None:
        if manager_id:
            self.loads[manager_id] = max(0, self.loads.get(manager_id, 0) + delta)

    async def _fresh_loads(self) -> dict[str, int]:
        if self._clock() - self._counted_at > self.recount_seconds:
            self.loads = await self.store.open_leads_by_manager()
            self._counted_at = self._clock()
        return self.loads

    async def assign(
        self, lead: Lead, source: Source, now: datetime, *, reason: AssignReason, exclude: frozenset[str] = frozenset()
    ) -> None:
        """Give the lead to a manager, advancing the pool's persisted cursor; or set when to retry."""
        assignment = source.assignment
        pool = choose_pool(
            assignment.rule_list(),
            assignment.pool.pool(),
            source_id=lead.source_id,
            product=lead.product,
            region=lead.region,
            campaign=lead.utm.campaign,
        )
        loads = await self._fresh_loads()

        async def attempt() -> bool:
            cursor = await self._cursor(pool.key)
            # from here to the write's request nothing awaits: the decision and the cursor move are one step
            decision = decide(
                pool,
                members_of(pool, self.directory, loads),
                cursor=cursor.at,
                now=now,
                sla=timedelta(minutes=source.sla_minutes),
                off_duty=assignment.off_duty,
                directory=self.directory,
                exclude=exclude,
            )
            if decision.manager_id is None or decision.department_id is None:
                lead.wait_until(decision.retry_at or now + timedelta(minutes=1))
                log.info("lead %s waits for a manager: %s", lead.id, decision.reason)
                return True
            # a decision taken from decisions not yet stored stands only once they are
            if decision.cursor != cursor.at or (cursor.writer is not None and not cursor.writer.done()):
                cursor.at = decision.cursor
                if not await self._stored(pool.key, cursor):
                    return False  # another instance assigned from this pool meanwhile
            lead.assign(
                manager_id=decision.manager_id,
                department_id=decision.department_id,
                now=now,
                sla_deadline=None if lead.answered_by_call_back else decision.sla_deadline,
                reason=reason,
            )
            return True

        await retry_on_conflict(attempt, what=f"pool {pool.key}", retries=POOL_RETRIES)

    async def _cursor(self, pool_key: str) -> _Cursor:
        cursor = self._cursors.get(pool_key)
        if cursor is None:
            async with self._loading.setdefault(pool_key, asyncio.Lock()):
                cursor = self._cursors.get(pool_key)
                if cursor is None:
                    cursor = self._cursors[pool_key] = _Cursor(*await self.store.pool_cursor(pool_key))
        return cursor

    def _stored(self, pool_key: str, cursor: _Cursor) -> asyncio.Future[bool]:
        """Resolves True once a write of the cursor carrying the latest decision is stored, False
        when that write found the cursor moved by another instance."""
        stored: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        cursor.unstored.append(stored)
        if cursor.writer is None or cursor.writer.done():
            cursor.writer = asyncio.create_task(self._write(pool_key, cursor))
        return stored

    async def _write(self, pool_key: str, cursor: _Cursor) -> None:
        carried: list[asyncio.Future[bool]] = []
        outcome: bool | BaseException = False
        try:
            while cursor.unstored and self._cursors.get(pool_key) is cursor:
                carried, cursor.unstored = cursor.unstored, []
                if not await self.store.advance_pool(pool_key, expected_version=cursor.version, cursor=cursor.at):
                    break
                cursor.version += 1
                _settle(carried, True)
                carried = []
            if not carried and not cursor.unstored:
                return  # every decision is stored
        except Exception as exc:  # the database went away: whoever waits meets it
            outcome = exc
        except BaseException:  # the service is stopping
            for waiting in (*carried, *cursor.unstored):
                waiting.cancel()
            raise
        # the stored cursor is not the one this process moved: every decision not stored is void,
        # those the failed write carried fail with it, those taken after it are taken again
        if self._cursors.get(pool_key) is cursor:
            del self._cursors[pool_key]
        unstored, cursor.unstored = cursor.unstored, []
        _settle(carried, outcome)
        _settle(unstored, False)

    def next_deadline(self, manager_id: str, now: datetime, source: Source) -> datetime:
        manager = self.directory.manager(manager_id)
        department = self.directory.department(manager.department_id) if manager else None
        sla = timedelta(minutes=source.sla_minutes)
        deadline = add_working_time(manager, workplace_of(department), now, sla) if manager and department else None
        return deadline or now + sla


async def assign_waiting(deps: Leads, timer: Timer) -> None:
    """A lead that found nobody on duty: its retry time has come."""
    now = deps.now()
    lead = await deps.store.leads.get(timer.subject)
    if lead is None:
        raise NotYet(timer.subject)
    if lead.status != "new" or lead.assign_after is None or lead.assign_after > now:
        return  # taken, closed, or moved since the timer was set: nothing to do
    source = deps.source_of(lead)
    if source is None:
        return
    await deps.assigner.assign(lead, source, now, reason="shift_start")
    if not await deps.store.leads.save(lead):
        await _look_again(deps, timer, now)
        return
    deps.assigner.change_load(lead.manager_id, +1)


async def escalate(deps: Leads, timer: Timer) -> None:
    """The first-response deadline passed with the lead not taken: tell the head, give it to the next manager on duty."""
    now = deps.now()
    lead = await deps.store.leads.get(timer.subject)
    if lead is None:
        raise NotYet(timer.subject)
    if lead.status != "assigned" or lead.sla_deadline is None or lead.sla_deadline > now or lead.manager_id is None:
        return  # taken in time, closed, or given a new deadline since: a spare timer
    source = deps.source_of(lead)
    if source is None:
        return
    previous = lead.manager_id
    department = deps.directory.department(lead.department_id or "")
    lead.breach_sla(now=now, head_manager_id=department.head_manager_id if department else None)
    await deps.assigner.assign(lead, source, now, reason="sla_escalation", exclude=frozenset({previous}))
    if lead.manager_id == previous:
        lead.extend_sla(deps.assigner.next_deadline(previous, now, source))
    if await deps.store.leads.save(lead):
        metrics.SLA_BREACHES.labels(lead.source_id).inc()
        if lead.manager_id != previous:
            deps.assigner.change_load(previous, -1)
            deps.assigner.change_load(lead.manager_id, +1)
    else:
        await _look_again(deps, timer, now)


async def _look_again(deps: Leads, timer: Timer, now: datetime) -> None:
    """The lead changed under us (and the attempt's own timer request may have moved the timer):
    look at it again at once, from its stored state."""
    assert deps.store.leads.timers is not None
    await deps.store.leads.timers.schedule(timer.key, timer.kind, now)
