"""MongoDB storage of the reporting model (docs/reports.md).

- `report_days` and `report_months`: one document per month and manager (`<YYYY-MM>|<manager
  id>`, `-` for facts with no manager: leads not yet assigned), holding that month's cells per
  local day, and rolled up over the whole month. A cell is its dimension values (in the order of
  `DIMENSIONS`), its day, and its integer measures. An event adds to both documents, each update
  guarded in the same single-document write by where the event was read (the last offset each
  document took from each partition: crmhub.mongo.update_many_once), so a redelivered event
  changes neither, and a document does not grow with the events it took. A month read for a
  report is one `_id` lookup per manager; a whole month is read from the small roll-up, never
  from the days.
- `report_index`: one document per month listing its managers' documents (read paths go by
  `_id`: the MongoDB-wire server used in development ignores secondary indexes).
- `report_refs`: what later events need and do not carry (a lead's or deal's source and
  campaign, a missed call's line), by `lead:<id>` / `deal:<id>` / `call:<id>`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from pymongo import UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from crmhub.events import Position
from crmhub.mongo import IDS_KEPT_BESIDE_OFFSETS, Document, Guarded, update_many_once
from motivation.domain.reporting import DIMENSIONS, NONE, Cell, cell_key_of, dimension_values

CHUNK = 500
LEAN = ("manager", "department")  # the dimensions of a month's totals


def doc_id(month: date, manager_id: str) -> str:
    return f"{month:%Y-%m}|{manager_id or '-'}"


@dataclass(frozen=True)
class Fact:
    """One fact for the reporting model: its id (event id and number), local day, dimension
    values and measures."""

    fact_id: str
    day: date
    dims: Mapping[str, str]
    measures: Mapping[str, int]
    position: Position | None = None  # where the consumer read its event


def _updates(fact: Fact) -> tuple[str, dict[str, Any], dict[str, Any]] | None:
    """Where a fact goes and the two updates that add it: its day's cell, and its month's cell
    with the month's totals by manager and department alone. None when it measures nothing."""
    counted = {name: value for name, value in fact.measures.items() if value}
    if not counted:
        return None
    dims, day = fact.dims, fact.day
    month = day.replace(day=1)
    values = dimension_values(dims)
    target = doc_id(month, dims.get("manager", ""))
    # the month's totals by manager and department alone
    lean = tuple(value if d in LEAN else NONE for d, value in zip(DIMENSIONS, values, strict=True))

    def cell(prefix: str, key: str, cell_values: tuple[str, ...]) -> tuple[dict[str, int], dict[str, Any]]:
        inc = {f"{prefix}.{key}.m.{name}": value for name, value in counted.items()}
        return inc, {f"{prefix}.{key}.k": list(cell_values)}

    by_day = cell_key_of(values, day)
    day_inc, day_set = cell("c", by_day, values)
    month_inc, month_set = cell("c", cell_key_of(values), values)
    total_inc, total_set = cell("t", cell_key_of(lean), lean)
    stamp = {"month": f"{month:%Y-%m}"}
    day_update = {"$inc": day_inc, "$set": {**day_set, f"c.{by_day}.day": day.isoformat(), **stamp}}
    month_update = {"$inc": {**month_inc, **total_inc}, "$set": {**month_set, **total_set, **stamp}}
    return target, day_update, month_update


class ReportStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.days = db["report_days"]
        self.months = db["report_months"]
        self.index = db["report_index"]
        self.refs = db["report_refs"]
        self._indexed: set[str] = set()

    async def remember_many(self, remembered: Mapping[str, Mapping[str, str]]) -> None:
        if remembered:
            await self.refs.bulk_write(
                [UpdateOne({"_id": key}, {"$set": dict(attrs)}, upsert=True) for key, attrs in remembered.items()],
                ordered=False,
            )

    async def references(self, keys: Iterable[str]) -> dict[str, dict[str, str]]:
        wanted = sorted(set(keys))
        if not wanted:
            return {}
        found = await self.refs.find({"_id": {"$in": wanted}}).to_list()
        return {d["_id"]: {k: v for k, v in d.items() if k != "_id"} for d in found}

    async def add_many(self, facts: Iterable[Fact]) -> int:
        """Add facts to their days' cells and months' (each once, however often it comes): one
        guarded bulk write per collection for the lot. How many (document, fact) updates applied."""
        by_day: list[Guarded] = []
        by_month: list[Guarded] = []
        months: dict[str, str] = {}
        for fact in facts:
            planned = _updates(fact)
            if planned is None:
                continue
            target, day_update, month_update = planned
            by_day.append(Guarded(target, fact.fact_id, day_update, fact.position))
            by_month.append(Guarded(target, fact.fact_id, month_update, fact.position))
            months[target] = target.split("|", 1)[0]  # doc_id: <YYYY-MM>|<manager>
        # the two collections' writes at once, on two connections: the database takes them side by side
        added = sum(
            await asyncio.gather(
                update_many_once(self.days, by_day, keep=IDS_KEPT_BESIDE_OFFSETS),
                update_many_once(self.months, by_month, keep=IDS_KEPT_BESIDE_OFFSETS),
            )
        )
        new = {target: month for target, month in months.items() if target not in self._indexed}
        if new:
            listed: dict[str, list[str]] = {}
            for target, month in new.items():
                listed.setdefault(month, []).append(target)
            await self.index.bulk_write(
                [
                    UpdateOne({"_id": month}, {"$addToSet": {"docs": {"$each": targets}}}, upsert=True)
                    for month, targets in listed.items()
                ],
                ordered=False,
            )
            self._indexed.update(new)
        return added

    async def _doc_ids(self, months: Iterable[date], managers: frozenset[str] | None) -> list[str]:
        wanted = [f"{m:%Y-%m}" for m in months]
        if managers is not None:
            return [f"{m}|{manager}" for m in wanted for manager in sorted(managers)]
        found = await self.index.find({"_id": {"$in": wanted}}).to_list()
        return [i for d in found for i in d.get("docs") or []]

    async def load(
        self,
        daily: Iterable[date],
        monthly: Iterable[date],
        managers: frozenset[str] | None = None,
        *,
        lean: bool = False,
    ) -> list[Cell]:
        """The cells of these months: per day for `daily`, rolled up for `monthly` (`lean`: the
        totals by manager and department only, a cell per manager). With `managers`, only
        theirs (read by `_id`, no index needed)."""
        cells: list[Cell] = []
        for months, collection in ((list(daily), self.days), (list(monthly), self.months)):
            if not months:
                continue
            whole = collection is self.months
            field = "t" if whole and lean else "c"
            ids = await self._doc_ids(months, managers)
            for start in range(0, len(ids), CHUNK):
                async for doc in collection.find({"_id": {"$in": ids[start : start + CHUNK]}}, {field: 1, "month": 1}):
                    first = date.fromisoformat(f"{doc['month']}-01")
                    for cell in (doc.get(field) or {}).values():
                        day = first if whole else date.fromisoformat(cell["day"])
                        cells.append(Cell(day, dict(zip(DIMENSIONS, cell["k"], strict=True)), cell["m"], whole))
        return cells
