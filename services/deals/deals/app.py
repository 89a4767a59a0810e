"""Wiring of the deals service: settings -> adapters -> routes -> one process."""

from __future__ import annotations

from fastapi import FastAPI

from crmhub.service import HubService, serve
from deals.settings import DealsSettings


def build_app(settings: DealsSettings | None = None) -> FastAPI:
    settings = settings or DealsSettings()
    service = HubService(
        settings,
        title="CRM hub: deals",
        description="Runs the sales pipeline: deals, tasks and business-process rules.",
    )
    service.follow_team_directory()  # who may sign in (and soon: managers' working time)
    app = service.http_app()
    app.state.service_name = settings.service_name
    return app


def main() -> None:
    settings = DealsSettings()
    serve(settings, lambda: build_app(settings))
