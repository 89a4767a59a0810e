"""Plans and pay, as the seed's §2.9 has them: the salary part follows the activity plan's
fulfilment (a tier table: fulfilment % -> share of the base salary), the commission part follows
the sales plan's fulfilment (a tier table: fulfilment % -> commission % of sales). Pure: facts
and rules in, a payout with its explanation out.

Decisions (docs/motivation.md):
- a KPI's fulfilment is capped (150 % by default) before it is weighted, so one KPI done three
  times over cannot hide another at 0 %;
- a tier applies from its lower bound inclusive up to the next tier's bound exclusive; the
  first tier starts at 0 %; values never decrease, so more fulfilment never pays less;
- fulfilment percentages are computed exactly (Decimal) and shown to two places; money is
  rounded once, at the end, half up to kopecks.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from motivation.domain.activity import ACTIVITY_KPIS

HUNDRED = Decimal(100)
KOPECK = Decimal("0.01")
Percent = Annotated[Decimal, Field(ge=0, le=Decimal(100_000), decimal_places=4)]
Money = Annotated[Decimal, Field(ge=0, le=Decimal("1e12"), decimal_places=2)]


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KpiTarget(_Config):
    kpi: str
    target: Annotated[Decimal, Field(gt=0, le=Decimal(1_000_000), decimal_places=2)]
    weight: Annotated[Decimal, Field(gt=0, le=1, decimal_places=4)]


class Plan(_Config):
    """An activity plan (weighted KPI targets) and a sales plan (revenue) for one period."""

    activity: Annotated[list[KpiTarget], Field(min_length=1, max_length=len(ACTIVITY_KPIS))]
    sales_target: Money
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "RUB"

    @field_validator("activity")
    @classmethod
    def _consistent(cls, activity: list[KpiTarget]) -> list[KpiTarget]:
        kpis = [t.kpi for t in activity]
        unknown = [k for k in kpis if k not in ACTIVITY_KPIS]
        if unknown:
            raise ValueError(f"unknown KPI {unknown[0]!r} (known: {', '.join(ACTIVITY_KPIS)})")
        if len(set(kpis)) != len(kpis):
            raise ValueError("a KPI appears twice in the activity plan")
        total = sum((t.weight for t in activity), Decimal(0))
        if total != 1:
            raise ValueError(f"the activity plan's weights sum to {total}, not 1")
        return activity


class Tier(_Config):
    from_percent: Percent
    value_percent: Percent


class TierTable(_Config):
    tiers: Annotated[list[Tier], Field(min_length=1, max_length=50)]

    @model_validator(mode="after")
    def _consistent(self) -> TierTable:
        bounds = [t.from_percent for t in self.tiers]
        if bounds[0] != 0:
            raise ValueError("the first tier must start at 0 % (no fulfilment may fall outside the table)")
        for lower, upper in itertools.pairwise(bounds):
            if upper <= lower:
                raise ValueError(f"tiers overlap or are out of order: {upper} % after {lower} %")
        values = [t.value_percent for t in self.tiers]
        for low, high in itertools.pairwise(values):
            if high < low:
                raise ValueError("a higher tier pays less than a lower one: more fulfilment must never pay less")
        return self

    def tier_for(self, fulfilment_percent: Decimal) -> tuple[int, Tier]:
        chosen = 0
        for index, tier in enumerate(self.tiers):
            if fulfilment_percent >= tier.from_percent:
                chosen = index
        return chosen, self.tiers[chosen]

    def describe(self, index: int) -> str:
        tier = self.tiers[index]
        upper = f"below {self.tiers[index + 1].from_percent} %" if index + 1 < len(self.tiers) else "and above"
        return f"from {tier.from_percent} % {upper}"


class PayRules(_Config):
    """A department's pay rules (or the hub's defaults)."""

    salary_tiers: TierTable
    commission_tiers: TierTable
    kpi_cap_percent: Annotated[Decimal, Field(ge=100, le=1000)] = Decimal(150)


# Example defaults, clearly not the book's (its tables 3 and 4 are images the seed text does not
# carry): set your own per department with PUT /v1/pay-rules/departments/{id}.
EXAMPLE_RULES = PayRules(
    salary_tiers=TierTable(
        tiers=[
            Tier(from_percent=Decimal(0), value_percent=Decimal(50)),
            Tier(from_percent=Decimal(50), value_percent=Decimal(70)),
            Tier(from_percent=Decimal(80), value_percent=Decimal(90)),
            Tier(from_percent=Decimal(100), value_percent=Decimal(100)),
            Tier(from_percent=Decimal(120), value_percent=Decimal(110)),
        ]
    ),
    commission_tiers=TierTable(
        tiers=[
            Tier(from_percent=Decimal(0), value_percent=Decimal(0)),
            Tier(from_percent=Decimal(50), value_percent=Decimal(3)),
            Tier(from_percent=Decimal(80), value_percent=Decimal(5)),
            Tier(from_percent=Decimal(100), value_percent=Decimal(7)),
            Tier(from_percent=Decimal(120), value_percent=Decimal(9)),
        ]
    ),
)


@dataclass(frozen=True)
class Facts:
    """What a manager did in a period: KPI counts and revenue (minor units) in the plan's currency."""

    counts: dict[str, int] = field(default_factory=dict)
    revenue_minor: int = 0
    refs: dict[str, list[str]] = field(default_factory=dict)


