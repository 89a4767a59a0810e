"""Builds the leads service's use-case context from its parts: `app.py` passes the real MongoDB
stores and the Kafka-fed team directory, unit tests pass in-memory fakes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from crmhub.team_directory import TeamDirectory
from leads.adapters.bitrix24_rest import Bitrix24Rest
from leads.adapters.lead_store import LeadStore
from leads.adapters.sources import SourcesConfig
from leads.service_layer.assignment import Assigner
from leads.service_layer.context import Leads
from leads.service_layer.limits import Limits


def bootstrap(
    *,
    store: LeadStore,
    directory: TeamDirectory,
    sources: SourcesConfig,
    phone_source_id: str = "phone",
    recount_seconds: float = 30.0,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Leads:
    return Leads(
        store=store,
        directory=directory,
        sources=sources,
        assigner=Assigner(store, directory, recount_seconds=recount_seconds),
        limits=Limits(),
        blocklist=sources.blocklist.blocklist(),
        phone_source_id=phone_source_id,
        now=now,
        bitrix24=Bitrix24Rest(),
    )
