"""The deals domain's view of the team (`deals.domain.tasks.Team`), read from the Kafka-fed team
directory: departments, heads, the production crew, and due times in each manager's working
time (their department's hours, time zone and production calendar)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from crmhub.team_directory import TeamDirectory
from crmhub.working_time import add_working_time, next_duty_start, workplace_of
from deals.domain.rules import Due

REAL_DAY = 86400.0


@dataclass
class DirectoryTeam:
    directory: TeamDirectory
    production_department_id: str = "production"
    seconds_per_day: float = REAL_DAY
    grace: timedelta = timedelta(hours=1)
    language: str = "ru"

    @property
    def scale(self) -> float:
        return self.seconds_per_day / REAL_DAY

    @property
    def overdue_grace(self) -> timedelta:
        return self.grace * self.scale

    def department_of(self, manager_id: str | None) -> str | None:
        manager = self.directory.manager(manager_id or "")
        return manager.department_id if manager else None

    def head_of(self, manager_id: str | None) -> str | None:
        department = self.directory.department(self.department_of(manager_id) or "")
        return department.head_manager_id if department else None

    def production(self) -> list[str]:
        return [m.id for m in self.directory.managers_of(self.production_department_id)]

    def due(self, manager_id: str | None, start: datetime, due: Due, details: dict[str, object]) -> datetime:
        named = _moment(details.get(due.at_detail)) if due.at_detail else None
        if named is not None:
            return max(named, start)
        offset = due.offset
        if self.seconds_per_day != REAL_DAY:
            return start + offset * self.scale
        manager = self.directory.manager(manager_id or "")
        department = self.directory.department(manager.department_id) if manager else None
        if due.clock == "calendar" or manager is None or department is None:
            return start + offset
        place = workplace_of(department)
        if offset >= timedelta(days=1) and offset % timedelta(days=1) == timedelta(0):
            # whole days: the same time that many days later, or the next moment the manager works
            candidate = start + offset
            return next_duty_start(manager, place, candidate) or candidate
        return add_working_time(manager, place, start, offset) or start + offset


def _moment(value: object) -> datetime | None:
    """A time named in an activity's details: an aware ISO time, or a date (its start, UTC)."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        try:
            return datetime.combine(date.fromisoformat(value), time(0), UTC)
        except ValueError:
            return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
