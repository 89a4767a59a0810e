"""Wiring of the telephony service: settings -> stores, providers, team directory -> use cases ->
routes, subscribers and timers, in one process."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI

from crmhub.listing import Listing
from crmhub.schemas.calls import (
    CallAttempted,
    CallbackMade,
    CallbackOverdue,
    CallCompleted,
    CallMissed,
    CallRecordingReady,
    CallStarted,
)
from crmhub.service import HubService, serve
from telephony.adapters.call_store import CallStore
from telephony.adapters.providers import load_providers
from telephony.bootstrap import bootstrap
from telephony.domain.call import Call
from telephony.domain.callbacks import Callback
from telephony.domain.owners import ClientOwner
from telephony.domain.routing import LineRotation
from telephony.entrypoints import consumers, timers
from telephony.entrypoints.calls_http import calls_router
from telephony.entrypoints.intake_http import intake_router
from telephony.settings import TelephonySettings


def build_app(settings: TelephonySettings | None = None) -> FastAPI:
    settings = settings or TelephonySettings()
    service = HubService(
        settings,
        title="CRM hub: telephony",
        description="Takes in PBX and cloud-telephony call events, keeps one record per call, and makes sure every missed call is called back.",
    )
    store = CallStore(
        service.aggregates("calls", Call),
        service.aggregates("callbacks", Callback),
        service.aggregates("client_owners", ClientOwner),
        service.aggregates("line_rotations", LineRotation),
        Listing(service.db, "call_lists", shards=4, busy=frozenset({"all"})),
        Listing(service.db, "number_lists"),
    )
    deps = bootstrap(
        store=store,
        directory=service.follow_team_directory(),
        providers=load_providers(settings.providers_file, environment=settings.environment),
        settle_after=timedelta(seconds=settings.settle_seconds),
        public_url=settings.public_url,
    )
    service.publishes(
        CallStarted, CallCompleted, CallAttempted, CallMissed, CallRecordingReady, CallbackMade, CallbackOverdue
    )
    service.on_startup(store.ensure_indexes)
    service.on_startup(store.build_lists)
    service.projects(store.calls.collection, store.project)
    consumers.subscribe(service, deps)
    timers.register(service, deps)
    app = service.http_app(intake_router(), calls_router())
    app.state.telephony = deps
    return app


def main() -> None:
    settings = TelephonySettings()
    serve(settings, lambda: build_app(settings))
