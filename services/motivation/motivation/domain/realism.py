"""Is the plan wrong, or are a few people behind? (§2.9) And the funnel behind the answer. Pure.

- If more than `threshold` of a department's managers missed the sales plan in each of the last
  `months` closed periods, the plan is unrealistic — unless the department is seasonal, which
  gets a review with the same months of the previous year instead.
- If only a few missed (a share at or below `few_share`), each of them is underperforming, and
  the diagnosis is the step of their funnel furthest below the department's median: an
  activity (calls, meetings, proposals) or a conversion between consecutive steps.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from motivation.domain.activity import FUNNEL_STEPS

STEP_NAMES = {
    "incoming_calls": "incoming calls",
    "outgoing_calls": "outgoing calls",
    "meetings_held": "meetings held",
    "proposals_sent": "proposals sent",
    "invoices_issued": "invoices issued",
    "deals_won": "deals won",
}


def missed_share(fulfilments: Sequence[Decimal | None]) -> Decimal | None:
    """Share of the managers with a sales plan who missed it (None: nobody had one)."""
    planned = [f for f in fulfilments if f is not None]
    if not planned:
        return None
    return Decimal(sum(1 for f in planned if f < 100)) / Decimal(len(planned))


def unrealistic(history: Sequence[Decimal | None], *, threshold: Decimal, months: int) -> bool:
    """`history`: the missed shares of the last closed periods, oldest first, this one last."""
    recent = list(history)[-months:]
    return len(recent) == months and all(share is not None and share > threshold for share in recent)


def conversions(counts: Mapping[str, int]) -> dict[str, Decimal | None]:
    """Each funnel step's conversion from the step before it (calls: incoming + outgoing)."""
    calls = counts.get("incoming_calls", 0) + counts.get("outgoing_calls", 0)
    chain = [("calls", calls)] + [(step, counts.get(step, 0)) for step in FUNNEL_STEPS[2:]]
    found: dict[str, Decimal | None] = {}
    for (before, n_before), (step, n_step) in itertools.pairwise(chain):
        found[f"{before}->{step}"] = Decimal(n_step) / Decimal(n_before) if n_before else None
    return found


@dataclass(frozen=True)
class Diagnosis:
    step: str
    value: Decimal
    median: Decimal
    text: str


def diagnose(manager: Mapping[str, int], department: Sequence[Mapping[str, int]]) -> Diagnosis | None:
    """The measure (activity count or conversion) where the manager is furthest below the
    department's median, as a ratio to that median."""
    worst: tuple[Decimal, str, Decimal, Decimal] | None = None
    measures: dict[str, Decimal | None] = {
        step: Decimal(manager.get(step, 0)) for step in ("outgoing_calls", "meetings_held", "proposals_sent")
    }
    measures.update(conversions(manager))
    for name, value in measures.items():
        peers: list[Decimal] = []
        for other in department:
            if name in ("outgoing_calls", "meetings_held", "proposals_sent"):
                peers.append(Decimal(other.get(name, 0)))
            else:
                rate = conversions(other).get(name)
                if rate is not None:
                    peers.append(rate)
        if value is None or not peers:
            continue
        median = Decimal(statistics.median(peers))
        if median <= 0:
            continue
        ratio = value / median
        if ratio < 1 and (worst is None or ratio < worst[0]):
            worst = (ratio, name, value, median)
    if worst is None:
        return None
    ratio, name, value, median = worst
    label = _label(name)
    percent = (ratio * 100).quantize(Decimal(1))
    return Diagnosis(
        name,
        value,
        median,
        f"{label}: {_show(name, value)} against the department's median {_show(name, median)} ({percent} % of it)",
    )


def _label(name: str) -> str:
    if "->" in name:
        before, after = name.split("->")
        return f"conversion from {STEP_NAMES.get(before, before)} to {STEP_NAMES.get(after, after)}"
    return STEP_NAMES.get(name, name)


def _show(name: str, value: Decimal) -> str:
    if "->" in name:
        return f"{(value * 100).quantize(Decimal('0.1'))} %"
    text = f"{value:.1f}"
    return text.removesuffix(".0")
