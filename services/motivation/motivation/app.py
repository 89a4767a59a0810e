"""Wiring of the motivation service: settings -> stores -> use cases -> routes -> one process."""

from __future__ import annotations

from fastapi import FastAPI

from crmhub.schemas.team import DepartmentUpserted, ManagerUpserted
from crmhub.service import HubService, serve
from motivation.adapters.team_store import department_store, manager_store
from motivation.bootstrap import bootstrap
from motivation.entrypoints.team_http import team_router
from motivation.settings import MotivationSettings


def build_app(settings: MotivationSettings | None = None) -> FastAPI:
    settings = settings or MotivationSettings()
    service = HubService(
        settings,
        title="CRM hub: motivation",
        description="Owns the team directory (departments, managers) and publishes it on the compacted topic crm.team.",
    )
    departments = department_store(service.db["departments"], on_stored=service.nudge_relay)
    managers = manager_store(service.db["managers"], on_stored=service.nudge_relay)
    service.publishes(DepartmentUpserted, ManagerUpserted)
    service.outbox(departments.collection, managers.collection)
    service.on_startup(departments.ensure_indexes)
    service.on_startup(managers.ensure_indexes)
    app = service.http_app(team_router())
    app.state.team = bootstrap(departments=departments, managers=managers, source=f"/crm/{settings.service_name}")
    return app


def main() -> None:
    settings = MotivationSettings()
    serve(settings, lambda: build_app(settings))
