"""Wiring of the motivation service: settings -> stores -> use cases -> routes -> one process."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from fastapi import FastAPI

from crmhub import topics
from crmhub.events import CloudEvent
from crmhub.mongo import Document
from crmhub.rate_limit import RateLimiter
from crmhub.schemas.accounts import AddressConfirmationRequested, PasswordResetRequested
from crmhub.schemas.audit import ApiTokenUsed, AuditRecorded
from crmhub.schemas.motivation import (
    ManagerUnderperforming,
    PayoutCalculated,
    PeriodClosed,
    PeriodReopened,
    PlanReviewSuggested,
    PlanSet,
    PlanUnrealistic,
)
from crmhub.schemas.team import ApiTokenUpserted, DepartmentUpserted, Manager, ManagerUpserted
from crmhub.service import HubService, serve
from motivation.adapters.audit_store import AuditLog
from motivation.adapters.credentials import AccountStore, ApiTokenStore, KeyRing, OneTimeLinks
from motivation.adapters.pay_store import PayStore
from motivation.adapters.report_store import ReportStore
from motivation.adapters.team_store import department_store, manager_store
from motivation.bootstrap import bootstrap
from motivation.domain.accounts import SignInPolicy
from motivation.entrypoints import counting, reporting
from motivation.entrypoints.api_tokens_http import api_tokens_router
from motivation.entrypoints.audit_http import audit_router
from motivation.entrypoints.auth_http import auth_router
from motivation.entrypoints.links_http import links_router
from motivation.entrypoints.pay_http import pay_router
from motivation.entrypoints.reports_http import reports_router
from motivation.entrypoints.team_http import team_router
from motivation.service_layer import audit
from motivation.service_layer.auth import Auth, ensure_first_admin
from motivation.service_layer.links import Links, confirmation_request
from motivation.service_layer.pay import Pay
from motivation.service_layer.reports import Reports
from motivation.settings import MotivationSettings

DIRECTORY_EVENTS = frozenset({DepartmentUpserted.event_type, ManagerUpserted.event_type, ApiTokenUpserted.event_type})


def build_app(settings: MotivationSettings | None = None) -> FastAPI:
    settings = settings or MotivationSettings()
    service = HubService(
        settings,
        title="CRM hub: motivation",
        description=(
            "Owns the team directory (departments, managers) and people's sign-in, published on the compacted topic "
            "crm.team; counts what managers do, keeps plans and pay, explains payouts, closes months and reads the funnel."
        ),
    )
    directory = service.follow_team_directory()

    def stored(collection: str, doc_id: Any, entries: list[Document]) -> None:
        """Relay what a directory change stored, and apply it to this service's own copy at once:
        the service that owns the directory reads its own writes (a person it just made can use
        their token here immediately; the other services' copies follow through crm.team)."""
        service.nudge_relay(collection, doc_id, entries)
        for entry in entries:
            if entry.get("type") in DIRECTORY_EVENTS:
                directory.apply(CloudEvent.model_validate(entry).payload())

    departments = department_store(service.db["departments"], on_stored=stored)
    managers = manager_store(service.db["managers"], on_stored=stored)
    accounts = AccountStore(service.db, on_stored=service.nudge_relay)
    access_ttl = timedelta(minutes=settings.access_token_minutes)
    keys = KeyRing(
        service.db, rotation=timedelta(days=settings.key_rotation_days), keep=access_ttl + timedelta(minutes=5)
    )
    team = bootstrap(departments=departments, managers=managers, source=f"/crm/{settings.service_name}")
    team.revoke_sessions = accounts.revoke_all
    auth = Auth(
        team=team,
        accounts=accounts,
        keys=keys,
        issuer=settings.auth_issuer,
        audience=settings.auth_audience,
        access_ttl=access_ttl,
        refresh_ttl=timedelta(days=settings.refresh_token_days),
        policy=SignInPolicy(
            max_failures=settings.max_failed_logins, lockout=timedelta(minutes=settings.lockout_minutes)
        ),
        limiter=RateLimiter(per_minute=settings.login_rate_per_minute),
        now=lambda: datetime.now(UTC),
    )
    audit_log = AuditLog(service.db)
    tokens = ApiTokenStore(service.db, on_stored=stored)
    service.publishes(
        DepartmentUpserted,
        ManagerUpserted,
        ApiTokenUpserted,
        AuditRecorded,
        PasswordResetRequested,
        AddressConfirmationRequested,
    )
    one_time = Links(
        auth,
        OneTimeLinks(service.db),
        settings.public_url or settings.auth_issuer,
        timedelta(minutes=settings.link_minutes),
    )

    async def ask_to_confirm(manager: Manager, channel: Literal["email", "telegram"], address: str) -> CloudEvent:
        return await confirmation_request(one_time, manager, channel, address)

    team.request_confirmation = ask_to_confirm
    service.outbox(departments.collection, managers.collection, accounts.accounts, tokens.tokens)
    service.on_startup(audit_log.ensure_indexes)

    async def keep_record(event: CloudEvent, record: AuditRecorded) -> None:
        await audit.keep(audit_log, event, record)

    async def token_used(event: CloudEvent, used: ApiTokenUsed) -> None:
        await tokens.used(used.token_id, used.at)

    service.consumes(
        topics.AUDIT,
        group="motivation.audit",
        handlers={AuditRecorded: keep_record, ApiTokenUsed: token_used},
        description="The audit trail of every service, kept append-only for GET /v1/audit.",
    )
    service.on_startup(departments.ensure_indexes)
    service.on_startup(managers.ensure_indexes)

    async def first_admin() -> None:
        await ensure_first_admin(
            auth,
            manager_id=settings.bootstrap_admin_id,
            email=settings.bootstrap_admin_email,
            password=settings.bootstrap_admin_password,
        )

    service.on_startup(first_admin)

    pay_deps = Pay(
        store=PayStore(service.db, on_stored=service.nudge_relay),
        directory=directory,
        now=lambda: datetime.now(UTC),
        period_start_day=settings.period_start_day,
        unrealistic_share=settings.unrealistic_share,
        unrealistic_months=settings.unrealistic_months,
        few_share=settings.few_share,
    )
    service.publishes(
        PlanSet,
        PayoutCalculated,
        PeriodClosed,
        PeriodReopened,
        PlanUnrealistic,
        PlanReviewSuggested,
        ManagerUnderperforming,
    )
    service.outbox(pay_deps.store.plans, pay_deps.store.periods, pay_deps.store.payouts)
    counting.subscribe(service, pay_deps, retry_seconds=settings.parked_retry_seconds)

    async def adopt_salaries() -> None:
        await pay_deps.store.adopt_directory_salaries(managers.collection)

    service.on_startup(adopt_salaries)

    report_deps = Reports(
        store=ReportStore(service.db),
        directory=directory,
        pay=pay_deps,
        timezone=ZoneInfo(settings.reports_timezone),
        now=lambda: datetime.now(UTC),
        third_ring_seconds=settings.third_ring_seconds,
    )
    reporting.subscribe(service, report_deps)

    app = service.http_app(
        team_router(),
        auth_router(),
        audit_router(),
        api_tokens_router(),
        links_router(),
        pay_router(),
        reports_router(),
    )
    app.state.reports = report_deps
    app.state.pay = pay_deps
    app.state.links = one_time
    app.state.audit = audit_log
    app.state.api_tokens = tokens
    app.state.team = team
    app.state.auth = auth
    return app


def main() -> None:
    settings = MotivationSettings()
    serve(settings, lambda: build_app(settings))
