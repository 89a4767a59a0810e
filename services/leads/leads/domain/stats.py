"""Lead figures per source, manager or campaign: how many came, were taken, taken within the
first-response SLA, converted and rejected. Pure: it folds the rows the store returns."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

GroupBy = Literal["source", "manager", "campaign"]


@dataclass
class LeadFigures:
    key: str | None
    leads: int = 0
    taken: int = 0
    taken_within_sla: int = 0
    sla_breaches: int = 0
    converted: int = 0
    rejected: int = 0
    open: int = 0

    @property
    def taken_within_sla_share(self) -> float | None:
        return self.taken_within_sla / self.taken if self.taken else None

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "taken_within_sla_share": self.taken_within_sla_share}


def _key(row: Mapping[str, Any], group_by: GroupBy) -> str | None:
    if group_by == "source":
        return row.get("source_id")
    if group_by == "manager":
        return row.get("manager_id")
    utm = row.get("utm") or {}
    return utm.get("campaign")


def lead_figures(rows: Iterable[Mapping[str, Any]], group_by: GroupBy) -> list[LeadFigures]:
    groups: dict[str | None, LeadFigures] = {}
    for row in rows:
        key = _key(row, group_by)
        figures = groups.setdefault(key, LeadFigures(key))
        figures.leads += 1
        figures.sla_breaches += int(row.get("sla_breaches") or 0)
        if row.get("taken_at") is not None:
            figures.taken += 1
            figures.taken_within_sla += bool(row.get("taken_within_sla"))
        status = row.get("status")
        if status == "converted":
            figures.converted += 1
        elif status == "rejected":
            figures.rejected += 1
        else:
            figures.open += 1
    return sorted(groups.values(), key=lambda f: (f.key is None, f.key or ""))
