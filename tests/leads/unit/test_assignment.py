from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from crmhub.schemas.team import Department
from crmhub.working_time import is_on_duty
from leads.domain.assignment import Pool, Rule, choose_pool, decide, members_of, pick
from support.team import directory, manager

NOW = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)  # Thursday, 12:30 in Moscow
SLA = timedelta(minutes=15)


def _run(team, pool, leads, *, cursor=None, now=NOW, loads=None):
    """Assign `leads` leads one after another, carrying the cursor like the store does."""
    chosen = []
    for _ in range(leads):
        decision = decide(
            pool, members_of(pool, team, loads or {}), cursor=cursor, now=now, sla=SLA, off_duty="wait", directory=team
        )
        chosen.append(decision.manager_id)
        cursor = decision.cursor
    return chosen, cursor


@given(k=st.integers(1, 8), leads=st.integers(1, 60), start=st.integers(0, 8), window=st.data())
def test_round_robin_counts_differ_by_at_most_one_over_any_run(k, leads, start, window):
    team = directory(*(manager(f"m{i}") for i in range(k)))
    pool = Pool(department_id="sales")
    cursor = f"m{start}" if start < k else None
    chosen, _ = _run(team, pool, leads, cursor=cursor)
    first = window.draw(st.integers(0, leads - 1))
    last = window.draw(st.integers(first + 1, leads))
    counts = Counter(chosen[first:last])
    spread = [counts.get(f"m{i}", 0) for i in range(k)]
    assert max(spread) - min(spread) <= 1


def test_the_persisted_cursor_carries_fairness_across_a_restart():
    team = directory(*(manager(f"m{i}") for i in range(3)))
    pool = Pool(department_id="sales")
    before, cursor = _run(team, pool, 4)
    after, _ = _run(team, pool, 5, cursor=cursor)  # a restart: only the stored cursor survives
    counts = Counter(before + after)
    assert sorted(counts.values()) == [3, 3, 3]


hours = st.lists(st.tuples(st.integers(0, 23), st.integers(1, 24)).filter(lambda t: t[0] < t[1]), max_size=2)


@st.composite
def rosters(draw):
    managers = []
    for i in range(draw(st.integers(1, 6))):
        week = {}
        for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun"):
            spans = draw(hours)
            week[day] = [
                {"start": f"{a:02d}:00", "end": "00:00" if b == 24 else f"{b:02d}:00"} for a, b in sorted(spans)[:1]
            ]
        absences = []
        if draw(st.booleans()):
            offset = draw(st.integers(-48, 48))
            absences = [
                {
                    "kind": "vacation",
                    "start": NOW + timedelta(hours=offset),
                    "end": NOW + timedelta(hours=offset + draw(st.integers(1, 72))),
                }
            ]
        managers.append(
            manager(
                f"m{i}",
                working_hours=week,
                absences=absences,
                active=draw(st.booleans()) or i == 0,
                capacity=draw(st.integers(0, 3)),
            )
        )
    loads = {m.id: draw(st.integers(0, 4)) for m in managers}
    return managers, loads


@settings(max_examples=300)
@given(roster=rosters(), minutes=st.integers(0, 7 * 24 * 60), strategy=st.sampled_from(["round_robin", "least_loaded"]))
def test_never_assigns_to_someone_inactive_absent_off_duty_or_full(roster, minutes, strategy):
    managers, loads = roster
    team = directory(*managers)
    now = NOW + timedelta(minutes=minutes)
    pool = Pool(department_id="sales", strategy=strategy)
    chosen = pick(members_of(pool, team, loads), strategy=strategy, cursor=None, now=now)
    available = [
        m for m in team.managers_of("sales") if is_on_duty(m, "Europe/Moscow", now) and loads[m.id] < m.capacity
    ]
    if chosen is None:
        assert available == []
    else:
        assert chosen.manager in available


def test_least_loaded_prefers_the_lowest_share_of_capacity():
    team = directory(manager("anna", capacity=10), manager("boris", capacity=2), manager("olga", capacity=10))
    pool = Pool(department_id="sales", strategy="least_loaded")
    chosen = pick(
        members_of(pool, team, {"anna": 5, "boris": 0, "olga": 3}), strategy="least_loaded", cursor=None, now=NOW
    )
    assert chosen.manager.id == "boris"
    chosen = pick(
        members_of(pool, team, {"anna": 5, "boris": 1, "olga": 3}), strategy="least_loaded", cursor=None, now=NOW
    )
    assert chosen.manager.id == "olga"  # 3/10 < 1/2


