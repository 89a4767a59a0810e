"""Wiring of the deals service: settings -> pipelines and rules, stores, team directory -> use
cases -> routes, subscribers and timers, in one process."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from fastapi import FastAPI

from crmhub import topics
from crmhub.events import CloudEvent
from crmhub.schemas.audit import AuditRecorded
from crmhub.schemas.deals import (
    DealActivityRecorded,
    DealAlert,
    DealCreated,
    DealStageChanged,
    DealUpdated,
    DocumentCreated,
    DocumentSent,
    TaskCancelled,
    TaskCompleted,
    TaskCreated,
    TaskDue,
    TaskOverdue,
    TaskReassigned,
    TaskRescheduled,
)
from crmhub.service import HubService, serve
from deals.adapters.accounting_store import AccountingStore
from deals.adapters.deal_store import DealStore
from deals.adapters.document_store import DocumentStore, kept_secret
from deals.adapters.document_templates import DocumentTemplates
from deals.adapters.playbook_files import load_playbook
from deals.bootstrap import bootstrap
from deals.domain.deal import Deal
from deals.domain.rules import parse_offset
from deals.domain.tasks import ClientTasks
from deals.entrypoints import consumers, timers
from deals.entrypoints.accounting_http import accounting_router
from deals.entrypoints.deals_http import deals_router
from deals.entrypoints.documents_http import documents_router
from deals.entrypoints.process_http import process_router
from deals.entrypoints.tasks_http import tasks_router
from deals.service_layer import accounting
from deals.service_layer.accounting import Accounting
from deals.service_layer.documents import Documents
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

    document_store = DocumentStore(service.db, on_stored=service.nudge_relay)
    docs = Documents(
        deals=deps,
        store=document_store,
        templates=DocumentTemplates.load(Path(settings.documents_dir) if settings.documents_dir else None),
        public_url=settings.public_url or f"http://127.0.0.1:{settings.http_port}",
        link_secret=settings.link_secret or "",
        timezone=ZoneInfo(settings.documents_timezone),
    )
    service.publishes(DocumentCreated, DocumentSent)
    service.outbox(document_store.documents)

    async def link_key() -> None:
        if not docs.link_secret:
            docs.link_secret = await kept_secret(service.db["service_keys"], "document_links")

    service.on_startup(link_key)
    books = Accounting(
        deals=deps,
        store=AccountingStore(service.db),
        login=settings.onec_login,
        password=settings.onec_password,
        file_limit=settings.max_body_bytes,
        encoding=settings.onec_encoding,
        keys=dict(settings.accounting_keys),
        timezone=ZoneInfo(settings.documents_timezone),
    )

    async def queue_for_1c(event: CloudEvent, payload: DealStageChanged) -> None:
        await accounting.on_stage_changed(books, event)

    service.consumes(
        topics.DEALS,
        group="deals.accounting",
        handlers={DealStageChanged: queue_for_1c},
        description="A deal that reaches invoicing is queued as an order for 1C's next exchange (mode=query).",
    )
    app = service.http_app(deals_router(), tasks_router(), process_router(), documents_router(), accounting_router())
    app.state.accounting = books
    app.state.deals = deps
    app.state.documents = docs
    app.state.service_name = settings.service_name
    return app


def main() -> None:
    settings = DealsSettings()
    serve(settings, lambda: build_app(settings))
