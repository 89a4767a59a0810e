"""MongoDB storage of the reporting model (docs/reports.md).

- `report_cells`: one document per month and manager (`<YYYY-MM>|<manager id>`, `-` for facts
  with no manager: leads not yet assigned). It holds the month's cells twice: per local day
  (`days.<key>`) and rolled up over the month (`months.<key>`), each with its dimensions and
  integer measures. An event adds to both in one single-document update guarded by its id, so
  a redelivered event changes nothing. A month read for a report is one `_id` lookup per
  manager; a whole month is read from the roll-up, thirty times smaller than the days.
- `report_index`: one document per month listing its cell documents (read paths go by `_id`:
  the MongoDB-wire server used in development ignores secondary indexes).
- `report_refs`: what later events need and do not carry (a lead's or deal's source and
  campaign, a missed call's line), by `lead:<id>` / `deal:<id>` / `call:<id>`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from crmhub.mongo import Document, update_once
from motivation.domain.reporting import Cell, cell_key

APPLIED_KEPT = 2000
CHUNK = 500


def doc_id(month: date, manager_id: str) -> str:
    return f"{month:%Y-%m}|{manager_id or '-'}"


class ReportStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.cells = db["report_cells"]
        self.index = db["report_index"]
        self.refs = db["report_refs"]
        self._indexed: set[str] = set()

    async def remember(self, key: str, attributes: Mapping[str, str]) -> None:
        await self.refs.update_one({"_id": key}, {"$set": dict(attributes)}, upsert=True)

    async def reference(self, key: str) -> dict[str, str] | None:
        found = await self.refs.find_one({"_id": key})
        return None if found is None else {k: v for k, v in found.items() if k != "_id"}

    async def add(self, fact_id: str, day: date, dims: Mapping[str, str], measures: Mapping[str, int]) -> bool:
        """Add one fact to its day and month cells; False when it was added before."""
        month = day.replace(day=1)
        target = doc_id(month, dims.get("manager", ""))
        by_day, by_month = cell_key(dims, day), cell_key(dims)
        inc: dict[str, int] = {}
        for name, value in measures.items():
            if value:
                inc[f"days.{by_day}.m.{name}"] = value
                inc[f"months.{by_month}.m.{name}"] = value
        if not inc:
            return False
        update: dict[str, Any] = {
            "$inc": inc,
            "$set": {
                f"days.{by_day}.day": day.isoformat(),
                f"days.{by_day}.dims": dict(dims),
                f"months.{by_month}.dims": dict(dims),
                "month": f"{month:%Y-%m}",
            },
        }
        added = await update_once(self.cells, target, fact_id, update, upsert=True, keep=APPLIED_KEPT)
        if target not in self._indexed:
            await self.index.update_one({"_id": f"{month:%Y-%m}"}, {"$addToSet": {"docs": target}}, upsert=True)
            self._indexed.add(target)
        return added

    async def _doc_ids(self, months: Iterable[date], managers: frozenset[str] | None) -> dict[str, list[str]]:
        wanted = [f"{m:%Y-%m}" for m in months]
        if managers is not None:
            return {m: [f"{m}|{manager}" for manager in sorted(managers)] for m in wanted}
        found = await self.index.find({"_id": {"$in": wanted}}).to_list()
        return {d["_id"]: list(d.get("docs") or []) for d in found}

    async def load(
        self, daily: Iterable[date], monthly: Iterable[date], managers: frozenset[str] | None = None
    ) -> list[Cell]:
        """The cells of these months: per day for `daily`, rolled up for `monthly`. With
        `managers`, only theirs (read by `_id`, no index needed)."""
        cells: list[Cell] = []
        for months, field in ((list(daily), "days"), (list(monthly), "months")):
            if not months:
                continue
            ids = [i for group in (await self._doc_ids(months, managers)).values() for i in group]
            for start in range(0, len(ids), CHUNK):
                async for doc in self.cells.find({"_id": {"$in": ids[start : start + CHUNK]}}, {field: 1, "month": 1}):
                    first = date.fromisoformat(f"{doc['month']}-01")
                    for cell in (doc.get(field) or {}).values():
                        day = date.fromisoformat(cell["day"]) if field == "days" else first
                        cells.append(Cell(day, cell.get("dims") or {}, cell.get("m") or {}, field == "months"))
        return cells
