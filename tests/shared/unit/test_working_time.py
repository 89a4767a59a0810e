from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from crmhub.schemas.team import Department
from crmhub.working_time import WorkCalendar, Workplace, add_working_time, is_on_duty, next_duty_start, workplace_of
from support.team import manager

NINE_TO_SIX = {d: [{"start": "09:00", "end": "18:00"}] for d in ("mon", "tue", "wed", "thu", "fri")}
MSK = "Europe/Moscow"
ANNA = manager("anna", working_hours=NINE_TO_SIX)


def msk(day: int, hour: int, minute: int = 0) -> datetime:
    """2026-11-<day> at hour:minute Moscow time (UTC+3), as UTC."""
    return (
        datetime(2026, 11, day, hour - 3, minute, tzinfo=UTC)
        if hour >= 3
        else datetime(2026, 11, day - 1, hour + 21, minute, tzinfo=UTC)
    )


def test_on_duty_follows_local_working_hours():
    assert is_on_duty(ANNA, MSK, msk(26, 9))
    assert is_on_duty(ANNA, MSK, msk(26, 17, 59))
    assert not is_on_duty(ANNA, MSK, msk(26, 18))
    assert not is_on_duty(ANNA, MSK, msk(28, 12))  # Saturday


def test_the_same_hours_mean_different_utc_in_another_time_zone():
    assert is_on_duty(ANNA, "Asia/Novosibirsk", datetime(2026, 11, 26, 2, 30, tzinfo=UTC))  # 09:30 in Novosibirsk
    assert not is_on_duty(ANNA, MSK, datetime(2026, 11, 26, 2, 30, tzinfo=UTC))  # 05:30 in Moscow


def test_absence_and_inactivity_take_a_manager_off_duty():
    away = manager(
        "anna", working_hours=NINE_TO_SIX, absences=[{"kind": "sick", "start": msk(26, 0, 0), "end": msk(27, 12)}]
    )
    assert not is_on_duty(away, MSK, msk(26, 12))
    assert next_duty_start(away, MSK, msk(26, 12)) == msk(27, 12)
    assert not is_on_duty(manager("anna", working_hours=NINE_TO_SIX, active=False), MSK, msk(26, 12))
    assert next_duty_start(manager("anna", working_hours=NINE_TO_SIX, active=False), MSK, msk(26, 12)) is None


def test_next_duty_start_skips_the_weekend():
    assert next_duty_start(ANNA, MSK, msk(27, 19)) == datetime(2026, 11, 30, 6, tzinfo=UTC)
    assert next_duty_start(ANNA, MSK, msk(26, 10)) == msk(26, 10)


def test_working_time_deadline_spans_evenings_weekends_and_absences():
    assert add_working_time(ANNA, MSK, msk(26, 10), timedelta(minutes=15)) == msk(26, 10, 15)
    assert add_working_time(ANNA, MSK, msk(27, 17, 50), timedelta(minutes=15)) == datetime(
        2026, 11, 30, 6, 5, tzinfo=UTC
    )
    # Thursday 20:00 + 10 working hours = all of Friday (9 h) + Monday 09:00-10:00
    assert add_working_time(ANNA, MSK, msk(26, 20), timedelta(hours=10)) == datetime(2026, 11, 30, 7, tzinfo=UTC)
    away = manager(
        "anna", working_hours=NINE_TO_SIX, absences=[{"kind": "other", "start": msk(26, 10, 5), "end": msk(26, 11)}]
    )
    assert add_working_time(away, MSK, msk(26, 10), timedelta(minutes=15)) == msk(26, 11, 10)


def test_no_working_hours_means_no_deadline():
    nobody = manager("ghost", working_hours={})
    assert add_working_time(nobody, MSK, msk(26, 10), timedelta(minutes=15)) is None


@given(start=st.integers(0, 14 * 24 * 60), minutes=st.integers(1, 3 * 24 * 60), more=st.integers(0, 600))
def test_deadlines_are_monotone_and_land_in_working_time(start, minutes, more):
    begin = msk(20, 12) + timedelta(minutes=start)
    first = add_working_time(ANNA, MSK, begin, timedelta(minutes=minutes))
    second = add_working_time(ANNA, MSK, begin, timedelta(minutes=minutes + more))
    assert first is not None
    assert second is not None
    assert begin < first <= second
    assert is_on_duty(ANNA, MSK, first - timedelta(seconds=1))


# The production calendar (holidays package): Russia, 2026-2027.
RU = Workplace(MSK, WorkCalendar(country="RU"))


def test_a_lead_on_31_december_gets_its_deadline_after_the_new_year_holidays():
    # 31 Dec 2026 is a day off moved from 4 Jan; 1-8 Jan are the New Year holidays; 11 Jan, Monday, is the first working day
    deadline = add_working_time(ANNA, RU, datetime(2026, 12, 30, 14, 55, tzinfo=UTC), timedelta(minutes=15))
    assert deadline == datetime(2027, 1, 11, 6, 10, tzinfo=UTC)
    assert not is_on_duty(ANNA, RU, datetime(2026, 12, 31, 9, tzinfo=UTC))
    assert is_on_duty(ANNA, MSK, datetime(2026, 12, 31, 9, tzinfo=UTC))  # by the weekly hours alone it would be


def test_a_transferred_working_saturday_is_worked_with_the_weekday_hours():
    saturday_noon = datetime(2027, 2, 20, 9, tzinfo=UTC)  # Sat 20 Feb 2027 is a working day in Russia (for Mon 22 Feb)
    assert is_on_duty(ANNA, RU, saturday_noon)
    assert not is_on_duty(ANNA, RU, datetime(2027, 2, 22, 9, tzinfo=UTC))


def test_a_department_adds_its_own_days_off_and_working_days():
    own = Workplace(
        MSK,
        WorkCalendar(
            country="RU", days_off=frozenset({date(2026, 11, 26)}), working_days=frozenset({date(2026, 11, 28)})
        ),
    )
    assert not is_on_duty(ANNA, own, msk(26, 12))  # a company day off on a Thursday
    assert is_on_duty(ANNA, own, msk(28, 12))  # a company working Saturday
    assert next_duty_start(ANNA, own, msk(25, 19)) == msk(27, 9)


def test_a_department_calendar_comes_from_its_directory_entry():
    department = Department.model_validate(
        {
            "id": "spb",
            "name": "СПб",
            "region": "St Petersburg",
            "calendar": {"country": "RU", "days_off": ["2026-11-27"]},
        }
    )
    place = workplace_of(department)
    assert place.timezone == "Europe/Moscow"
    assert place.calendar.is_day_off(date(2026, 11, 27))
    assert place.calendar.is_day_off(date(2026, 11, 4))  # Unity Day
