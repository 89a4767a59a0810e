from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from crmhub.schemas.team import Department, DepartmentUpserted, Manager, ManagerUpserted
from crmhub.team_directory import TeamDirectory


def _manager_event(version: int, *, manager_id: str = "anna", active: bool = True) -> ManagerUpserted:
    manager = Manager(
        id=manager_id, name=f"Anna v{version}", department_id="sales", email=f"{manager_id}@example.com", active=active
    )
    return ManagerUpserted(change="updated", version=version, manager=manager)


def test_newer_versions_replace_older_ones_and_stale_ones_are_ignored():
    directory = TeamDirectory()
    assert directory.apply(_manager_event(2))
    assert not directory.apply(_manager_event(1))
    assert not directory.apply(_manager_event(2))
    assert directory.manager("anna").name == "Anna v2"
    assert directory.apply(_manager_event(3))
    assert directory.manager("anna").name == "Anna v3"


def test_departments_and_managers_with_the_same_id_do_not_collide():
    directory = TeamDirectory()
    directory.apply(
        DepartmentUpserted(change="created", version=5, department=Department(id="anna", name="Dept", region="Moscow"))
    )
    assert directory.apply(_manager_event(1))
    assert directory.department("anna").name == "Dept"
    assert directory.manager("anna").name == "Anna v1"


def test_managers_of_a_department_lists_active_ones_by_default():
    directory = TeamDirectory()
    directory.apply(_manager_event(1, manager_id="b"))
    directory.apply(_manager_event(1, manager_id="a"))
    directory.apply(_manager_event(1, manager_id="c", active=False))
    assert [m.id for m in directory.managers_of("sales")] == ["a", "b"]
    assert [m.id for m in directory.managers_of("sales", active_only=False)] == ["a", "b", "c"]


@given(
    st.lists(
        st.tuples(st.sampled_from(["anna", "boris", "olga"]), st.integers(min_value=1, max_value=30)),
        min_size=1,
        max_size=60,
    )
)
def test_any_order_and_duplication_of_events_converges_to_the_highest_versions(deliveries):
    directory = TeamDirectory()
    for manager_id, version in deliveries:
        directory.apply(_manager_event(version, manager_id=manager_id))
    expected = {}
    for manager_id, version in deliveries:
        expected[manager_id] = max(version, expected.get(manager_id, 0))
    assert {m.id: int(m.name.removeprefix("Anna v")) for m in directory.managers.values()} == expected
