"""MongoDB storage of plans, pay and the counters behind them.

- `counters`: pre-aggregated KPI counts per manager and period (`month:<period>:<manager>`),
  holding the period's totals and each of its local days (`days.<date>`), incremented under a
  guard in the same single-document update (where the event was read, and its id:
  crmhub.mongo.update_many_once), so a redelivered event changes nothing:
  one document write per event, a poll's events for one manager merged into one. A period's
  totals for any number of managers are read by `_id` — no folding of raw events, no scan. A
  store from before kept days in documents of their own (`day:<date>:<manager>`), no longer
  written and still read, so a day counted partly before the upgrade sums both;
- `parked_events`: events for a manager the directory does not know yet, counted once they appear;
- `plans` (`<period>:department:<id>` / `<period>:manager:<id>`, with `plan.set` in the outbox),
  `pay_rules` (per department), `pay_profiles` (per manager: the base salary, kept off `crm.team`);
- `periods` (one per period: open or closed, its revision and what was paid) and `payouts`
  (`<period>:<manager>`, the explanation, with `payout.calculated` in the outbox).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from pymongo import UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from crmhub.aggregate_store import Stored
from crmhub.events import CloudEvent, Position
from crmhub.mongo import IDS_KEPT_BESIDE_OFFSETS, Document, Guarded, insert_once, update_many_once
from crmhub.outbox import OUTBOX, outbox_entries
from motivation.domain.activity import REVENUE, Count, period_of, previous_period

REFS_KEPT = 200


@dataclass(frozen=True)
class Counted:
    """One event's counts, where they go."""

    event_id: str
    counts: tuple[Count, ...]
    manager_id: str
    department_id: str | None
    day: date
    period: str
    position: Position | None = None  # where the consumer read the event; None: a parked one


def _count_update(
    counts: Iterable[Count], manager_id: str, department_id: str | None, day: date, period: str
) -> tuple[str, dict[str, Any]] | None:
    """The update of the manager's period counters that adds these counts to the period and to
    its day; None when there is nothing to count."""
    inc: dict[str, int] = {}
    refs: dict[str, Any] = {}
    for count in counts:
        field = f"revenue.{count.currency}" if count.kpi == REVENUE else f"kpis.{count.kpi}"
        for path in (field, f"days.{day.isoformat()}.{field}"):
            inc[path] = inc.get(path, 0) + count.amount_minor
        if count.ref:
            refs[f"refs.{count.kpi}"] = {"$each": [count.ref], "$slice": -REFS_KEPT}
    if not inc:
        return None
    update: dict[str, Any] = {
        "$inc": inc,
        "$set": {"manager_id": manager_id, "department_id": department_id, "period": period},
    }
    if refs:
        update["$push"] = refs
    return month_key(period, manager_id), update


def day_key(day: date, manager_id: str) -> str:
    return f"day:{day.isoformat()}:{manager_id}"


def month_key(period: str, manager_id: str) -> str:
    return f"month:{period}:{manager_id}"


