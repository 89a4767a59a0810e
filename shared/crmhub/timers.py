"""Durable timers: "do this at that time", kept in the owning service's database.

A timer is one document in the service's `timers` collection, `_id` = its key (for example
`lead.sla:<lead id>`): scheduling the same key again moves it (and starts a new generation),
cancelling deletes it. Every instance of the service runs a `TimerRunner`, which

- finds due timers of the kinds it handles, claims each one with a lease (a conditional
  update: of two instances exactly one gets it), calls the kind's handler and deletes the timer
  only after the handler returned;
- lets a lease expire when its holder dies (kill -9 included): the timer is fired again by
  whoever comes next, with the same `firing_id`, so handlers must be idempotent. The hub's
  handlers are: they re-check the aggregate's own state (a deadline that was met or moved
  is not breached twice) and write through version-guarded updates;
- retries a handler that failed, with backoff, and never drops a timer.

Aggregates ask for timers as they change (`Aggregate.schedule` / `cancel_timer`), and
`AggregateStore` applies those requests: schedules *before* the aggregate is written and
cancels *after*, so a crash in between leaves at most a spare timer, whose handler finds
nothing to do, and never a missing one. The aggregate stays the truth; a timer is a durable
reminder to look at it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection

from crmhub import metrics
from crmhub.aggregate import AGGREGATE, IN_ORDER_AT, IN_ORDER_OF, ConcurrentChange, Schedule, TimerChange
from crmhub.mongo import Document, GroupCommit

log = logging.getLogger("crmhub.timers")

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
STORED_PRECISION = timedelta(milliseconds=1)  # BSON dates
# The timer whose handler runs in this task: an aggregate that cancels it as it acts on it (a
# delivery sent) leaves its removal to the runner, which does it for the whole round at once.
FIRING: ContextVar[str | None] = ContextVar("firing_timer", default=None)


@dataclass(frozen=True)
class Timer:
    key: str
    kind: str
    due_at: datetime
    payload: dict[str, Any]
    generation: int
    attempts: int = 0

    @property
    def subject(self) -> str:
        """What the timer is about: the key without its kind."""
        return self.key.removeprefix(f"{self.kind}:")

    @property
    def firing_id(self) -> str:
        """The same for every attempt to fire this scheduling of the timer: effects keyed by it happen once."""
        return f"{self.key}#{self.generation}"

    @classmethod
    def from_document(cls, doc: Document) -> Timer:
        return cls(
            key=doc["_id"],
            kind=doc["kind"],
            due_at=_aware(doc["due_at"]),
            payload=dict(doc.get("payload") or {}),
            generation=int(doc.get("generation", 1)),
            attempts=int(doc.get("attempts", 0)),
        )


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class TimerStore:
    """The `timers` collection of one service."""

    def __init__(
        self, collection: AsyncCollection[Document], *, on_scheduled: Callable[[datetime], None] = lambda due_at: None
    ) -> None:
        self.collection = collection
        self._on_scheduled = on_scheduled
        self._schedules = GroupCommit(collection)  # concurrent requests' timers share a bulk write

    async def ensure_indexes(self) -> None:
        # Used by real MongoDB; the embedded wire server scans, which stays cheap because the
        # collection holds pending timers only (fired ones are deleted).
        await self.collection.create_index([("due_at", ASCENDING), (f"payload.{IN_ORDER_AT}", ASCENDING)])

    async def schedule(self, key: str, kind: str, due_at: datetime, payload: dict[str, Any] | None = None) -> None:
        await self._schedules.update(
            key,
            {
                "$set": {
                    "kind": kind,
                    "due_at": due_at,
                    "payload": payload or {},
                    "lease_until": EPOCH,
                    "owner": None,  # scheduled again: no longer the claim of whoever fires it now
                    "attempts": 0,
                    "scheduled_at": datetime.now(UTC),
                },
                "$inc": {"generation": 1},
            },
            upsert=True,
        )
        metrics.TIMERS_SCHEDULED.labels(kind).inc()
        self._on_scheduled(due_at)

    async def cancel(self, key: str) -> None:
        if FIRING.get() == key:
            return  # its handler is running: the runner removes it once the handler returned
        await self.collection.delete_one({"_id": key})

    async def apply(self, changes: Iterable[TimerChange]) -> None:
        for change in changes:
            if isinstance(change, Schedule):
                await self.schedule(change.key, change.kind, change.due_at, change.payload)
            else:
                await self.cancel(change.key)

    async def get(self, key: str) -> Timer | None:
        doc = await self.collection.find_one({"_id": key})
        return None if doc is None else Timer.from_document(doc)

    async def due(
        self, now: datetime, kinds: Sequence[str], *, limit: int, held: Mapping[str, Held] | None = None
    ) -> list[Timer]:
        """The timers due by `now`, oldest first; those of a kind in `held` only when it lets them go."""
        held = held or {}
        plain = [kind for kind in kinds if kind not in held]
        clauses: list[Document] = [{"kind": {"$in": plain}, "due_at": {"$lte": now}}] if plain else []
        for kind, hold in held.items():
            let_go: list[Document] = [{"scheduled_at": {"$lte": hold.scheduled_before}}]
            if hold.through is not None:
                # stored times keep milliseconds: a timer stored at M fell due before M + 1 ms
                let_go.append({"due_at": {"$lte": hold.through - STORED_PRECISION}})
            clauses.append({"kind": kind, "due_at": {"$lte": now}, "$or": let_go})
        query = {"lease_until": {"$lte": now}, **(clauses[0] if len(clauses) == 1 else {"$or": clauses})}
        # a sequence's timers due in one millisecond (a burst) in their order, also across rounds
        order = [("due_at", ASCENDING), (f"payload.{IN_ORDER_AT}", ASCENDING)]
        docs = await self.collection.find(query).sort(order).limit(limit).to_list()
        return [Timer.from_document(d) for d in docs]

    async def claim(self, timers: Sequence[Timer], *, owner: str, now: datetime, lease: timedelta) -> list[Timer]:
        """Take these timers for `lease` in two round trips, whatever their number: the ones this
        claim (`owner`, unique to it) got, in the order given. Not those another instance holds,
        nor those moved or cancelled since they were read (one moved meanwhile is let go again
        at once: it waits for its new time, not for this lease)."""
        if not timers:
            return []
        keys = [t.key for t in timers]
        await self.collection.update_many(
            {"_id": {"$in": keys}, "lease_until": {"$lte": now}},
            {"$set": {"lease_until": now + lease, "owner": owner}},
        )
        found = await self.collection.find({"_id": {"$in": keys}, "owner": owner}, {"generation": 1}).to_list()
        generations = {d["_id"]: int(d.get("generation", 1)) for d in found}
        claimed = [t for t in timers if generations.get(t.key) == t.generation]
        mine = {t.key for t in claimed}
        moved = [key for key in generations if key not in mine]
        if moved:
            await self.collection.update_many(
                {"_id": {"$in": moved}, "owner": owner}, {"$set": {"lease_until": EPOCH, "owner": None}}
            )
        return claimed

    async def extend(self, timer: Timer, *, owner: str, now: datetime, lease: timedelta) -> bool:
        """Hold a claimed timer for another `lease` from now; False when it is no longer this claim's."""
        held = await self.collection.find_one_and_update(
            {"_id": timer.key, "generation": timer.generation, "owner": owner},
            {"$set": {"lease_until": now + lease}},
            return_document=ReturnDocument.AFTER,
        )
        return held is not None

    async def done(self, timer: Timer) -> None:
        """Fired: remove it, unless it was scheduled again meanwhile (then the new time stands)."""
        await self.collection.delete_one({"_id": timer.key, "generation": timer.generation})

    async def done_many(self, timers: Sequence[Timer], *, owner: str) -> None:
        """`done` for a round's fired timers in one round trip: those still this claim's (one
        scheduled again meanwhile is no longer anybody's claim, and stays)."""
        if timers:
            await self.collection.delete_many({"_id": {"$in": [t.key for t in timers]}, "owner": owner})

    async def retry_at(self, timer: Timer, moment: datetime, error: str) -> None:
        await self.collection.update_one(
            {"_id": timer.key, "generation": timer.generation},
            {"$set": {"lease_until": moment, "last_error": error[:2000]}, "$inc": {"attempts": 1}},
        )


