"""Benchmark scenarios. Each module exposes `description` and `async run(ctx) -> list[figure]`;
a figure is {name, value, unit} plus, for rates, the ceiling it is compared with."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from scenarios import (
    ceilings,
    deals_pipeline,
    leads_intake,
    motivation_pay,
    notifier_delivery,
    reads_at_size,
    reports,
    team_directory,
    telephony_intake,
)


@dataclass
class BenchContext:
    kafka: str
    mongo: str
    quick: bool
    workdir: Path
    ceilings: dict[str, float] = field(default_factory=dict)
    largest: int = 1_000_000  # the most records reads_at_size stores

    def size(self, full: int, quick: int) -> int:
        return quick if self.quick else full

    def rate_figure(self, name: str, value: float, unit: str) -> dict[str, Any]:
        """A rate compared with the lower of the two raw ceilings measured in this run."""
        ceiling_name = min(("kafka_produce", "mongo_insert"), key=lambda k: self.ceilings[k])
        return {
            "name": name,
            "value": value,
            "unit": unit,
            "ceiling": ceiling_name,
            "ratio": value / self.ceilings[ceiling_name],
        }


# The notifier runs before anything produces lead events: its new consumer group reads the
# topic from the beginning, and a backlog from the other scenarios would be measured instead.
SCENARIOS: dict[str, ModuleType] = {
    "ceilings": ceilings,
    "team_directory": team_directory,
    "notifier_delivery": notifier_delivery,
    "leads_intake": leads_intake,
    "telephony_intake": telephony_intake,
    "deals_pipeline": deals_pipeline,
    "motivation_pay": motivation_pay,
    "reports": reports,
    "reads_at_size": reads_at_size,
}
