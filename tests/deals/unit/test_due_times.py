"""When a rule's task is due: offsets counted in the manager's working time (their department's
hours, zone and production calendar), a time the client named, and the demo's fast clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from crmhub.schemas.team import Department
from deals.adapters.team import DirectoryTeam
from deals.domain.rules import Due
from support.team import directory, manager

NINE_TO_SIX = {d: [{"start": "09:00", "end": "18:00"}] for d in ("mon", "tue", "wed", "thu", "fri")}
MOSCOW = Department(
    id="sales",
    name="Sales",
    region="Moscow",
    timezone="Europe/Moscow",
    head_manager_id="olga",
    calendar={"country": "RU"},
)
TEAM = directory(manager("anna", working_hours=NINE_TO_SIX), departments=(MOSCOW,))
THURSDAY_NOON = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)  # 12:00 in Moscow
FRIDAY_FIVE_PM = datetime(2026, 11, 27, 14, 0, tzinfo=UTC)  # 17:00 in Moscow


def test_hours_count_only_working_hours():
    team = DirectoryTeam(TEAM)
    # 6 hours left on Thursday, 2 more on Friday from 09:00
    assert team.due("anna", THURSDAY_NOON, Due(after="8h"), {}) == datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


def test_whole_days_land_on_the_next_working_moment():
    team = DirectoryTeam(TEAM)
    # Friday 17:00 + 2 days = Sunday 17:00, off: Monday 09:00 Moscow
    assert team.due("anna", FRIDAY_FIVE_PM, Due(after="2d"), {}) == datetime(2026, 11, 30, 6, 0, tzinfo=UTC)
    # the same on the calendar clock
    assert team.due("anna", FRIDAY_FIVE_PM, Due(after="2d", clock="calendar"), {}) == FRIDAY_FIVE_PM + timedelta(days=2)


def test_public_holidays_are_not_worked():
    team = DirectoryTeam(TEAM)
    before_new_year = datetime(2026, 12, 31, 12, 0, tzinfo=UTC)  # Thursday 15:00 in Moscow
    due = team.due("anna", before_new_year, Due(after="1d"), {})
    assert due.astimezone(UTC).date() > datetime(2027, 1, 8).date()  # the January holidays are skipped


def test_a_time_the_client_named_wins_and_a_past_one_means_now():
    team = DirectoryTeam(TEAM)
    named = {"until": "2026-12-10T10:00:00+03:00"}
    assert team.due("anna", THURSDAY_NOON, Due(after="7d", at_detail="until"), named) == datetime(
        2026, 12, 10, 7, 0, tzinfo=UTC
    )
    assert team.due("anna", THURSDAY_NOON, Due(at_detail="until"), {"until": "2020-01-01"}) == THURSDAY_NOON
    assert team.due("anna", THURSDAY_NOON, Due(after="1d", at_detail="until"), {"until": "soon"}) == datetime(
        2026, 11, 27, 9, 0, tzinfo=UTC
    )


def test_the_demo_clock_runs_a_day_in_seconds_and_the_grace_with_it():
    team = DirectoryTeam(TEAM, seconds_per_day=10, grace=timedelta(hours=1))
    assert team.due("anna", FRIDAY_FIVE_PM, Due(after="2d"), {}) == FRIDAY_FIVE_PM + timedelta(seconds=20)
    assert team.overdue_grace == timedelta(seconds=10 / 24)


def test_who_is_who():
    team = DirectoryTeam(
        directory(manager("anna"), manager("pavel", "production")), production_department_id="production"
    )
    assert team.department_of("anna") == "sales"
    assert team.head_of("anna") == "head"
    assert team.production() == ["pavel"]
    assert team.head_of("ghost") is None
    assert team.due("ghost", THURSDAY_NOON, Due(after="8h"), {}) == THURSDAY_NOON + timedelta(hours=8)