TimerHandler = Callable[[Timer], Awaitable[None]]


@dataclass(frozen=True)
class Held:
    """Due timers of a kind that also wait for something else: they fire once due by `through`
    as well (None: not yet known), or once they have waited since before `scheduled_before`."""

    through: datetime | None
    scheduled_before: datetime


# For a kind whose timers wait for something else too: how far that lets them go now.
TimerGate = Callable[[datetime], Awaitable[Held]]


@dataclass(frozen=True)
class Claim:
    """One round's claim of its timers: whose, and from when its lease runs."""

    owner: str
    at: datetime


class NotYet(Exception):
    """The handler found no aggregate for its timer. Timers are scheduled just before their
    aggregate is first written, so it may be a moment away: the timer fires again shortly, a
    few times, and is then dropped as a spare left by a write that never happened."""


NOT_YET_ATTEMPTS = 5


class TimerRunner:
    """Fires the due timers of the kinds registered with `on`, in every instance of a service."""

    def __init__(
        self,
        store: TimerStore,
        *,
        poll_seconds: float = 1.0,
        lease: timedelta = timedelta(seconds=30),
        concurrency: int = 8,
        batch_size: int = 100,
        max_backoff: timedelta = timedelta(minutes=5),
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        owner: str | None = None,
        settle_seconds: float = 0.05,
    ) -> None:
        self.store = store
        self.poll_seconds = poll_seconds
        self.lease = lease
        self.concurrency = concurrency
        self.batch_size = batch_size
        self.max_backoff = max_backoff
        self.now = now
        self.owner = owner or uuid.uuid4().hex
        # After a round that found less than a batch, timers scheduled meanwhile are let gather
        # this long before the next (a round costs the same few round trips for one timer as for
        # a hundred; a burst scheduling them one by one would otherwise pay them for each).
        self.settle_seconds = settle_seconds
        self._handlers: dict[str, TimerHandler] = {}
        self._gates: dict[str, TimerGate] = {}
        self._wake = asyncio.Event()
        self._soonest: datetime | None = None

    def on(self, kind: str, handler: TimerHandler, *, gate: TimerGate | None = None) -> None:
        """Fire `handler` for due timers of `kind`; with `gate`, only those it lets go as well
        (asked once a round)."""
        if kind in self._handlers:
            raise ValueError(f"timer kind {kind!r} has a handler already")
        self._handlers[kind] = handler
        if gate is not None:
            self._gates[kind] = gate

    @property
    def kinds(self) -> list[str]:
        return sorted(self._handlers)

    def nudge(self, due_at: datetime) -> None:
        """A timer was scheduled in this process: wake up for it if it is due before the next poll."""
        if self._soonest is None or due_at < self._soonest:
            self._soonest = due_at
            self._wake.set()

    async def fire_due(self) -> int:
        """One round: claim what is due now (in one go), fire it, and remove what fired (in one
        go); the number of timers fired."""
        if not self._handlers:
            return 0
        now = self.now()
        held = {kind: await gate(now) for kind, gate in self._gates.items()}
        due = await self.store.due(now, self.kinds, limit=self.batch_size, held=held)
        claim = Claim(f"{self.owner}:{uuid.uuid4().hex[:12]}", self.now())
        due = await self.store.claim(due, owner=claim.owner, now=claim.at, lease=self.lease)
        limit = asyncio.Semaphore(self.concurrency)
        # Timers of one aggregate fire one after another: fired together they would only
        # collide on its version guard. So do the timers of one sequence (a recipient's messages
        # on a channel), oldest due first: that is their order. Others fire side by side.
        groups: dict[str, list[Timer]] = {}
        for timer in sorted(due, key=lambda t: (t.due_at, t.payload.get(IN_ORDER_AT, 0))):
            group = timer.payload.get(IN_ORDER_OF) or timer.payload.get(AGGREGATE, timer.key)
            groups.setdefault(str(group), []).append(timer)
        fired: list[Timer] = []

        async def one_group(timers: list[Timer]) -> None:
            for timer in timers:
                async with limit:
                    if await self._fire(timer, claim):
                        fired.append(timer)

        try:
            await asyncio.gather(*(one_group(g) for g in groups.values()))
        finally:
            await self.store.done_many(fired, owner=claim.owner)
        return len(fired)

    async def _fire(self, timer: Timer, claim: Claim) -> bool:
        now = self.now()
        if now - claim.at > self.lease / 2 and not await self.store.extend(
            timer, owner=claim.owner, now=now, lease=self.lease
        ):
            return False  # a long round: its lease was running out, and it is not this claim's any more
        firing = FIRING.set(timer.key)
        try:
            await self._handlers[timer.kind](timer)
        except asyncio.CancelledError:
            raise
        except ConcurrentChange:
            # its aggregate kept changing under it (people at work on it): try again shortly,
            # without the growing backoff of a failure
            await self.store.retry_at(
                timer,
                self.now() + timedelta(seconds=0.1 + random.random()),  # noqa: S311 - jitter, not a secret
                "changed concurrently",
            )
            return False
        except NotYet:
            if timer.attempts + 1 >= NOT_YET_ATTEMPTS:
                log.warning("timer %s (%s): its aggregate never appeared; dropped as a spare", timer.key, timer.kind)
                await self.store.done(timer)
                metrics.TIMERS_FIRED.labels(timer.kind, "spare").inc()
                return False
            await self.store.retry_at(
                timer, self.now() + timedelta(seconds=0.2 * 2**timer.attempts), "its aggregate is not stored yet"
            )
            return False
        except Exception as exc:
            backoff = min(timedelta(seconds=2 ** min(timer.attempts, 16)), self.max_backoff)
            log.exception(
                "timer %s (%s) failed on attempt %d; it fires again in %ss",
                timer.key,
                timer.kind,
                timer.attempts + 1,
                backoff.total_seconds(),
            )
            metrics.TIMERS_FIRED.labels(timer.kind, "failed").inc()
            await self.store.retry_at(timer, self.now() + backoff, f"{type(exc).__name__}: {exc}")
            return False
        finally:
            FIRING.reset(firing)
        metrics.TIMERS_FIRED.labels(timer.kind, "fired").inc()
        metrics.TIMER_LATENESS.labels(timer.kind).observe(max(0.0, (now - timer.due_at).total_seconds()))
        return True  # removed with the round's others

    async def run(self, stopping: asyncio.Event, *, ready: asyncio.Event | None = None) -> None:
        """Until `stopping` is set: a round in progress finishes (and records what it fired)."""
        if ready is not None:
            waiter = asyncio.ensure_future(ready.wait())
            stopper = asyncio.ensure_future(stopping.wait())
            await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            stopper.cancel()
        failures = 0
        while not stopping.is_set():
            self._wake.clear()
            try:
                fired = await self.fire_due()
                failures = 0
            except Exception:
                failures += 1
                log.exception("timer round failed; timers stay stored and are fired later")
                fired = 0
                await asyncio.sleep(min(0.2 * 2**failures, 10.0))
            if self._soonest is not None and self._soonest <= self.now():
                self._soonest = None  # that round fired it
            if fired >= self.batch_size:
                continue
            await asyncio.sleep(self.settle_seconds)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._sleep(stopping), self._wait_seconds())

    def _wait_seconds(self) -> float:
        if self._soonest is None:
            return self.poll_seconds
        return min(self.poll_seconds, max(0.0, (self._soonest - self.now()).total_seconds()))

    async def _sleep(self, stopping: asyncio.Event) -> None:
        wake = asyncio.ensure_future(self._wake.wait())
        stop = asyncio.ensure_future(stopping.wait())
        try:
            await asyncio.wait({wake, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            wake.cancel()
            stop.cancel()
