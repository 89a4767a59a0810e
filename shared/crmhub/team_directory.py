"""A local copy of the team directory, as every service keeps it from the compacted topic
`crm.team` (fed by `crmhub.team_follower`).

Plain state with a version guard, no I/O: applying an event twice, or an older version after a
newer one, changes nothing. Domain code reads it to find managers, departments and their
working calendars.
"""

from __future__ import annotations

from crmhub.events import EventData
from crmhub.schemas.team import ApiToken, ApiTokenUpserted, Department, DepartmentUpserted, Manager, ManagerUpserted


def department_key(department_id: str) -> str:
    return f"department:{department_id}"


def manager_key(manager_id: str) -> str:
    return f"manager:{manager_id}"


def api_token_key(token_id: str) -> str:
    return f"token:{token_id}"


class TeamDirectory:
    def __init__(self) -> None:
        self.departments: dict[str, Department] = {}
        self.managers: dict[str, Manager] = {}
        self.api_tokens: dict[str, ApiToken] = {}
        self._versions: dict[str, int] = {}

    def apply(self, payload: EventData) -> bool:
        """Apply a directory event; True when it changed the copy."""
        if isinstance(payload, DepartmentUpserted):
            key = department_key(payload.department.id)
            if payload.version <= self._versions.get(key, 0):
                return False
            self.departments[payload.department.id] = payload.department
        elif isinstance(payload, ManagerUpserted):
            key = manager_key(payload.manager.id)
            if payload.version <= self._versions.get(key, 0):
                return False
            self.managers[payload.manager.id] = payload.manager
        elif isinstance(payload, ApiTokenUpserted):
            key = api_token_key(payload.api_token.id)
            if payload.version <= self._versions.get(key, 0):
                return False
            self.api_tokens[payload.api_token.id] = payload.api_token
        else:
            return False
        self._versions[key] = payload.version
        return True

    def version_of(self, key: str) -> int:
        return self._versions.get(key, 0)

    def manager(self, manager_id: str) -> Manager | None:
        return self.managers.get(manager_id)

    def manager_by_email(self, email: str) -> Manager | None:
        wanted = email.strip().lower()
        return next((m for m in self.managers.values() if m.email == wanted), None)

    def api_token(self, token_id: str) -> ApiToken | None:
        return self.api_tokens.get(token_id)

    def department(self, department_id: str) -> Department | None:
        return self.departments.get(department_id)

    def headed_by(self, manager_id: str) -> frozenset[str]:
        """The departments this manager is the head of."""
        return frozenset(d.id for d in self.departments.values() if d.head_manager_id == manager_id)

    def managers_of(self, department_id: str, *, active_only: bool = True) -> list[Manager]:
        return sorted(
            (m for m in self.managers.values() if m.department_id == department_id and (m.active or not active_only)),
            key=lambda m: m.id,
        )
