"""Who sees which deal and task: a head those of their own department and of the departments the
team directory names them head of; whoever a deal or task is assigned to, whatever their role."""

from __future__ import annotations

from datetime import UTC, datetime

from crmhub.access import visible_filters
from crmhub.auth import Principal, Role
from crmhub.schemas.leads import LeadContact
from deals.adapters.playbook_files import load_playbook
from deals.domain.deal import Deal
from deals.service_layer.access import can_see_deal, can_see_task
from support.deals import FakeTeam

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
TEAM = FakeTeam(departments={"anna": "moscow", "ivan": "kazan", "olga": "board"}, heads={"moscow": "olga"})


def person(subject: str, *roles: Role, department: str, heads: frozenset[str] = frozenset()) -> Principal:
    return Principal(subject, "person", frozenset(roles), department_id=department, heads=heads)


def deal_of(manager_id: str) -> Deal:
    return Deal.open(
        f"deal-{manager_id}",
        playbook=load_playbook(),
        team=TEAM,
        now=T0,
        title="Kitchen",
        pipeline_id="client_service",
        manager_id=manager_id,
        contact=LeadContact(name="Irina", phone="+79160000001"),
    )


OLGA = person("olga", "head", department="board", heads=frozenset({"moscow"}))


def test_a_head_sees_the_deals_and_tasks_of_the_department_they_head_and_no_other():
    moscow, kazan = deal_of("anna"), deal_of("ivan")
    assert moscow.department_id == "moscow"
    assert can_see_deal(OLGA, moscow)
    assert not can_see_deal(OLGA, kazan)
    [task] = moscow.open_tasks()
    assert can_see_task(OLGA, task, moscow)
    assert visible_filters(OLGA, {}) == {"department_id": ["board", "moscow"]}
    assert visible_filters(OLGA, {"department_id": "moscow"}) == {"department_id": ["moscow"]}
    assert visible_filters(OLGA, {"department_id": "kazan"}) == {"department_id": []}


def test_a_deal_assigned_to_someone_is_theirs_to_see_whatever_their_role():
    olga_as_manager = deal_of("olga")
    head_elsewhere = person("olga", "head", department="kazan")
    assert olga_as_manager.department_id == "board"
    assert can_see_deal(head_elsewhere, olga_as_manager)
    assert not can_see_deal(person("boris", "manager", department="board"), olga_as_manager)