def test_nobody_on_duty_waits_for_the_earliest_shift_start():
    nine_to_six = {d: [{"start": "09:00", "end": "18:00"}] for d in ("mon", "tue", "wed", "thu", "fri")}
    late = {d: [{"start": "11:00", "end": "20:00"}] for d in ("mon", "tue", "wed", "thu", "fri")}
    team = directory(manager("anna", working_hours=nine_to_six), manager("boris", working_hours=late))
    friday_night = datetime(2026, 11, 27, 19, 0, tzinfo=UTC)  # 22:00 Friday in Moscow
    decision = decide(
        Pool(department_id="sales"),
        members_of(Pool(department_id="sales"), team, {}),
        cursor=None,
        now=friday_night,
        sla=SLA,
        off_duty="wait",
        directory=team,
    )
    assert decision.manager_id is None
    assert decision.retry_at == datetime(2026, 11, 30, 6, 0, tzinfo=UTC)  # Monday 09:00 Moscow


def test_nobody_on_duty_goes_to_the_head_when_the_source_says_so_with_the_sla_in_the_heads_time():
    nine_to_six = {d: [{"start": "09:00", "end": "18:00"}] for d in ("mon", "tue", "wed", "thu", "fri")}
    team = directory(manager("anna", working_hours=nine_to_six), manager("head", working_hours=nine_to_six))
    friday_night = datetime(2026, 11, 27, 19, 0, tzinfo=UTC)
    pool = Pool(department_id="sales")
    decision = decide(
        pool, members_of(pool, team, {}), cursor=None, now=friday_night, sla=SLA, off_duty="head", directory=team
    )
    assert decision.manager_id == "head"
    assert "head of department" in decision.reason
    assert decision.sla_deadline == datetime(2026, 11, 30, 6, 15, tzinfo=UTC)


def test_sla_deadline_is_counted_in_working_time():
    nine_to_six = {d: [{"start": "09:00", "end": "18:00"}] for d in ("mon", "tue", "wed", "thu", "fri")}
    team = directory(manager("anna", working_hours=nine_to_six))
    five_to_six = datetime(2026, 11, 27, 14, 55, tzinfo=UTC)  # Friday 17:55 Moscow
    pool = Pool(department_id="sales")
    decision = decide(
        pool, members_of(pool, team, {}), cursor=None, now=five_to_six, sla=SLA, off_duty="wait", directory=team
    )
    assert decision.manager_id == "anna"
    assert decision.sla_deadline == datetime(2026, 11, 30, 6, 10, tzinfo=UTC)  # 5 min on Friday + 10 on Monday


def test_escalation_excludes_the_manager_who_let_it_lapse():
    team = directory(manager("anna"), manager("boris"))
    pool = Pool(department_id="sales")
    decision = decide(
        pool,
        members_of(pool, team, {}),
        cursor="anna",
        now=NOW,
        sla=SLA,
        off_duty="wait",
        directory=team,
        exclude=frozenset({"boris"}),
    )
    assert decision.manager_id == "anna"


def test_rules_route_by_source_product_region_and_campaign():
    nsk = Pool(department_id="sales-nsk")
    kitchens = Pool(manager_ids=("olga",))
    rules = [Rule(pool=kitchens, product="Kitchens"), Rule(pool=nsk, region="novosibirsk", source_id="tilda")]
    default = Pool(department_id="sales")
    assert choose_pool(rules, default, source_id="site", product="kitchens", region=None, campaign=None) is kitchens
    assert choose_pool(rules, default, source_id="tilda", product=None, region="Novosibirsk", campaign=None) is nsk
    assert choose_pool(rules, default, source_id="site", product=None, region="Novosibirsk", campaign=None) is default


def test_explicit_manager_pools_and_departments_from_the_directory():
    team = directory(
        manager("anna"),
        manager("dmitry", "sales-nsk"),
        departments=(
            Department(id="sales", name="S", region="M"),
            Department(id="sales-nsk", name="N", region="N", timezone="Asia/Novosibirsk"),
        ),
    )
    members = members_of(Pool(manager_ids=("dmitry", "ghost")), team, {})
    assert [m.manager.id for m in members] == ["dmitry"]
    assert members[0].department.timezone == "Asia/Novosibirsk"
