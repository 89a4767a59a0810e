"""MongoDB storage of the reporting model (docs/reports.md).

- `report_days` and `report_months`: one document per month and manager (`<YYYY-MM>|<manager
  id>`, `-` for facts with no manager: leads not yet assigned), holding that month's cells per
  local day, and rolled up over the whole month. A cell is its dimension values (in the order of
  `DIMENSIONS`), its day, and its integer measures. An event adds to both documents, each update
  guarded by the event's id in the same single-document write, so a redelivered event changes
  neither. A month read for a report is one `_id` lookup per manager; a whole month is read from
  the small roll-up, never from the days.
- `report_index`: one document per month listing its managers' documents (read paths go by
  `_id`: the MongoDB-wire server used in development ignores secondary indexes).
- `report_refs`: what later events need and do not carry (a lead's or deal's source and
  campaign, a missed call's line), by `lead:<id>` / `deal:<id>` / `call:<id>`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from crmhub.mongo import Document, update_once
from motivation.domain.reporting import DIMENSIONS, Cell, cell_key

APPLIED_KEPT = 2000
CHUNK = 500


def doc_id(month: date, manager_id: str) -> str:
    return f"{month:%Y-%m}|{manager_id or '-'}"


class ReportStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.days = db["report_days"]
        self.months = db["report_months"]
        self.index = db["report_index"]
        self.refs = db["report_refs"]
        self._indexed: set[str] = set()

    async def remember(self, key: str, attributes: Mapping[str, str]) -> None:
        await self.refs.update_one({"_id": key}, {"$set": dict(attributes)}, upsert=True)

    async def reference(self, key: str) -> dict[str, str] | None:
        found = await self.refs.find_one({"_id": key})
        return None if found is None else {k: v for k, v in found.items() if k != "_id"}

    async def add(self, fact_id: str, day: date, dims: Mapping[str, str], measures: Mapping[str, int]) -> bool:
        """Add one fact to its day's cell and its month's; False when it was added before."""
        counted = {name: value for name, value in measures.items() if value}
        if not counted:
            return False
        month = day.replace(day=1)
        target = doc_id(month, dims.get("manager", ""))
        by_day, by_month = cell_key(dims, day), cell_key(dims)
        lean_dims = {"manager": dims.get("manager", ""), "department": dims.get("department", "")}
        lean = cell_key(lean_dims)

        def cell(prefix: str, key: str, cell_dims: Mapping[str, str]) -> tuple[dict[str, int], dict[str, Any]]:
            inc = {f"{prefix}.{key}.m.{name}": value for name, value in counted.items()}
            return inc, {f"{prefix}.{key}.k": [cell_dims.get(d, "") for d in DIMENSIONS]}

        day_inc, day_set = cell("c", by_day, dims)
        month_inc, month_set = cell("c", by_month, dims)
        total_inc, total_set = cell("t", lean, lean_dims)  # the month's totals by manager and department alone
        stamp = {"month": f"{month:%Y-%m}"}
        added = False
        for collection, update in (
            (self.days, {"$inc": day_inc, "$set": {**day_set, f"c.{by_day}.day": day.isoformat(), **stamp}}),
            (self.months, {"$inc": {**month_inc, **total_inc}, "$set": {**month_set, **total_set, **stamp}}),
        ):
            added = await update_once(collection, target, fact_id, update, upsert=True, keep=APPLIED_KEPT) or added
        if target not in self._indexed:
            await self.index.update_one({"_id": f"{month:%Y-%m}"}, {"$addToSet": {"docs": target}}, upsert=True)
            self._indexed.add(target)
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
