"""Wiring of the notifier: settings -> store, channels, templates, team directory -> use cases ->
subscribers, the send timers and routes, in one process."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import httpx
from fastapi import FastAPI

from crmhub.schemas.audit import AuditRecorded
from crmhub.schemas.notifications import NotificationDelivered, NotificationFailed
from crmhub.schemas.team import Channel
from crmhub.service import HubService, serve
from notifier.adapters.channels import Channels, SmtpSettings
from notifier.adapters.delivery_store import DeliveryStore
from notifier.adapters.routing_file import load_routes
from notifier.adapters.templates import Templates
from notifier.adapters.webhooks import WebhookRegistry
from notifier.bootstrap import bootstrap
from notifier.domain.delivery import Delivery, Policy
from notifier.domain.subscriptions import WebhookEndpoint, WebhookSubscription
from notifier.entrypoints import consumers, timers
from notifier.entrypoints.inbox_http import inbox_router
from notifier.entrypoints.notifications_http import notifications_router
from notifier.entrypoints.webhooks_http import webhooks_router
from notifier.settings import NotifierSettings

CHANNELS = ("email", "telegram", "inbox", "log")


def _webhooks(path: str | None) -> list[WebhookEndpoint]:
    if not path:
        return []
    entries: list[dict[str, Any]] = json.loads(Path(path).read_text())
    return [WebhookEndpoint(e["id"], e["url"], (e["secret"],), tuple(e.get("event_types", ["*"]))) for e in entries]


def build_app(settings: NotifierSettings | None = None) -> FastAPI:
    settings = settings or NotifierSettings()
    service = HubService(
        settings,
        title="CRM hub: notifier",
        description="Tells the right person, once, on their channel: e-mail, Telegram, webhooks, the in-app inbox.",
    )
    store = DeliveryStore(
        service.aggregates("deliveries", Delivery),
        service.db,
        # the burst limit counts the last sends; past 1,000 it is as good as no limit
        burst_memory=min(max(settings.burst_limit, 1), 1_000),
    )
    http = httpx.AsyncClient(timeout=10)
    smtp = (
        SmtpSettings(
            settings.smtp_host,
            settings.smtp_port,
            settings.smtp_from,
            settings.smtp_username,
            settings.smtp_password,
            settings.smtp_starttls,
        )
        if settings.smtp_host
        else None
    )
    channels = Channels(
        store=store,
        smtp=smtp,
        telegram_base_url=settings.telegram_base_url,
        telegram_token=settings.telegram_token,
        http=http,
        attachment_origins=tuple(o.strip() for o in settings.attachment_origins.split(",") if o.strip()),
    )
    deps = bootstrap(
        store=store,
        directory=service.follow_team_directory(),
        channels=channels,
        templates=Templates(Path(settings.templates_dir)) if settings.templates_dir else Templates(),
        webhooks=WebhookRegistry(
            service.aggregates("webhook_subscriptions", WebhookSubscription),
            from_file=_webhooks(settings.webhooks_file),
            signing_key=settings.webhook_signing_key.get_secret_value() if settings.webhook_signing_key else None,
            now=lambda: datetime.now(UTC),
        ),
        routes=load_routes(settings.routing_file),
        policy=Policy(
            max_attempts=settings.max_attempts,
            backoff_seconds=settings.backoff_seconds,
            burst_limit=settings.burst_limit,
            burst_window=timedelta(seconds=settings.burst_window_seconds),
        ),
        default_channels=tuple(
            cast(Channel, c.strip()) for c in settings.default_channels.split(",") if c.strip() in CHANNELS
        ),
    )
    service.publishes(NotificationDelivered, NotificationFailed, AuditRecorded)
    service.on_startup(store.ensure_indexes)
    service.on_startup(store.build_lists)
    consumers.subscribe(service, deps)
    timers.register(service, deps)
    app = service.http_app(
        notifications_router(), inbox_router(), webhooks_router(production=settings.environment == "production")
    )
    app.state.notifier = deps
    service.on_shutdown(http.aclose)
    service.on_shutdown(channels.aclose)
    return app


def main() -> None:
    settings = NotifierSettings()
    serve(settings, lambda: build_app(settings))
