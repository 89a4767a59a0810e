"""What the deals use cases work with: the stores, the team, the pipelines and rules, the clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from crmhub.team_directory import TeamDirectory
from deals.adapters.deal_store import DealStore
from deals.adapters.team import DirectoryTeam
from deals.domain.deal import Playbook


@dataclass
class Deals:
    store: DealStore
    directory: TeamDirectory
    team: DirectoryTeam
    playbook: Playbook
    now: Callable[[], datetime]
