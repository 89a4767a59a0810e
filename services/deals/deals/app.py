"""Wiring of the deals service: settings -> pipelines and rules, stores, team directory -> use
cases -> routes, subscribers and timers, in one process."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI

from crmhub.schemas.audit import AuditRecorded
from crmhub.schemas.deals import (
    DealActivityRecorded,
    DealAlert,
    DealCreated,
    DealStageChanged,
    DealUpdated,
    TaskCancelled,
    TaskCompleted,
    TaskCreated,
    TaskDue,
    TaskOverdue,
    TaskReassigned,
    TaskRescheduled,
)
from crmhub.service import HubService, serve
from deals.adapters.deal_store import DealStore
from deals.adapters.playbook_files import load_playbook
from deals.bootstrap import bootstrap
from deals.domain.deal import Deal
from deals.domain.rules import parse_offset
from deals.domain.tasks import ClientTasks
from deals.entrypoints import consumers, timers
from deals.entrypoints.deals_http import deals_router
from deals.entrypoints.process_http import process_router
from deals.entrypoints.tasks_http import tasks_router
from deals.settings import DealsSettings


def build_app(settings: DealsSettings | None = None) -> FastAPI:
    settings = settings or DealsSettings()
    playbook = load_playbook(settings.pipelines_file, settings.rules_file)  # a bad rule stops the start here
    service = HubService(
        settings,
        title="CRM hub: deals",
        description=(
            "Runs the sales pipeline: deals through their stages, business-process rules on durable timers, "
            "and the tasks managers live in."
        ),
    )
    store = DealStore(service.aggregates("deals", Deal), service.aggregates("client_tasks", ClientTasks), service.db)
    deps = bootstrap(
        store=store,
        directory=service.follow_team_directory(),
        playbook=playbook,
        production_department_id=settings.production_department_id,
        rule_seconds_per_day=settings.rule_seconds_per_day,
        overdue_grace=timedelta(seconds=parse_offset(settings.task_overdue_grace).total_seconds()),
        language=settings.language,
    )
    service.publishes(
        DealCreated,
        DealStageChanged,
        DealUpdated,
        DealActivityRecorded,
        DealAlert,
        TaskCreated,
        TaskDue,
        TaskOverdue,
        TaskCompleted,
        TaskCancelled,
        TaskRescheduled,
        TaskReassigned,
        AuditRecorded,
    )
    service.on_startup(store.ensure_indexes)
    consumers.subscribe(service, deps)
    timers.register(service, deps)
    app = service.http_app(deals_router(), tasks_router(), process_router())
    app.state.deals = deps
    app.state.service_name = settings.service_name
    return app


def main() -> None:
    settings = DealsSettings()
    serve(settings, lambda: build_app(settings))
