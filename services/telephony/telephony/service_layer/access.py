"""Who may see which calls and call-backs: an administrator or an integration (by scope) all; a
head those of the managers of their own department and of those they head; anyone their own.
Someone else's call is "not found"."""

from __future__ import annotations

from typing import Any

from crmhub.access import sees_everything
from crmhub.auth import Principal
from crmhub.team_directory import TeamDirectory


def can_see(principal: Principal, manager_id: str | None, directory: TeamDirectory) -> bool:
    if sees_everything(principal):
        return True
    manager = directory.manager(manager_id) if manager_id else None
    if manager is not None and principal.answers_for(manager.department_id):
        return True
    return principal.kind == "person" and manager_id == principal.subject


def visible_filters(principal: Principal, filters: dict[str, Any], directory: TeamDirectory) -> dict[str, Any]:
    if sees_everything(principal):
        return filters
    if principal.departments:  # a head
        return {
            **filters,
            "manager_ids": [
                m.id for d in sorted(principal.departments) for m in directory.managers_of(d, active_only=False)
            ],
        }
    return {**filters, "manager_id": principal.subject}
