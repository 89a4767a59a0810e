"""Builds the deals service's use-case context: `app.py` passes the MongoDB stores and the
Kafka-fed team directory, unit tests pass in-memory fakes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from crmhub.team_directory import TeamDirectory
from deals.adapters.deal_store import DealStore
from deals.adapters.team import DirectoryTeam
from deals.domain.deal import Playbook
from deals.service_layer.context import Deals


def bootstrap(
    *,
    store: DealStore,
    directory: TeamDirectory,
    playbook: Playbook,
    production_department_id: str = "production",
    rule_seconds_per_day: float = 86400.0,
    overdue_grace: timedelta = timedelta(hours=1),
    language: str = "ru",
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Deals:
    team = DirectoryTeam(directory, production_department_id, rule_seconds_per_day, overdue_grace, language)
    return Deals(store=store, directory=directory, team=team, playbook=playbook, now=now)
