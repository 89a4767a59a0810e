from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from crmhub.schemas.team import Department, Manager, ManagerUpserted
from motivation.domain.team import create, revise

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
ANNA = Manager(id="anna", name="Anna", department_id="sales", email="anna@example.com")


def test_creating_an_entry_announces_version_one():
    revision = create(ANNA, source="/crm/motivation", now=NOW)
    assert revision.version == 1
    assert revision.event.type == "team.manager.upserted"
    assert revision.event.subject == "manager:anna"
    payload = revision.event.payload()
    assert isinstance(payload, ManagerUpserted)
    assert payload.change == "created"
    assert payload.manager == ANNA


def test_a_change_bumps_the_version_and_carries_the_full_new_state():
    revision = revise(ANNA, 3, {"capacity": 5}, source="/crm/motivation", now=NOW)
    assert revision is not None
    assert revision.version == 4
    assert revision.state.capacity == 5
    assert revision.event.payload().manager.email == "anna@example.com"
    assert revision.event.payload().change == "updated"


def test_a_change_that_changes_nothing_emits_nothing():
    assert revise(ANNA, 3, {"capacity": ANNA.capacity, "name": "Anna"}, source="/crm/motivation", now=NOW) is None


@pytest.mark.parametrize(
    ("start_active", "changes", "expected"),
    [(True, {"active": False}, "deactivated"), (False, {"active": True}, "activated")],
)
def test_activation_changes_are_named(start_active, changes, expected):
    current = ANNA.model_copy(update={"active": start_active})
    revision = revise(current, 1, changes, source="/crm/motivation", now=NOW)
    assert revision.event.payload().change == expected


def test_an_invalid_change_is_refused_naming_the_field():
    with pytest.raises(ValidationError, match="name"):
        revise(ANNA, 1, {"name": None}, source="/crm/motivation", now=NOW)


def test_the_id_cannot_change():
    with pytest.raises(ValueError, match="cannot change"):
        revise(Department(id="sales", name="S", region="R"), 1, {"id": "other"}, source="/crm/motivation", now=NOW)
