"""Plans, tier tables and payouts as pure code: validation that names the problem, the tier maths
(property tests: more fulfilment never pays less, boundaries are exact, Decimal is exact), what
each event counts for, periods, and the realism checks and the funnel diagnosis."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from motivation.domain.activity import counts_of, period_days, period_of, previous_period, year_before
from motivation.domain.pay import EXAMPLE_RULES, Facts, PayRules, Plan, TierTable, payout
from motivation.domain.realism import conversions, diagnose, missed_share, unrealistic

PLAN = Plan.model_validate(
    {
        "activity": [
            {"kpi": "outgoing_calls", "target": 100, "weight": "0.5"},
            {"kpi": "meetings_held", "target": 10, "weight": "0.3"},
            {"kpi": "proposals_sent", "target": 5, "weight": "0.2"},
        ],
        "sales_target": "1000000",
    }
)
BASE = Decimal("60000")


def pay_for(calls: int, meetings: int, proposals: int, revenue_rub: Decimal) -> Decimal:
    facts = Facts(
        counts={"outgoing_calls": calls, "meetings_held": meetings, "proposals_sent": proposals},
        revenue_minor=int(revenue_rub * 100),
    )
    return payout(PLAN, EXAMPLE_RULES, facts, base_salary=BASE).total


def test_a_payout_is_explained_line_by_line():
    facts = Facts(
        counts={"outgoing_calls": 90, "meetings_held": 8, "proposals_sent": 5},
        revenue_minor=85_000_000,
        refs={"meetings_held": ["deal:deal-1"]},
    )
    result = payout(PLAN, EXAMPLE_RULES, facts, base_salary=BASE)
    # activity: 90 % * 0.5 + 80 % * 0.3 + 100 % * 0.2 = 89 % -> tier 3 (80..100): 90 % of the base
    assert result.activity_percent == Decimal(89)
    assert (result.salary_tier, result.salary_share_percent, result.salary) == (2, Decimal(90), Decimal("54000.00"))
    # sales: 850,000 of 1,000,000 = 85 % -> tier 3 (80..100): 5 % of 850,000
    assert result.sales_percent == Decimal(85)
    assert (result.commission_rate_percent, result.commission) == (Decimal(5), Decimal("42500.00"))
    assert result.total == Decimal("96500.00")
    kpis = [line for line in result.lines if line["line"] == "kpi"]
    assert [(k["kpi"], k["fact"], k["fulfilment_percent"]) for k in kpis] == [
        ("outgoing_calls", 90, Decimal("90.00")),
        ("meetings_held", 8, Decimal("80.00")),
        ("proposals_sent", 5, Decimal("100.00")),
    ]
    assert kpis[1]["refs"] == ["deal:deal-1"]
    salary = next(line for line in result.lines if line["line"] == "salary")
    assert "tier 3 (from 80 % below 100 %) pays 90 % of the base" in salary["why"]


def test_one_kpi_far_over_its_target_cannot_hide_another_at_zero():
    over = Facts(counts={"outgoing_calls": 300, "meetings_held": 0, "proposals_sent": 0})
    result = payout(PLAN, EXAMPLE_RULES, over, base_salary=BASE)
    assert result.activity_percent == Decimal(75)  # 300 % counted as 150 %, times 0.5
    calls = next(line for line in result.lines if line.get("kpi") == "outgoing_calls")
    assert calls["capped"]


def test_tier_boundaries_are_exact_lower_bound_inclusive():
    table = EXAMPLE_RULES.salary_tiers
    assert table.tier_for(Decimal("79.9999"))[1].value_percent == 70
    assert table.tier_for(Decimal(80))[1].value_percent == 90
    assert table.tier_for(Decimal(0))[1].value_percent == 50
    assert table.tier_for(Decimal(10_000))[1].value_percent == 110


def test_money_is_rounded_once_half_up_to_kopecks():
    plan = PLAN.model_copy(update={"sales_target": Decimal(1)})
    facts = Facts(revenue_minor=1)  # 0.01 RUB at 9 % = 0.0009 -> 0.00; with a base of 0.05 at 50 % = 0.025
    result = payout(plan, EXAMPLE_RULES, facts, base_salary=Decimal("0.05"))
    assert result.total == Decimal(
        "0.03"
    )  # 0.025 + 0.0009 = 0.0259 -> 0.03 (rounding the parts first would give 0.03 + 0.00)


@settings(max_examples=400, deadline=None)
@given(
    st.integers(0, 400),
    st.integers(0, 40),
    st.integers(0, 20),
    st.decimals(0, 3_000_000, places=2),
    st.sampled_from(["calls", "meetings", "proposals", "revenue"]),
    st.integers(1, 50),
)
def test_more_fulfilment_never_pays_less(calls, meetings, proposals, revenue, what, more):
    before = pay_for(calls, meetings, proposals, revenue)
    after = pay_for(
        calls + more * (what == "calls"),
        meetings + more * (what == "meetings"),
        proposals + more * (what == "proposals"),
        revenue + Decimal(more * 1000) * (what == "revenue"),
    )
    assert after >= before
    assert after == after.quantize(Decimal("0.01"))


@pytest.mark.parametrize(
    ("plan", "message"),
    [
        (
            {"activity": [{"kpi": "outgoing_calls", "target": 10, "weight": "0.5"}], "sales_target": 1},
            "sum to 0.5, not 1",
        ),
        ({"activity": [{"kpi": "coffee", "target": 10, "weight": 1}], "sales_target": 1}, "unknown KPI 'coffee'"),
        (
            {
                "activity": [
                    {"kpi": "outgoing_calls", "target": 10, "weight": "0.5"},
                    {"kpi": "outgoing_calls", "target": 5, "weight": "0.5"},
                ],
                "sales_target": 1,
            },
            "appears twice",
        ),
        ({"activity": [{"kpi": "outgoing_calls", "target": -1, "weight": 1}], "sales_target": 1}, "greater than 0"),
        (
            {"activity": [{"kpi": "outgoing_calls", "target": 1, "weight": 1}], "sales_target": -5},
            "greater than or equal to 0",
        ),
        ({"activity": [{"kpi": "outgoing_calls", "target": "ten", "weight": 1}], "sales_target": 1}, "valid decimal"),
        ({"activity": [], "sales_target": 1}, "at least 1 item"),
    ],
)
def test_a_bad_plan_is_refused_naming_the_problem(plan, message):
    with pytest.raises(ValidationError, match=message):
        Plan.model_validate(plan)


@pytest.mark.parametrize(
    ("tiers", "message"),
    [
        ([{"from_percent": 10, "value_percent": 5}], "must start at 0"),
        (
            [{"from_percent": 0, "value_percent": 5}, {"from_percent": 0, "value_percent": 6}],
            "overlap or are out of order",
        ),
        ([{"from_percent": 0, "value_percent": 5}, {"from_percent": 80, "value_percent": 4}], "pays less"),
        ([{"from_percent": 0, "value_percent": -1}], "greater than or equal to 0"),
    ],
)
def test_a_bad_tier_table_is_refused(tiers, message):
    with pytest.raises(ValidationError, match=message):
        TierTable.model_validate({"tiers": tiers})
    with pytest.raises(ValidationError):
        PayRules.model_validate(
            {"salary_tiers": {"tiers": tiers}, "commission_tiers": EXAMPLE_RULES.commission_tiers.model_dump()}
        )


AT = datetime(2026, 10, 31, 21, 30, tzinfo=UTC)  # 1 November, 00:30 in Moscow


def test_each_event_counts_for_its_manager_at_the_moment_it_happened():
    call = {"call_id": "c1", "direction": "outbound", "manager_id": "anna", "started_at": AT.isoformat()}
    assert [(c.manager_id, c.kpi, c.at) for c in counts_of("call.completed", {"call": call}, AT)] == [
        ("anna", "outgoing_calls", AT)
    ]
    assert counts_of("call.completed", {"call": {**call, "manager_id": None}}, AT) == []
    deal = {"deal_id": "deal-1", "manager_id": "anna", "currency": "RUB"}
    paid = {
        "deal": deal,
        "kind": "payment_received",
        "manager_id": "anna",
        "happened_at": AT.isoformat(),
        "amount": "1234.565",
    }
    [revenue] = counts_of("deal.activity_recorded", paid, AT)
    assert (revenue.kpi, revenue.amount_minor, revenue.currency, revenue.ref) == (
        "revenue",
        123457,
        "RUB",
        "deal:deal-1",
    )
    won = {"deal": deal, "from_stage": "review", "to_stage": "won", "outcome": "won", "at": AT.isoformat()}
    assert [c.kpi for c in counts_of("deal.stage_changed", won, AT)] == ["deals_won"]
    taken = {"lead_id": "l1", "manager_id": "anna", "taken_at": AT.isoformat(), "within_sla": False}
    assert counts_of("lead.taken", taken, AT) == []
    assert counts_of("deal.activity_recorded", {**paid, "kind": "note"}, AT) == []


def test_periods_are_months_from_a_start_day():
    assert period_of(date(2026, 11, 1)) == "2026-11"
    assert period_of(date(2026, 11, 24), start_day=25) == "2026-10"
    assert period_of(date(2026, 1, 3), start_day=5) == "2025-12"
    assert period_days("2026-12", 25) == (date(2026, 12, 25), date(2027, 1, 24))
    assert previous_period("2026-01") == "2025-12"
    assert year_before("2026-03") == "2025-03"


def test_a_plan_is_unrealistic_only_when_most_missed_in_every_one_of_the_last_months():
    assert missed_share([Decimal(50), Decimal(120), None]) == Decimal("0.5")
    assert missed_share([None]) is None
    high = Decimal("0.8")
    assert unrealistic([high, high, high], threshold=Decimal("0.7"), months=3)
    assert not unrealistic([high, Decimal("0.7"), high], threshold=Decimal("0.7"), months=3)  # 70 % is not more
    assert not unrealistic([high, high], threshold=Decimal("0.7"), months=3)
    assert not unrealistic([None, high, high], threshold=Decimal("0.7"), months=3)


def test_the_diagnosis_names_the_step_furthest_below_the_department_median():
    good = {"outgoing_calls": 100, "meetings_held": 20, "proposals_sent": 10, "deals_won": 4}
    behind = {"outgoing_calls": 100, "meetings_held": 4, "proposals_sent": 3, "deals_won": 1}
    found = diagnose(behind, [good, good, behind])
    assert found is not None
    assert found.step == "meetings_held"
    assert found.text == "meetings held: 4 against the department's median 20 (20 % of it)"
    assert conversions(good)["calls->meetings_held"] == Decimal("0.2")
    assert diagnose(good, [good, good]) is None
