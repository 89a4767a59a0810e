"""Lead figures per source, manager or campaign: how many came, were taken, taken within the
first-response SLA, breached it, converted, were rejected or are still open. Pure: a lead gives
one small row (`stats_row`), a row adds counters to its groups (`contribution`), and the
figures are those counters summed (`figures`), over any set of rows or pre-summed counters."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

GroupBy = Literal["source", "manager", "campaign"]
GROUPINGS: tuple[GroupBy, ...] = ("source", "manager", "campaign")
Group = tuple[str | None, ...]


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


COUNTERS = ("leads", "taken", "taken_within_sla", "sla_breaches", "converted", "rejected", "open")


def stats_row(lead: Mapping[str, Any]) -> dict[str, Any]:
    """What the figures need of a stored lead (its document's fields), as it is now."""
    utm = lead.get("utm") or {}
    return {
        "source_id": lead.get("source_id"),
        "manager_id": lead.get("manager_id"),
        "campaign": utm.get("campaign"),
        "status": lead.get("status"),
        "taken": lead.get("taken_at") is not None,
        "within": bool(lead.get("taken_within_sla")),
        "breaches": int(lead.get("sla_breaches") or 0),
    }


def contribution(row: Mapping[str, Any]) -> list[tuple[Group, dict[str, float]]]:
    """The counters one lead's row adds to its source's, its manager's and its campaign's figures."""
    status = row.get("status")
    counters: dict[str, float] = {
        "leads": 1,
        "taken": int(bool(row.get("taken"))),
        "taken_within_sla": int(bool(row.get("taken")) and bool(row.get("within"))),
        "sla_breaches": int(row.get("breaches") or 0),
        "converted": int(status == "converted"),
        "rejected": int(status == "rejected"),
        "open": int(status not in ("converted", "rejected")),
    }
    keys = {"source": row.get("source_id"), "manager": row.get("manager_id"), "campaign": row.get("campaign")}
    return [((grouping, keys[grouping]), counters) for grouping in GROUPINGS]


def figures(sums: Iterable[tuple[Group, Mapping[str, float]]], group_by: GroupBy) -> list[LeadFigures]:
    """The figures of each group of one grouping, from counters summed per group."""
    groups: dict[str | None, LeadFigures] = {}
    for (grouping, key), counters in sums:
        if grouping != group_by:
            continue
        found = groups.setdefault(key, LeadFigures(key))
        for name in COUNTERS:
            setattr(found, name, getattr(found, name) + int(counters.get(name, 0)))
    return sorted(groups.values(), key=lambda f: (f.key is None, f.key or ""))


def lead_figures(leads: Iterable[Mapping[str, Any]], group_by: GroupBy) -> list[LeadFigures]:
    """The figures folded from stored leads themselves (what the pre-summed ones must equal)."""
    return figures((c for lead in leads for c in contribution(stats_row(lead))), group_by)
