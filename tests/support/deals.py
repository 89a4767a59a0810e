"""A team for the deals domain tests: fixed departments, heads and a production crew, and due
times counted on the calendar (the working clock is tested in the shared working-time tests)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from deals.domain.rules import Due


@dataclass
class FakeTeam:
    departments: dict[str, str] = field(default_factory=lambda: {"anna": "sales", "boris": "sales", "olga": "sales"})
    heads: dict[str, str] = field(default_factory=lambda: {"sales": "olga"})
    crew: list[str] = field(default_factory=lambda: ["pavel"])
    overdue_grace: timedelta = timedelta(hours=1)
    language: str = "en"

    def department_of(self, manager_id: str | None) -> str | None:
        return self.departments.get(manager_id or "")

    def head_of(self, manager_id: str | None) -> str | None:
        return self.heads.get(self.department_of(manager_id) or "")

    def production(self) -> list[str]:
        return list(self.crew)

    def due(self, manager_id: str | None, start: datetime, due: Due, details: dict[str, object]) -> datetime:
        if due.at_detail and isinstance(details.get(due.at_detail), str):
            return datetime.fromisoformat(str(details[due.at_detail]))
        return start + due.offset