def money(value: Decimal) -> Decimal:
    return value.quantize(KOPECK, rounding=ROUND_HALF_UP)


def shown(percent: Decimal) -> Decimal:
    return percent.quantize(KOPECK, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Payout:
    base_salary: Decimal
    activity_percent: Decimal
    salary_tier: int
    salary_share_percent: Decimal
    salary: Decimal
    sales_percent: Decimal | None
    commission_tier: int
    commission_rate_percent: Decimal
    commission_base: Decimal
    commission: Decimal
    adjustments: Decimal
    total: Decimal
    lines: list[dict[str, Any]]


def payout(
    plan: Plan, rules: PayRules, facts: Facts, *, base_salary: Decimal, adjustments: Decimal = Decimal(0)
) -> Payout:
    """The payout and, line by line, why."""
    cap = rules.kpi_cap_percent
    lines: list[dict[str, Any]] = []
    activity = Decimal(0)
    for target in plan.activity:
        fact = Decimal(facts.counts.get(target.kpi, 0))
        raw = fact / target.target * HUNDRED
        counted = min(raw, cap)
        activity += counted * target.weight
        lines.append(
            {
                "line": "kpi",
                "kpi": target.kpi,
                "fact": int(fact),
                "target": target.target,
                "fulfilment_percent": shown(raw),
                "counted_percent": shown(counted),
                "capped": raw > cap,
                "weight": target.weight,
                "contribution_percent": shown(counted * target.weight),
                "refs": facts.refs.get(target.kpi, [])[:50],
            }
        )
    salary_index, salary_tier = rules.salary_tiers.tier_for(activity)
    salary = base_salary * salary_tier.value_percent / HUNDRED
    lines.append(
        {
            "line": "salary",
            "activity_fulfilment_percent": shown(activity),
            "tier": salary_index + 1,
            "tier_range": rules.salary_tiers.describe(salary_index),
            "share_of_base_percent": salary_tier.value_percent,
            "base_salary": base_salary,
            "amount": money(salary),
            "why": (
                f"activity plan fulfilled {shown(activity)} % (each KPI counted up to {cap} %): tier "
                f"{salary_index + 1} ({rules.salary_tiers.describe(salary_index)}) pays {salary_tier.value_percent} % of the base"
            ),
        }
    )
    revenue = Decimal(facts.revenue_minor) / HUNDRED
    sales = revenue / plan.sales_target * HUNDRED if plan.sales_target > 0 else None
    commission_index, commission_tier = rules.commission_tiers.tier_for(sales if sales is not None else HUNDRED)
    commission = revenue * commission_tier.value_percent / HUNDRED
    lines.append(
        {
            "line": "commission",
            "sales_fact": money(revenue),
            "sales_target": plan.sales_target,
            "currency": plan.currency,
            "sales_fulfilment_percent": shown(sales) if sales is not None else None,
            "tier": commission_index + 1,
            "tier_range": rules.commission_tiers.describe(commission_index),
            "commission_base": money(revenue),
            "rate_percent": commission_tier.value_percent,
            "amount": money(commission),
            "refs": facts.refs.get("revenue", [])[:50],
            "why": (
                f"sales plan fulfilled {shown(sales)} %: tier {commission_index + 1} "
                f"({rules.commission_tiers.describe(commission_index)}) pays {commission_tier.value_percent} % of "
                f"{money(revenue)} {plan.currency}"
                if sales is not None
                else f"no sales target: {commission_tier.value_percent} % of {money(revenue)} {plan.currency}"
            ),
        }
    )
    if adjustments:
        lines.append({"line": "adjustments", "amount": money(adjustments)})
    total = money(salary + commission + adjustments)
    lines.append({"line": "total", "amount": total, "currency": plan.currency})
    return Payout(
        base_salary=base_salary,
        activity_percent=activity,
        salary_tier=salary_index,
        salary_share_percent=salary_tier.value_percent,
        salary=money(salary),
        sales_percent=sales,
        commission_tier=commission_index,
        commission_rate_percent=commission_tier.value_percent,
        commission_base=money(revenue),
        commission=money(commission),
        adjustments=money(adjustments),
        total=total,
        lines=lines,
    )
