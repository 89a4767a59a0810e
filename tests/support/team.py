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


async def publish_team(kafka: str, departments: list[Department], managers: list[Manager]) -> None:
    """Put departments and managers on crm.team as the motivation service would (version 1)."""
    from crmhub import topics
    from crmhub.events import new_event, to_record
    from crmhub.team_directory import department_key, manager_key
    from support.kafka import produce

    events = [
        new_event(
            DepartmentUpserted(change="created", version=1, department=d), source="/tests", subject=department_key(d.id)
        )
        for d in departments
    ]
    events += [
        new_event(ManagerUpserted(change="created", version=1, manager=m), source="/tests", subject=manager_key(m.id))
        for m in managers
    ]
    records = [to_record(e) for e in events]
    await produce(kafka, topics.TEAM.name, [(r.key, r.value, r.headers) for r in records])
