"""Wiring of the leads service: settings -> adapters -> routes -> one process."""

from __future__ import annotations

from fastapi import FastAPI

from crmhub.service import HubService, serve
from leads.settings import LeadsSettings


def build_app(settings: LeadsSettings | None = None) -> FastAPI:
    settings = settings or LeadsSettings()
    service = HubService(
        settings,
        title="CRM hub: leads",
        description="Takes in site leads, deduplicates and assigns them to the manager on duty, and watches the first-response SLA.",
    )
    service.follow_team_directory()
    app = service.http_app()
    app.state.service_name = settings.service_name
    return app


def main() -> None:
    settings = LeadsSettings()
    serve(settings, lambda: build_app(settings))
