"""Wiring of the leads service: settings -> stores, team directory, sources -> use cases ->
routes, subscribers and timers, in one process."""

from __future__ import annotations

from fastapi import FastAPI

from crmhub.schemas.audit import AuditRecorded
from crmhub.schemas.leads import (
    LeadAssigned,
    LeadConverted,
    LeadCreated,
    LeadDuplicate,
    LeadRejected,
    LeadSlaBreached,
    LeadTaken,
)
from crmhub.service import HubService, serve
from leads.adapters.lead_store import LeadStore
from leads.adapters.sources import load_sources
from leads.bootstrap import bootstrap
from leads.domain.lead import Lead
from leads.entrypoints import consumers, timers
from leads.entrypoints.intake_http import intake_router
from leads.entrypoints.leads_http import leads_router
from leads.settings import LeadsSettings


def build_app(settings: LeadsSettings | None = None) -> FastAPI:
    settings = settings or LeadsSettings()
    service = HubService(
        settings,
        title="CRM hub: leads",
        description=(
            "Takes in site leads and calls from unknown numbers, deduplicates them, assigns them to the manager on duty and watches the first-response SLA."
        ),
    )
    store = LeadStore(service.aggregates("leads", Lead), service.db)
    deps = bootstrap(
        store=store,
        directory=service.follow_team_directory(),
        sources=load_sources(settings.sources_file, environment=settings.environment),
        phone_source_id=settings.phone_source_id,
        recount_seconds=settings.recount_seconds,
    )
    service.publishes(
        LeadCreated, LeadDuplicate, LeadAssigned, LeadTaken, LeadSlaBreached, LeadConverted, LeadRejected, AuditRecorded
    )
    service.on_startup(store.ensure_indexes)
    service.on_startup(store.build_lists)
    service.projects(store.leads.collection, store.project, then=store.project_figures)
    service.background(store.stats.keep_settled)
    consumers.subscribe(service, deps)
    timers.register(service, deps)
    app = service.http_app(intake_router(), leads_router())
    app.state.leads = deps
    return app


def main() -> None:
    settings = LeadsSettings()
    serve(settings, lambda: build_app(settings))
