"""Building team-directory fixtures for tests."""

from __future__ import annotations

from crmhub.schemas.team import Department, DepartmentUpserted, Manager, ManagerUpserted
from crmhub.team_directory import TeamDirectory

ALL_DAY = [{"start": "00:00", "end": "00:00"}]
ALL_WEEK = dict.fromkeys(("mon", "tue", "wed", "thu", "fri", "sat", "sun"), ALL_DAY)


def manager(manager_id: str, department_id: str = "sales", **fields: object) -> Manager:
    return Manager.model_validate(
        {
            "id": manager_id,
            "name": manager_id.title(),
            "department_id": department_id,
            "email": f"{manager_id}@example.com",
            "working_hours": ALL_WEEK,
            **fields,
        }
    )


def directory(*managers: Manager, departments: tuple[Department, ...] | None = None) -> TeamDirectory:
    team = TeamDirectory()
    for department in departments or (
        Department(id="sales", name="Sales", region="Moscow", timezone="Europe/Moscow", head_manager_id="head"),
    ):
        team.apply(DepartmentUpserted(change="created", version=1, department=department))
    for item in managers:
        team.apply(ManagerUpserted(change="created", version=1, manager=item))
    return team
