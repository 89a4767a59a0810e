"""Wiring of the telephony service: settings -> adapters -> routes -> one process."""

from __future__ import annotations

from fastapi import FastAPI

from crmhub.service import HubService, serve
from telephony.settings import TelephonySettings


def build_app(settings: TelephonySettings | None = None) -> FastAPI:
    settings = settings or TelephonySettings()
    service = HubService(
        settings,
        title="CRM hub: telephony",
        description="Takes in PBX and cloud-telephony call events, keeps one record per call and chases missed calls.",
    )
    app = service.http_app()
    app.state.service_name = settings.service_name
    return app


def main() -> None:
    settings = TelephonySettings()
    serve(settings, lambda: build_app(settings))
