"""MongoDB storage of plans, pay and the counters behind them.

- `counters`: pre-aggregated KPI counts per manager and local day (`day:<date>:<manager>`) and
  per manager and period (`month:<period>:<manager>`), incremented with the event's id as guard
  in the same single-document update (a redelivered event changes nothing). A period's totals
  for any number of managers are read by `_id` — no folding of raw events, no scan;
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
from crmhub.events import CloudEvent
from crmhub.mongo import Document, insert_once, update_many_once, update_once
from crmhub.outbox import OUTBOX, outbox_entries
from motivation.domain.activity import REVENUE, Count

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


def _count_updates(
    counts: Iterable[Count], manager_id: str, department_id: str | None, day: date, period: str
) -> list[tuple[str, dict[str, Any]]]:
    """The updates of the manager's day and period counters that add these counts."""
    inc: dict[str, int] = {}
    refs: dict[str, Any] = {}
    for count in counts:
        field = f"revenue.{count.currency}" if count.kpi == REVENUE else f"kpis.{count.kpi}"
        inc[field] = inc.get(field, 0) + count.amount_minor
        if count.ref:
            refs[f"refs.{count.kpi}"] = {"$each": [count.ref], "$slice": -REFS_KEPT}
    if not inc:
        return []
    updates = []
    for key, fields in (
        (day_key(day, manager_id), {"day": day.isoformat()}),
        (month_key(period, manager_id), {"period": period}),
    ):
        update: dict[str, Any] = {
            "$inc": inc,
            "$set": {"manager_id": manager_id, "department_id": department_id, **fields},
        }
        if refs:
            update["$push"] = refs
        updates.append((key, update))
    return updates


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

    async def count(
        self,
        event_id: str,
        counts: Iterable[Count],
        *,
        manager_id: str,
        department_id: str | None,
        day: date,
        period: str,
    ) -> bool:
        """Add an event's counts to the manager's day and period; False when it was counted before."""
        counted = False
        for key, update in _count_updates(counts, manager_id, department_id, day, period):
            counted = await update_once(self.counters, key, event_id, update, upsert=True) or counted
        return counted

    async def count_many(self, events: Iterable[Counted]) -> int:
        """`count` for a batch of events in one round trip (each counter document's events merged
        into one guarded update); each event still counts once, however the batch was cut."""
        updates = [
            (key, c.event_id, update)
            for c in events
            for key, update in _count_updates(c.counts, c.manager_id, c.department_id, c.day, c.period)
        ]
        return await update_many_once(self.counters, updates)

    async def months(self, period: str, manager_ids: Iterable[str]) -> dict[str, Document]:
        keys = [month_key(period, m) for m in manager_ids]
        found = await self.counters.find({"_id": {"$in": keys}}, {"applied_events": 0}).to_list()
        return {d["manager_id"]: d for d in found}

    async def days(self, days: Iterable[date], manager_ids: Iterable[str]) -> list[Document]:
        managers = list(manager_ids)
        keys = [day_key(d, m) for d in days for m in managers]
        found: list[Document] = []
        for start in range(0, len(keys), 5000):
            chunk = keys[start : start + 5000]
            found += await self.counters.find({"_id": {"$in": chunk}}, {"applied_events": 0, "refs": 0}).to_list()
        return found

    # --- parked events ---------------------------------------------------------------------------

    async def park(self, event: CloudEvent, manager_id: str, now: datetime) -> None:
        await insert_once(
            self.parked,
            {"_id": event.id, "event": event.model_dump(mode="json"), "manager_id": manager_id, "parked_at": now},
        )

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
