"""Working time of a manager: on duty or not, when the next shift starts, and deadlines counted
in working minutes. Pure functions over the team directory's data; times in and out are aware
datetimes, working hours are local to the department's time zone.

Working days follow the department's production calendar: the country's public holidays and
the days off moved onto weekdays are not worked, whatever the weekly hours say; a weekend
day that the calendar makes a working day (a transfer, e.g. Saturday 20 February 2027 in
Russia) is worked with the manager's hours of a regular weekday (the first of Monday..Friday
that has hours). The country data come from the `holidays` package; a department adds its own
days off and working days as data.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

from crmhub.schemas.team import WEEKDAYS, Department, Manager, WorkingInterval

# How far ahead to look for working time before giving up (a manager with no hours at all).
HORIZON_DAYS = 60


@lru_cache(maxsize=256)
def _country_year(country: str, subdivision: str | None, year: int) -> tuple[frozenset[date], frozenset[date]]:
    """(days off, weekend days worked) of one country's calendar in one year."""
    calendar = holidays.country_holidays(country, subdiv=subdivision, years=year)
    workdays: set[date] = getattr(calendar, "weekend_workdays", set())
    return frozenset(calendar.keys()), frozenset(d for d in workdays if d.year == year)


@dataclass(frozen=True)
class WorkCalendar:
    """Which dates are worked. Without a country: every date follows the weekly hours."""

    country: str | None = None
    subdivision: str | None = None
    days_off: frozenset[date] = frozenset()
    working_days: frozenset[date] = frozenset()

    def is_day_off(self, day: date) -> bool:
        if day in self.days_off:
            return True
        if day in self.working_days or self.country is None:
            return False
        return day in _country_year(self.country, self.subdivision, day.year)[0]

    def is_transferred_workday(self, day: date) -> bool:
        if day in self.working_days:
            return True
        if self.country is None or day in self.days_off:
            return False
        return day in _country_year(self.country, self.subdivision, day.year)[1]


NO_CALENDAR = WorkCalendar()


@dataclass(frozen=True)
class Workplace:
    """Where a manager works: the time zone of the hours and the calendar of the days."""

    timezone: str
    calendar: WorkCalendar = field(default=NO_CALENDAR)


def workplace_of(department: Department) -> Workplace:
    config = department.calendar
    calendar = WorkCalendar(
        config.country, config.subdivision, frozenset(config.days_off), frozenset(config.working_days)
    )
    return Workplace(department.timezone, calendar)


Place = Workplace | str
"""A workplace, or just a time zone name (weekly hours only, no holidays)."""


def _workplace(place: Place) -> Workplace:
    return Workplace(place) if isinstance(place, str) else place


def _hours_on(manager: Manager, calendar: WorkCalendar, day: date) -> list[WorkingInterval]:
    if calendar.is_day_off(day):
        return []
    hours = manager.working_hours.get(WEEKDAYS[day.weekday()], [])
    if not hours and calendar.is_transferred_workday(day):
        hours = next((h for d in WEEKDAYS[:5] if (h := manager.working_hours.get(d, []))), [])
    return sorted(hours, key=lambda i: i.start)


def _shifts(manager: Manager, place: Workplace, since: datetime) -> Iterator[tuple[datetime, datetime]]:
    """The manager's working intervals as aware UTC datetimes, in order, from the day of `since` on."""
    zone = ZoneInfo(place.timezone)
    local_day: date = since.astimezone(zone).date() - timedelta(days=1)
    for _ in range(HORIZON_DAYS + 2):
        for interval in _hours_on(manager, place.calendar, local_day):
            start = datetime.combine(local_day, interval.start, zone)
            end_day = local_day + timedelta(days=1) if interval.end == time(0) else local_day
            end = datetime.combine(end_day, interval.end, zone)
            yield start.astimezone(UTC), end.astimezone(UTC)
        local_day += timedelta(days=1)


def _absent_until(manager: Manager, at: datetime) -> datetime | None:
    """End of the absence covering `at`, if any (absences may chain)."""
    until: datetime | None = None
    moved = True
    moment = at
    while moved:
        moved = False
        for absence in manager.absences:
            if absence.start <= moment < absence.end:
                moment = absence.end
                until = moment
                moved = True
    return until


def is_on_duty(manager: Manager, place: Place, at: datetime) -> bool:
    """Active, not absent, on a working day and inside one of the working intervals at `at`."""
    if not manager.active or _absent_until(manager, at) is not None:
        return False
    for start, end in _shifts(manager, _workplace(place), at):
        if start > at:
            return False
        if at < end:
            return True
    return False


def next_duty_start(manager: Manager, place: Place, after: datetime) -> datetime | None:
    """The first moment at or after `after` when the manager is on duty; None if never within the horizon."""
    if not manager.active:
        return None
    workplace = _workplace(place)
    horizon = after + timedelta(days=HORIZON_DAYS)
    for start, end in _shifts(manager, workplace, after):
        if start > horizon:
            return None
        if end <= after:
            continue
        moment = max(start, after)
        while moment < end:
            absent_until = _absent_until(manager, moment)
            if absent_until is None:
                return moment
            moment = absent_until
    return None


def add_working_time(manager: Manager, place: Place, start: datetime, duration: timedelta) -> datetime | None:
    """The moment when `duration` of the manager's working time has passed since `start`.

    Time outside working hours, on days off and during absences does not count. None when the
    manager has no working time within the horizon.
    """
    workplace = _workplace(place)
    remaining = duration
    moment = start
    while True:
        duty = next_duty_start(manager, workplace, moment)
        if duty is None:
            return None
        shift_end = next(end for begin, end in _shifts(manager, workplace, duty) if begin <= duty < end)
        absences_ahead = [a.start for a in manager.absences if duty < a.start < shift_end]
        stretch_end = min([shift_end, *absences_ahead])
        available = stretch_end - duty
        if remaining <= available:
            return duty + remaining
        remaining -= available
        moment = stretch_end
