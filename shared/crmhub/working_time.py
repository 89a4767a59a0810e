"""Working time of a manager: on duty or not, when the next shift starts, and deadlines counted
in working minutes. Pure functions over the team directory's data; times in and out are aware
datetimes, working hours are local to the department's time zone."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from crmhub.schemas.team import WEEKDAYS, Manager

# How far ahead to look for working time before giving up (a manager with no hours at all).
HORIZON_DAYS = 60


def _shifts(manager: Manager, zone: ZoneInfo, since: datetime) -> Iterator[tuple[datetime, datetime]]:
    """The manager's working intervals as aware UTC datetimes, in order, from the day of `since` on."""
    local_day: date = since.astimezone(zone).date() - timedelta(days=1)
    for _ in range(HORIZON_DAYS + 2):
        for interval in sorted(manager.working_hours.get(WEEKDAYS[local_day.weekday()], []), key=lambda i: i.start):
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


def is_on_duty(manager: Manager, timezone: str, at: datetime) -> bool:
    """Active, not absent, and inside one of the working intervals at `at`."""
    if not manager.active or _absent_until(manager, at) is not None:
        return False
    for start, end in _shifts(manager, ZoneInfo(timezone), at):
        if start > at:
            return False
        if at < end:
            return True
    return False


def next_duty_start(manager: Manager, timezone: str, after: datetime) -> datetime | None:
    """The first moment at or after `after` when the manager is on duty; None if never within the horizon."""
    if not manager.active:
        return None
    zone = ZoneInfo(timezone)
    horizon = after + timedelta(days=HORIZON_DAYS)
    for start, end in _shifts(manager, zone, after):
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


def add_working_time(manager: Manager, timezone: str, start: datetime, duration: timedelta) -> datetime | None:
    """The moment when `duration` of the manager's working time has passed since `start`.

    Time outside working hours and absences does not count. None when the manager has no
    working time within the horizon.
    """
    remaining = duration
    moment = start
    zone = ZoneInfo(timezone)
    while True:
        duty = next_duty_start(manager, timezone, moment)
        if duty is None:
            return None
        shift_end = next(end for begin, end in _shifts(manager, zone, duty) if begin <= duty < end)
        absences_ahead = [a.start for a in manager.absences if duty < a.start < shift_end]
        stretch_end = min([shift_end, *absences_ahead])
        available = stretch_end - duty
        if remaining <= available:
            return duty + remaining
        remaining -= available
        moment = stretch_end
