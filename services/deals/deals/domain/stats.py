"""The pipeline's figures, from the deals' stage histories: deals per stage now, how many of the
deals that reached a stage went on to the next, the average days spent in each stage, and why
deals were lost. Pure: rows in, figures out."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from deals.domain.pipeline import Pipeline


def _at(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def pipeline_figures(pipeline: Pipeline, rows: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    in_stage: Counter[str] = Counter()
    reached: Counter[str] = Counter()
    days: defaultdict[str, list[float]] = defaultdict(list)
    lost_reasons: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    total = 0
    for row in rows:
        if row.get("pipeline_id") != pipeline.id:
            continue
        total += 1
        in_stage[str(row.get("stage"))] += 1
        outcomes[str(row.get("outcome", "open"))] += 1
        if row.get("lost_reason"):
            lost_reasons[str(row["lost_reason"])] += 1
        seen: set[str] = set()
        for visit in row.get("history") or []:
            stage = str(visit["stage"])
            if stage not in seen:
                reached[stage] += 1
                seen.add(stage)
            if visit.get("left_at") is not None:
                spent = (_at(visit["left_at"]) - _at(visit["entered_at"])).total_seconds() / 86400
                days[stage].append(max(0.0, spent))
    open_stages = [s for s in pipeline.stages if s.kind == "open"]
    conversion = []
    for here, after in zip([*open_stages, pipeline.won][:-1], [*open_stages, pipeline.won][1:], strict=True):
        base = reached[here.id]
        conversion.append(
            {
                "from": here.id,
                "to": after.id,
                "reached_from": base,
                "reached_to": reached[after.id],
                "rate": round(reached[after.id] / base, 4) if base else None,
            }
        )
    return {
        "pipeline_id": pipeline.id,
        "deals": total,
        "outcomes": {k: outcomes.get(k, 0) for k in ("open", "won", "lost")},
        "stages": [
            {
                "stage": s.id,
                "name": s.name.model_dump(),
                "deals_now": in_stage.get(s.id, 0),
                "reached": reached.get(s.id, 0),
                "average_days": round(sum(days[s.id]) / len(days[s.id]), 3) if days[s.id] else None,
            }
            for s in pipeline.stages
        ],
        "conversion": conversion,
        "lost_reasons": dict(lost_reasons.most_common()),
    }
