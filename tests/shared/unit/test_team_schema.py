from __future__ import annotations

from datetime import time

import pytest
from pydantic import ValidationError

from crmhub.schemas.team import Absence, Department, Manager, WorkingInterval


def test_an_interval_ending_at_midnight_covers_the_rest_of_the_day():
    evening = WorkingInterval(start=time(18), end=time(0))
    assert evening.covers(time(23, 59))
    assert not evening.covers(time(17, 59))
    whole_day = WorkingInterval(start=time(0), end=time(0))
    assert whole_day.covers(time(0))
    assert whole_day.covers(time(12))
    assert whole_day.covers(time(23, 59, 59))


def test_interval_end_is_exclusive():
    shift = WorkingInterval(start=time(9), end=time(18))
    assert shift.covers(time(9))
    assert not shift.covers(time(18))


@pytest.mark.parametrize(("start", "end"), [(time(18), time(9)), (time(9), time(9))])
def test_backwards_or_empty_intervals_are_refused(start, end):
    with pytest.raises(ValidationError, match="end must be after start"):
        WorkingInterval(start=start, end=end)


def test_absences_need_offsets_and_order():
    with pytest.raises(ValidationError, match="UTC offset"):
        Absence(kind="vacation", start="2026-12-01T00:00:00", end="2026-12-10T00:00:00")
    with pytest.raises(ValidationError, match="end must be after start"):
        Absence(kind="sick", start="2026-12-10T00:00:00+03:00", end="2026-12-01T00:00:00+03:00")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("email", "not-an-email", "not a valid e-mail"),
        ("phone", "89123456789", "international format"),
        ("phone", "+7000", "not a valid phone"),
        ("id", "../etc", "String should match pattern"),
        ("id", {"$gt": ""}, "valid string"),
        ("telegram_chat_id", "12ab", "String should match pattern"),
        ("capacity", -1, "greater than or equal"),
    ],
)
def test_manager_fields_are_validated_with_a_clear_message(field, value, message):
    fields = {"id": "anna", "name": "Anna", "department_id": "sales", "email": "anna@example.com", field: value}
    with pytest.raises(ValidationError, match=message):
        Manager.model_validate(fields)


def test_unknown_time_zone_is_refused():
    with pytest.raises(ValidationError, match="unknown time zone"):
        Department(id="x", name="X", region="Moscow", timezone="Mars/Olympus")


@pytest.mark.parametrize(
    ("calendar", "problem"),
    [
        ({"country": "XX"}, "no production calendar is known for country 'XX'"),
        ({"country": "ru"}, "should match pattern"),
        ({"days_off": ["2027-01-11"], "working_days": ["2027-01-11"]}, "both a day off and a working day: 2027-01-11"),
        ({"days_off": ["not a date"]}, "valid date"),
    ],
)
def test_a_department_calendar_names_what_is_wrong(calendar, problem):
    with pytest.raises(ValidationError, match=problem):
        Department.model_validate({"id": "d", "name": "D", "region": "R", "calendar": calendar})
