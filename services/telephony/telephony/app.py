"""Wiring of the telephony service: settings -> store, providers, team directory -> handlers ->
routes, the call-back consumer and the overdue check, in one process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from fastapi import FastAPI

from crmhub.schemas.calls import CallbackMade, CallbackOverdue, CallCompleted, CallMissed, CallRecordingReady, CallStarted
from crmhub.service import HubService, serve
from telephony.adapters.call_store import CallStore
from telephony.adapters.providers import load_providers
from telephony.entrypoints import consumers
from telephony.entrypoints.http import telephony_router
from telephony.handlers import TelephonyHandlers
from telephony.settings import TelephonySettings

log = logging.getLogger("telephony.scheduler")


def build_app(settings: TelephonySettings | None = None) -> FastAPI:
    settings = settings or TelephonySettings()
    providers = load_providers(settings.providers_file, environment=settings.environment)
    service = HubService(
        settings,
        title="CRM hub: telephony",
        description="Takes in PBX and cloud-telephony call events, keeps one record per call, and makes sure every missed call is called back.",
    )
    directory = service.follow_team_directory()
    store = CallStore(service.db, on_stored=service.nudge_relay)
    handlers = TelephonyHandlers(store=store, directory=directory, providers=providers)
    service.publishes(CallStarted, CallCompleted, CallMissed, CallRecordingReady, CallbackMade, CallbackOverdue)
    service.outbox(store.calls, store.callbacks)
    service.on_startup(store.ensure_indexes)
    consumers.subscribe(service, handlers)

    async def overdue_check() -> None:
        while True:
            try:
                await handlers.publish_settled(timedelta(seconds=settings.settle_seconds))
                await handlers.mark_overdue()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("overdue check failed; it runs again")
            with contextlib.suppress(TimeoutError):
                await asyncio.sleep(settings.scheduler_seconds)

    service.background(overdue_check)
    app = service.http_app(telephony_router())
    app.state.service_name = settings.service_name
    app.state.handlers = handlers
    return app


def main() -> None:
    settings = TelephonySettings()
    serve(settings, lambda: build_app(settings))
