"""Wiring of the leads service: settings -> store, team directory, sources -> handlers -> routes,
consumers and the scheduler, in one process."""

from __future__ import annotations

from fastapi import FastAPI

from crmhub.schemas.leads import LeadAssigned, LeadConverted, LeadCreated, LeadDuplicate, LeadRejected, LeadSlaBreached, LeadTaken
from crmhub.service import HubService, serve
from leads.adapters.lead_store import LeadStore
from leads.adapters.sources import load_sources
from leads.entrypoints import consumers
from leads.entrypoints.http import Limits, intake_router, leads_router
from leads.entrypoints.scheduler import run_scheduler
from leads.handlers import LeadHandlers
from leads.settings import LeadsSettings


def build_app(settings: LeadsSettings | None = None) -> FastAPI:
    settings = settings or LeadsSettings()
    sources = load_sources(settings.sources_file, environment=settings.environment)
    service = HubService(
        settings,
        title="CRM hub: leads",
        description=(
            "Takes in site leads and calls from unknown numbers, deduplicates them, assigns them to the manager on duty and watches the first-response SLA."
        ),
    )
    directory = service.follow_team_directory()
    store = LeadStore(service.db, on_stored=service.nudge_relay)
    handlers = LeadHandlers(store=store, directory=directory, sources=sources, phone_source_id=settings.phone_source_id)
    service.publishes(LeadCreated, LeadDuplicate, LeadAssigned, LeadTaken, LeadSlaBreached, LeadConverted, LeadRejected)
    service.outbox(store.leads)
    service.on_startup(store.ensure_indexes)
    consumers.subscribe(service, handlers)

    async def scheduler() -> None:
        assert service.team is not None
        await run_scheduler(handlers, every_seconds=settings.scheduler_seconds, recount_seconds=settings.recount_seconds, ready=service.team.ready_event)

    service.background(scheduler)
    app = service.http_app(intake_router(), leads_router())
    app.state.service_name = settings.service_name
    app.state.handlers = handlers
    app.state.limits = Limits()
    app.state.blocklist = sources.blocklist.blocklist()
    return app


def main() -> None:
    settings = LeadsSettings()
    serve(settings, lambda: build_app(settings))
