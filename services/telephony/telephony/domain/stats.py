"""Call figures per manager, department or line. Pure: it folds the rows the store returns."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

GroupBy = Literal["manager", "department", "line"]


def _percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(share * 100) - 1]


def call_figures(
    calls: Iterable[Mapping[str, Any]],
    callbacks: Iterable[Mapping[str, Any]],
    *,
    group_by: GroupBy,
    answer_standard_seconds: float,
    department_of: Callable[[str | None], str | None],
) -> list[dict[str, Any]]:
    def key(row: Mapping[str, Any]) -> str | None:
        if group_by == "line":
            return row.get("line")
        if group_by == "department":
            return department_of(row.get("manager_id"))
        return row.get("manager_id")

    groups: dict[str | None, dict[str, Any]] = {}

    def group(name: str | None) -> dict[str, Any]:
        return groups.setdefault(
            name,
            {
                "key": name,
                "incoming": 0,
                "outgoing": 0,
                "missed": 0,
                "answered_in_time": 0,
                "_talk": [],
                "_delays": [],
                "callbacks_overdue": 0,
            },
        )

    for call in calls:
        figures = group(key(call))
        if call.get("direction") == "inbound":
            figures["incoming"] += 1
            if call.get("outcome") == "missed":
                figures["missed"] += 1
            if call.get("outcome") == "answered" and (call.get("ring_seconds") or 0) <= answer_standard_seconds:
                figures["answered_in_time"] += 1
        elif call.get("direction") == "outbound":
            figures["outgoing"] += 1
        if call.get("outcome") == "answered" and call.get("talk_seconds") is not None:
            figures["_talk"].append(float(call["talk_seconds"]))
    for callback in callbacks:
        figures = group(key(callback))
        if callback.get("delay_seconds") is not None:
            figures["_delays"].append(float(callback["delay_seconds"]))
        if callback.get("overdue_at") is not None:
            figures["callbacks_overdue"] += 1
    result = []
    for figures in groups.values():
        talk, delays = figures.pop("_talk"), sorted(figures.pop("_delays"))
        figures["answered_in_time_share"] = (
            figures["answered_in_time"] / figures["incoming"] if figures["incoming"] else None
        )
        figures["average_talk_seconds"] = statistics.fmean(talk) if talk else None
        figures["callback_delay_p50_seconds"] = _percentile(delays, 0.5)
        figures["callback_delay_p90_seconds"] = _percentile(delays, 0.9)
        figures["callbacks_made"] = len(delays)
        result.append(figures)
    return sorted(result, key=lambda f: (f["key"] is None, f["key"] or ""))
