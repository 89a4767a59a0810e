"""The pure core of the reports: what events add, how requests are read, and how cells become
reports; the sums are checked as properties over generated cells (groups add up to the total,
the monthly roll-up equals the days it rolls up, filters partition the total)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmhub.auth import Principal
from motivation.domain.reporting import (
    REPORTS,
    BadQuery,
    Cell,
    ReportQuery,
    buckets_between,
    build_rows,
    cell_key,
    facts_of,
    lean,
    measure_name,
    month_end,
    parse_query,
    percentile_bound,
    reference_needed,
    reference_of,
    summed,
    whole_months,
)
from motivation.service_layer.reports import Forbidden, visible

TODAY = date(2026, 11, 27)
NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)
DEAL = {
    "deal_id": "d1",
    "title": "Кухня",
    "pipeline_id": "client_service",
    "stage": "invoice",
    "manager_id": "anna",
    "department_id": "sales",
    "amount": "150000.50",
    "currency": "RUB",
    "region": "Москва",
    "product": "Кухня",
}


def q(report: str = "sales", **params: str | list[str]) -> ReportQuery:
    items = [(k, v) for k, values in params.items() for v in (values if isinstance(values, list) else [values])]
    return parse_query(report, [("from" if k == "from_" else k, v) for k, v in items], TODAY)


# --- what events add ---------------------------------------------------------------------------------------


def test_a_lead_is_counted_where_it_came_from_and_later_for_its_manager():
    created = {
        "lead": {
            "lead_id": "l1",
            "source_id": "phone",
            "product": "Кухня",
            "region": "Тверь",
            "utm": {"campaign": "radio"},
        },
        "custom": {"line": "+74951112233"},
        "created_at": "2026-10-05T09:00:00Z",
        "channel": "phone",
    }
    (fact,) = facts_of("lead.created", created, NOW)
    assert fact.measures == {"leads": 1}
    assert (fact.dims["source"], fact.dims["campaign"], fact.dims["line"], fact.dims["manager"]) == (
        "phone",
        "radio",
        "+74951112233",
        "",
    )
    key, remembered = reference_of("lead.created", created)
    taken = {
        "lead_id": "l1",
        "manager_id": "anna",
        "source_id": "phone",
        "taken_at": "2026-10-05T09:05:00Z",
        "within_sla": True,
    }
    assert reference_needed("lead.taken", taken) == key
    (fact,) = facts_of("lead.taken", taken, NOW, remembered)
    assert fact.measures == {"leads_taken": 1, "leads_taken_in_sla": 1}
    assert (fact.dims["manager"], fact.dims["region"], fact.dims["line"]) == ("anna", "Тверь", "+74951112233")
    reassigned = {
        "lead": created["lead"],
        "manager_id": "boris",
        "previous_manager_id": "anna",
        "assigned_at": "2026-10-05T10:00:00Z",
    }
    assert facts_of("lead.assigned", reassigned, NOW) == []  # a lead is counted for its first manager only


def test_calls_by_the_third_ring_missed_calls_and_call_backs():
    def call(direction: str, ring: float | None, outcome: str = "answered") -> dict[str, object]:
        return {
            "call": {
                "call_id": "c1",
                "direction": direction,
                "manager_id": "anna",
                "line": "+7495",
                "campaign": "radio",
                "started_at": "2026-10-06T09:00:00Z",
                "ring_seconds": ring,
                "outcome": outcome,
            }
        }

    assert facts_of("call.completed", call("inbound", 15), NOW)[0].measures["calls_answered_by_third_ring"] == 1
    assert facts_of("call.completed", call("inbound", 15.5), NOW)[0].measures["calls_answered_by_third_ring"] == 0
    assert (
        facts_of("call.completed", call("inbound", 20), NOW, third_ring_seconds=25)[0].measures[
            "calls_answered_by_third_ring"
        ]
        == 1
    )
    assert facts_of("call.completed", call("outbound", None), NOW)[0].measures == {"calls_outgoing": 1}
    assert facts_of("call.completed", call("internal", 2), NOW) == []
    assert facts_of("call.missed", call("inbound", 40, "missed"), NOW)[0].measures == {
        "calls_incoming": 1,
        "calls_missed": 1,
    }
    callback = {
        "missed_call_id": "c1",
        "callback_call_id": "c2",
        "number": "+7916",
        "manager_id": "boris",
        "delay_seconds": 400,
    }
    (fact,) = facts_of("call.callback_made", callback, NOW, {"line": "+7495", "campaign": "radio"})
    assert fact.measures == {"callbacks_made": 1, "callback_le_900": 1}
    assert (fact.at, fact.dims["line"]) == (NOW, "+7495")


def test_deals_won_paid_and_lost_with_their_source():
    created = {
        "deal": DEAL,
        "source_id": "site",
        "campaign": "autumn",
        "lead_id": "l1",
        "created_at": "2026-10-08T10:00:00Z",
    }
    (fact,) = facts_of("deal.created", created, NOW)
    assert (fact.measures, fact.dims["source"], fact.dims["product"]) == ({"deals_created": 1}, "site", "Кухня")
    _, ref = reference_of("deal.created", created)
    paid = {
        "deal": DEAL,
        "kind": "payment_received",
        "manager_id": "anna",
        "happened_at": "2026-10-10T12:00:00Z",
        "amount": "150000.50",
    }
    (fact,) = facts_of("deal.activity_recorded", paid, NOW, ref)
    assert fact.measures == {"revenue_RUB": 15000050, "payments": 1}
    assert fact.dims["campaign"] == "autumn"
    won = {"deal": DEAL, "from_stage": "invoice", "to_stage": "won", "outcome": "won", "at": "2026-10-12T12:00:00Z"}
    assert facts_of("deal.stage_changed", won, NOW, ref)[0].measures == {"deals_won": 1, "won_amount_RUB": 15000050}
    lost = {**won, "to_stage": "lost", "outcome": "lost", "lost_reason": "Купил у конкурента"}
    assert facts_of("deal.stage_changed", lost, NOW, ref)[0].measures == {"deals_lost": 1, "lost_купил_у_конкурента": 1}
    assert facts_of("deal.stage_changed", {**won, "from_stage": "won"}, NOW) == []  # not a move
    note = {**paid, "kind": "note", "amount": None}
    assert facts_of("deal.activity_recorded", note, NOW) == []


@pytest.mark.parametrize("hostile", ["a.b", "$where", "x" * 500, "", "  ", "мир.$"])
def test_measure_names_from_outside_text_are_safe_field_names(hostile):
    name = measure_name(hostile)
    assert name
    assert "." not in name
    assert "$" not in name
    assert len(name) <= 60


# --- requests -----------------------------------------------------------------------------------------------


def test_a_request_defaults_to_this_month_by_the_reports_own_grouping():
    query = q()
    assert (query.start, query.end, query.group_by) == (date(2026, 11, 1), date(2026, 11, 30), ("manager",))
    assert q("attribution").group_by == ("source",)
    assert q("plan").group_by == ("manager",)
    assert q(group_by="").group_by == ()
    assert q(group_by="region, product").group_by == ("region", "product")
    assert q(group_by=["region", "month"]).group_by == ("region", "month")
    assert q(from_="2026-02", to="2026-02").end == date(2026, 2, 28)
    assert q(manager=["anna", "boris"]).filters == {"manager": frozenset({"anna", "boris"})}


@pytest.mark.parametrize(
    ("report", "params", "parameter"),
    [
        ("nope", {}, "report"),
        ("sales", {"colour": "red"}, "colour"),
        ("sales", {"group_by": "colour"}, "group_by"),
        ("sales", {"group_by": "manager,manager"}, "group_by"),
        ("sales", {"group_by": "a,b,c"}, "group_by"),
        ("sales", {"group_by": "day,week"}, "group_by"),
        ("sales", {"from_": "2026-02-30"}, "from"),
        ("sales", {"from_": "yesterday"}, "from"),
        ("sales", {"from_": ["2026-01-01", "2026-02-01"]}, "from"),
        ("sales", {"from_": "2026-10-02", "to": "2026-10-01"}, "from"),
        ("sales", {"from_": "2020-01-01", "to": "2024-01-01"}, "to"),
        ("sales", {"from_": "9999-01-01", "to": "9999-01-02"}, "from"),
        ("sales", {"manager": "$ne"}, "manager"),
        ("sales", {"region": "{}"}, "region"),
        ("sales", {"region": "x\x00"}, "region"),
        ("sales", {"region": "x" * 201}, "region"),
        ("sales", {"region": ["x"] * 51}, "region"),
        ("sales", {"currency": "руб"}, "currency"),
    ],
)
def test_bad_requests_name_their_parameter(report, params, parameter):
    with pytest.raises(BadQuery) as refused:
        q(report, **params)
    assert refused.value.parameter == parameter


def test_the_previous_period_is_as_long_and_whole_months_stay_whole():
    october = q(from_="2026-10", to="2026-10").previous()
    assert (october.start, october.end) == (date(2026, 9, 1), date(2026, 9, 30))
    quarter = q(from_="2026-01", to="2026-03").previous()
    assert (quarter.start, quarter.end) == (date(2025, 10, 1), date(2025, 12, 31))
    week = q(from_="2026-10-05", to="2026-10-11").previous()
    assert (week.start, week.end) == (date(2026, 9, 28), date(2026, 10, 4))


def test_periods_buckets_and_which_months_come_from_the_roll_up():
    assert buckets_between(date(2026, 12, 28), date(2027, 1, 4), "week") == ["2026-W53", "2027-W01"]
    assert buckets_between(date(2026, 2, 1), date(2026, 7, 1), "quarter") == ["2026-Q1", "2026-Q2", "2026-Q3"]
    assert whole_months(q(from_="2026-01-15", to="2026-04-10")) == [date(2026, 2, 1), date(2026, 3, 1)]
    assert whole_months(q(from_="2026-01", to="2026-03", group_by="week")) == []


def test_call_back_percentiles_are_the_bounds_of_their_buckets():
    assert percentile_bound({}, Decimal("0.5")) is None
    hist = {"callback_le_60": 5, "callback_le_900": 4, "callback_gt_172800": 1}
    assert percentile_bound(hist, Decimal("0.5")) == 60
    assert percentile_bound(hist, Decimal("0.9")) == 900
    assert percentile_bound(hist, Decimal("0.95")) is None  # beyond two days


# --- sums as properties -------------------------------------------------------------------------------------

MANAGERS = ("anna", "boris", "")
PRODUCTS = ("Кухня", "Шкаф", "")
cells = st.lists(
    st.builds(
        lambda day, manager, product, revenue, won, lost: Cell(
            date(2026, 1, 1) + timedelta(days=day),
            {"manager": manager, "department": "sales", "product": product},
            {"revenue_RUB": revenue, "deals_won": won, "deals_lost": lost, "won_amount_RUB": revenue},
        ),
        st.integers(0, 120),
        st.sampled_from(MANAGERS),
        st.sampled_from(PRODUCTS),
        st.integers(0, 10**9),
        st.integers(0, 5),
        st.integers(0, 5),
    ),
    max_size=60,
)


def roll_up(days: list[Cell]) -> list[Cell]:
    """The monthly roll-up the store keeps next to the days."""
    months: dict[tuple[date, str], Cell] = {}
    for cell in days:
        month = cell.day.replace(day=1)
        key = (month, cell_key(cell.dims))
        before = months.get(key)
        measures = dict(before.measures) if before else {}
        for name, value in cell.measures.items():
            measures[name] = measures.get(name, 0) + value
        months[key] = Cell(month, cell.dims, measures, whole_month=True)
    return list(months.values())


def totals_of(query: ReportQuery, found: list[Cell]) -> Mapping[str, int]:
    return summed(query, found, REPORTS[query.report].reads).total


@settings(max_examples=150, deadline=None)
@given(cells, st.sampled_from(["manager", "product", "month", "week", "day"]))
def test_groups_add_up_to_the_total(found, grouping):
    query = q(from_="2026-01-01", to="2026-04-30", group_by=grouping)
    sums = summed(query, found, REPORTS["sales"].reads)
    for measure in ("revenue_RUB", "deals_won", "deals_lost"):
        assert sum(g.get(measure, 0) for g in sums.groups.values()) == sums.total.get(measure, 0)
    rows, totals = build_rows(query, sums, lambda g, v: v, REPORTS["sales"].compute)
    assert sum(Decimal(r["values"]["revenue"]) for r in rows) == totals["revenue"]
    if grouping in ("month", "week", "day"):
        keys = [r["key"][grouping] for r in rows]
        assert keys == sorted(keys)  # periods in order, every bucket of the range present
        assert len(keys) == len(buckets_between(query.start, query.end, grouping))


@settings(max_examples=150, deadline=None)
@given(cells, st.sampled_from([("2026-01", "2026-03"), ("2026-02", "2026-02"), ("2026-01", "2026-04")]))
def test_the_monthly_roll_up_answers_as_the_days_do(found, months):
    start, end = months
    query = q(from_=start, to=end, group_by=["manager", "product"])
    assert summed(query, roll_up(found)).groups == summed(query, found).groups
    assert totals_of(query, roll_up(found)) == totals_of(query, found)


@settings(max_examples=100, deadline=None)
@given(cells)
def test_filters_partition_the_total(found):
    everything = totals_of(q(from_="2026-01-01", to="2026-05-31"), found)
    parts: dict[str, int] = {}
    for manager in MANAGERS:
        for name, value in totals_of(
            q(from_="2026-01-01", to="2026-05-31", manager=manager or "(none)"), found
        ).items():
            parts[name] = parts.get(name, 0) + value
    unassigned = totals_of(q(from_="2026-01-01", to="2026-05-31"), [c for c in found if not c.dims["manager"]])
    for name, value in unassigned.items():
        parts[name] = parts.get(name, 0) + value
    assert parts == dict(everything)


def test_an_empty_period_is_a_report_of_zeros():
    query = q(from_="2026-02", to="2026-02", group_by="")
    rows, totals = build_rows(query, summed(query, []), lambda g, v: v, REPORTS["responsiveness"].compute)
    assert rows == []
    assert (totals["leads_taken"], totals["sla_share"], totals["callback_p50_seconds"]) == (0, None, None)
    assert month_end(date(2028, 2, 1)) == date(2028, 2, 29)


def lean_roll_up(days: list[Cell]) -> list[Cell]:
    """The months' totals by manager and department alone, as the store keeps them too."""
    return roll_up(
        [Cell(c.day, {"manager": c.dims["manager"], "department": c.dims["department"]}, c.measures) for c in days]
    )


@settings(max_examples=100, deadline=None)
@given(cells, st.sampled_from([(), ("manager",), ("month",), ("manager", "quarter"), ("department",)]))
def test_the_lean_totals_answer_reports_by_manager_department_and_period(found, grouping):
    query = q(from_="2026-01", to="2026-04", group_by=",".join(grouping))
    assert lean(query)
    assert summed(query, lean_roll_up(found)).groups == summed(query, found).groups
    assert not lean(q(group_by="product"))
    assert not lean(q(region="Москва"))


def test_a_head_reads_the_reports_of_their_own_department_and_those_they_head_and_no_other():
    olga = Principal("olga", "person", frozenset({"head"}), department_id="board", heads=frozenset({"moscow"}))
    month = ReportQuery("sales", date(2026, 11, 1), date(2026, 11, 30))
    assert visible(olga, month).filters["department"] == {"board", "moscow"}
    moscow = ReportQuery("sales", month.start, month.end, filters={"department": frozenset({"moscow"})})
    assert visible(olga, moscow).filters["department"] == {"moscow"}
    kazan = ReportQuery("sales", month.start, month.end, filters={"department": frozenset({"moscow", "kazan"})})
    with pytest.raises(Forbidden, match="not kazan"):
        visible(olga, kazan)
