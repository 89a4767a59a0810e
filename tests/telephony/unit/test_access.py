"""Who sees which calls: a head the calls of the managers of their own department and of the
departments they head; whoever a call is for, whatever their role."""

from __future__ import annotations

from crmhub.auth import Principal
from crmhub.schemas.team import Department
from support.team import directory, manager
from telephony.service_layer.access import can_see, visible_filters

TEAM = directory(
    manager("anna", "moscow"),
    manager("ivan", "kazan"),
    manager("olga", "board"),
    departments=tuple(
        Department(id=d, name=d, region="Moscow", timezone="Europe/Moscow", head_manager_id=head)
        for d, head in (("moscow", "olga"), ("kazan", "ivan"), ("board", None))
    ),
)
OLGA = Principal("olga", "person", frozenset({"head"}), department_id="board", heads=TEAM.headed_by("olga"))


def test_a_head_sees_the_calls_of_the_managers_of_the_departments_they_head():
    assert can_see(OLGA, "anna", TEAM)
    assert can_see(OLGA, "olga", TEAM)
    assert not can_see(OLGA, "ivan", TEAM)
    assert visible_filters(OLGA, {}, TEAM) == {"manager_ids": ["olga", "anna"]}


def test_a_call_for_someone_is_theirs_to_see_whatever_their_role():
    ivan_as_head = Principal("ivan", "person", frozenset({"head"}), department_id="kazan", heads=frozenset({"kazan"}))
    assert can_see(ivan_as_head, "ivan", TEAM)
    accounting = Principal("olga", "person", frozenset({"accounting"}), department_id="board")
    assert can_see(accounting, "olga", TEAM)
    assert not can_see(accounting, "anna", TEAM)
