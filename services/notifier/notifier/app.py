"""Wiring of the notifier service: settings -> adapters -> routes -> one process."""

from __future__ import annotations

from fastapi import FastAPI

from crmhub.service import HubService, serve
from notifier.settings import NotifierSettings


def build_app(settings: NotifierSettings | None = None) -> FastAPI:
    settings = settings or NotifierSettings()
    service = HubService(
        settings,
        title="CRM hub: notifier",
        description="Tells the right person, once, on their channel.",
    )
    service.follow_team_directory()
    app = service.http_app()
    app.state.service_name = settings.service_name
    return app


def main() -> None:
    settings = NotifierSettings()
    serve(settings, lambda: build_app(settings))
