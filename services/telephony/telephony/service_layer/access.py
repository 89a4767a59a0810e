"""Who may see which calls and call-backs: an administrator or an integration (by scope) all; a
head those of their department's managers; a manager their own. Someone else's call is "not
found"."""

from __future__ import annotations

from typing import Any

from crmhub.auth import Principal
from crmhub.team_directory import TeamDirectory


def can_see(principal: Principal, manager_id: str | None, directory: TeamDirectory) -> bool:
    if principal.kind == "integration" or principal.has("admin"):
        return True
    manager = directory.manager(manager_id) if manager_id else None
    if principal.has("head") and manager is not None and manager.department_id == principal.department_id:
        return True
    return principal.has("manager") and manager_id == principal.subject


def visible_filters(principal: Principal, filters: dict[str, Any], directory: TeamDirectory) -> dict[str, Any]:
    if principal.kind == "integration" or principal.has("admin"):
        return filters
    if principal.has("head") and principal.department_id:
        return {
            **filters,
            "manager_ids": [m.id for m in directory.managers_of(principal.department_id, active_only=False)],
        }
    return {**filters, "manager_id": principal.subject}
