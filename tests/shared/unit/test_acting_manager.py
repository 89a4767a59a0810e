"""Whom taking a lead, opening a deal or setting a task is done as, when the request names a
manager and when it does not."""

from __future__ import annotations

import pytest

from crmhub.access import acting_manager
from crmhub.auth import Principal, Role


def person(subject: str, *roles: Role) -> Principal:
    return Principal(subject=subject, kind="person", roles=frozenset(roles), department_id="sales-msk")


INTEGRATION = Principal(subject="site", kind="integration", roles=frozenset(), scopes=frozenset({"leads:write"}))


@pytest.mark.parametrize("roles", [("manager",), ("head",), ("admin",), ("head", "manager")])
def test_a_person_who_names_nobody_acts_as_themselves(roles):
    assert acting_manager(person("olga", *roles), None) == "olga"


@pytest.mark.parametrize("roles", [("head",), ("admin",)])
def test_a_head_or_an_administrator_acts_for_the_manager_they_name(roles):
    assert acting_manager(person("olga", *roles), "anna") == "anna"


def test_a_manager_may_name_only_themselves():
    assert acting_manager(person("anna", "manager"), "anna") == "anna"
    with pytest.raises(PermissionError, match="manager:anna acts as themselves, not as boris"):
        acting_manager(person("anna", "manager"), "boris")


def test_an_integration_names_the_manager():
    assert acting_manager(INTEGRATION, "anna") == "anna"
    with pytest.raises(ValueError, match="manager_id"):
        acting_manager(INTEGRATION, None)
