"""What the use cases work with: stores, the team directory, sources, the assigner, the clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from crmhub.team_directory import TeamDirectory
from leads.adapters.bitrix24_rest import Bitrix24Rest
from leads.adapters.lead_store import LeadStore
from leads.adapters.sources import Source, SourcesConfig
from leads.domain.lead import Lead
from leads.domain.submission import Blocklist
from leads.service_layer.assignment import Assigner
from leads.service_layer.limits import Limits


@dataclass
class Leads:
    store: LeadStore
    directory: TeamDirectory
    sources: SourcesConfig
    assigner: Assigner
    limits: Limits
    blocklist: Blocklist
    phone_source_id: str
    now: Callable[[], datetime]
    bitrix24: Bitrix24Rest

    def source_of(self, lead: Lead) -> Source | None:
        return self.sources.by_id(lead.source_id) or self.sources.by_id(self.phone_source_id)