class PayStore:
    def __init__(
        self, db: AsyncDatabase[Document], *, on_stored: Stored = lambda collection, doc_id, entries: None
    ) -> None:
        self._on_stored = on_stored
        self.counters = db["counters"]
        self.parked = db["parked_events"]
        self.plans = db["plans"]
        self.rules = db["pay_rules"]
        self.profiles = db["pay_profiles"]
        self.periods = db["periods"]
        self.payouts = db["payouts"]

    # --- counters --------------------------------------------------------------------------------

    async def count_many(self, events: Iterable[Counted]) -> int:
        """Add events' counts to their managers' periods and days in one round trip (each counter
        document's events merged into one guarded update); each event counts once, however the
        batches were cut. How many were counted now."""
        updates = [
            Guarded(planned[0], c.event_id, planned[1], c.position)
            for c in events
            if (planned := _count_update(c.counts, c.manager_id, c.department_id, c.day, c.period)) is not None
        ]
        return await update_many_once(self.counters, updates, keep=IDS_KEPT_BESIDE_OFFSETS)

    async def months(self, period: str, manager_ids: Iterable[str]) -> dict[str, Document]:
        keys = [month_key(period, m) for m in manager_ids]
        found = await self.counters.find({"_id": {"$in": keys}}, {"applied_events": 0, "days": 0}).to_list()
        return {d["manager_id"]: d for d in found}

    async def days(self, days: Iterable[date], manager_ids: Iterable[str]) -> list[Document]:
        """The counters of these local days, one document (`manager_id`, `kpis`, `revenue`) per day
        and manager that has any: from the periods holding them, and from the day documents of a
        store from before (a day counted partly before the upgrade comes twice; sum them).

        A day is read from its calendar month's period and the one before, whichever start day
        the periods have had: periods are months starting on a day from 1 to 28, so one of those
        two holds it."""
        dates = list(days)
        wanted = {d.isoformat() for d in dates}
        managers = list(manager_ids)
        months = {period_of(d) for d in dates} | {previous_period(period_of(d)) for d in dates}  # calendar months
        keys = [month_key(p, m) for p in sorted(months) for m in managers]
        keys += [day_key(d, m) for d in sorted(set(dates)) for m in managers]
        shown = {"manager_id": 1, "day": 1, "days": 1, "kpis": 1, "revenue": 1}
        found: list[Document] = []
        for start in range(0, len(keys), 5000):
            chunk = keys[start : start + 5000]
            for doc in await self.counters.find({"_id": {"$in": chunk}}, shown).to_list():
                if "day" in doc:  # a day document of a store from before
                    found.append(doc)
                    continue
                for day, counters in (doc.get("days") or {}).items():
                    if day in wanted:
                        found.append({"manager_id": doc["manager_id"], "day": day, **counters})
        return found

    # --- parked events ---------------------------------------------------------------------------

    async def park(self, event: CloudEvent, manager_id: str, now: datetime) -> None:
        await insert_once(
            self.parked,
            {"_id": event.id, "event": event.model_dump(mode="json"), "manager_id": manager_id, "parked_at": now},
        )

    async def parked_among(self, event_ids: Iterable[str]) -> set[str]:
        """Which of these events are parked (counted by `count_parked` alone, by their id)."""
        wanted = list(event_ids)
        if not wanted:
            return set()
        return {d["_id"] async for d in self.parked.find({"_id": {"$in": wanted}}, {"_id": 1})}

    async def parked_events(self, limit: int = 1000) -> list[Document]:
        return await self.parked.find({}).limit(limit).to_list()

    async def unpark(self, event_id: str) -> None:
        await self.parked.delete_one({"_id": event_id})

    # --- plans, rules, profiles ------------------------------------------------------------------

    async def plan(self, key: str) -> Document | None:
        return await self.plans.find_one({"_id": key}, {OUTBOX: 0})

    async def put_plan(self, key: str, body: Document, event: CloudEvent, expected_version: int | None) -> int:
        """Store a plan with its event; the new version (0: someone changed it meanwhile)."""
        entries = outbox_entries([event])
        if expected_version is None:
            try:
                await self.plans.insert_one({"_id": key, **body, "version": 1, OUTBOX: entries})
            except DuplicateKeyError:
                return 0
            self._on_stored(self.plans.name, key, entries)
            return 1
        result = await self.plans.update_one(
            {"_id": key, "version": expected_version},
            {"$set": {**body, "version": expected_version + 1}, "$push": {OUTBOX: {"$each": entries}}},
        )
        if result.modified_count != 1:
            return 0
        self._on_stored(self.plans.name, key, entries)
        return expected_version + 1

    async def plans_up_to(self, period: str) -> dict[str, Document]:
        """Every plan set for this period or before (a small collection: one per period and
        department or individual plan), for a close that resolves thousands of managers' plans."""
        found = await self.plans.find({"period": {"$lte": period}}, {OUTBOX: 0}).to_list()
        return {d["_id"]: d for d in found}

    async def all_pay_rules(self) -> dict[str, Document]:
        return {d["_id"]: d for d in await self.rules.find({}).to_list()}

    async def pay_rules(self, department_id: str) -> Document | None:
        return await self.rules.find_one({"_id": department_id})

    async def put_pay_rules(self, department_id: str, body: Document) -> None:
        await self.rules.replace_one({"_id": department_id}, {"_id": department_id, **body}, upsert=True)

    async def profiles_of(self, manager_ids: Iterable[str]) -> dict[str, Document]:
        found = await self.profiles.find({"_id": {"$in": list(manager_ids)}}).to_list()
        return {d["_id"]: d for d in found}

    async def adopt_directory_salaries(self, managers: AsyncCollection[Document]) -> int:
        """Base salaries kept in the directory before pay profiles existed move to pay profiles
        (once, at start: a salary is never lost by the upgrade, and never on crm.team again)."""
        moved = 0
        async for doc in managers.find({"base_salary": {"$exists": True}}, {"base_salary": 1}):
            if await insert_once(self.profiles, {"_id": doc["_id"], "base_salary": str(doc["base_salary"])}):
                moved += 1
            await managers.update_one({"_id": doc["_id"]}, {"$unset": {"base_salary": ""}})
        return moved

    async def put_profile(self, manager_id: str, body: Document) -> None:
        await self.profiles.replace_one({"_id": manager_id}, {"_id": manager_id, **body}, upsert=True)

    # --- periods and payouts ---------------------------------------------------------------------

    async def period(self, period: str) -> Document | None:
        return await self.periods.find_one({"_id": period}, {OUTBOX: 0})

    async def periods_in(self, periods: Iterable[str]) -> dict[str, Document]:
        found = await self.periods.find({"_id": {"$in": list(periods)}}, {OUTBOX: 0}).to_list()
        return {d["_id"]: d for d in found}

    async def save_period(self, period: str, body: Document, events: list[CloudEvent]) -> None:
        entries = outbox_entries(events)
        await self.periods.update_one(
            {"_id": period}, {"$set": body, "$push": {OUTBOX: {"$each": entries}}}, upsert=True
        )
        if entries:
            self._on_stored(self.periods.name, period, entries)

    async def save_payouts(self, docs: list[Document]) -> None:
        """Each payout with its event appended to its outbox, written in bulk. A re-close sets the
        new figures and appends its event: a previous revision's event not relayed yet stays."""
        if not docs:
            return
        writes = []
        for doc in docs:
            entries = doc[OUTBOX]
            state = {k: v for k, v in doc.items() if k not in ("_id", OUTBOX)}
            writes.append(
                UpdateOne({"_id": doc["_id"]}, {"$set": state, "$push": {OUTBOX: {"$each": entries}}}, upsert=True)
            )
        await self.payouts.bulk_write(writes, ordered=False)
        for doc in docs:
            self._on_stored(self.payouts.name, doc["_id"], doc[OUTBOX])

    async def payout(self, period: str, manager_id: str) -> Document | None:
        return await self.payouts.find_one({"_id": f"{period}:{manager_id}"}, {OUTBOX: 0})

    async def payouts_of(self, period: str, manager_ids: Iterable[str]) -> list[Document]:
        keys = [f"{period}:{m}" for m in manager_ids]
        return await self.payouts.find({"_id": {"$in": keys}}, {OUTBOX: 0}).to_list()
