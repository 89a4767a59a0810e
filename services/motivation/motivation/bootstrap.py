"""Builds the motivation use-case context: real stores from `app.py`, in-memory fakes in unit tests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from crmhub.schemas.team import Department, Manager
from motivation.adapters.team_store import DirectoryStore
from motivation.service_layer.team import Team


def bootstrap(
    *,
    departments: DirectoryStore[Department],
    managers: DirectoryStore[Manager],
    source: str = "/crm/motivation",
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Team:
    return Team(departments=departments, managers=managers, source=source, now=now)
