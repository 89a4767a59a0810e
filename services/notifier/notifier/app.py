"""Wiring of the notifier: settings -> store, channels, templates, team directory -> handlers ->
consumers, the dispatcher and routes, in one process."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import httpx
from fastapi import FastAPI

from crmhub import topics
from crmhub.schemas.notifications import NotificationDelivered, NotificationFailed
from crmhub.schemas.team import Channel
from crmhub.service import HubService, serve
from notifier.adapters.channels import Channels, SmtpSettings
from notifier.adapters.delivery_store import DeliveryStore
from notifier.domain.routing import DEFAULT_ROUTES
from notifier.domain.templates import Templates
from notifier.entrypoints.http import notifier_router
from notifier.handlers import NotifierHandlers, Policy, WebhookEndpoint
from notifier.settings import NotifierSettings

log = logging.getLogger("notifier.dispatcher")
CHANNELS = ("email", "telegram", "inbox", "log")


def _webhooks(path: str | None) -> list[WebhookEndpoint]:
    if not path:
        return []
    entries: list[dict[str, Any]] = json.loads(Path(path).read_text())
    return [WebhookEndpoint(e["id"], e["url"], e["secret"], tuple(e.get("event_types", ["*"]))) for e in entries]


def build_app(settings: NotifierSettings | None = None) -> FastAPI:
    settings = settings or NotifierSettings()
    service = HubService(
        settings, title="CRM hub: notifier", description="Tells the right person, once, on their channel: e-mail, Telegram, webhooks, the in-app inbox."
    )
    directory = service.follow_team_directory()
    store = DeliveryStore(service.db, on_stored=service.nudge_relay)
    http = httpx.AsyncClient(timeout=10)
    smtp = (
        SmtpSettings(settings.smtp_host, settings.smtp_port, settings.smtp_from, settings.smtp_username, settings.smtp_password, settings.smtp_starttls)
        if settings.smtp_host
        else None
    )
    channels = Channels(store=store, smtp=smtp, telegram_base_url=settings.telegram_base_url, telegram_token=settings.telegram_token, http=http)
    defaults = tuple(cast(Channel, c.strip()) for c in settings.default_channels.split(",") if c.strip() in CHANNELS)
    policy = Policy(
        default_channels=defaults,
        max_attempts=settings.max_attempts,
        backoff_seconds=settings.backoff_seconds,
        burst_limit=settings.burst_limit,
        burst_window=timedelta(seconds=settings.burst_window_seconds),
    )
    handlers = NotifierHandlers(
        store=store,
        directory=directory,
        channels=channels,
        templates=Templates(Path(settings.templates_dir)) if settings.templates_dir else Templates(),
        routes=DEFAULT_ROUTES,
        webhooks=_webhooks(settings.webhooks_file),
        policy=policy,
    )
    service.publishes(NotificationDelivered, NotificationFailed)
    service.outbox(store.deliveries)
    service.on_startup(store.ensure_indexes)
    for topic, group in ((topics.LEADS, "notifier.leads"), (topics.CALLS, "notifier.calls")):
        service.consumes(topic, group=group, handler=handlers.on_event, description=f"Events of {topic.name} that a person must hear about (see /v1/routing).")

    async def dispatcher() -> None:
        """Until the service stops: a round in progress finishes and records what it sent, so a
        restart does not send anything twice."""
        assert service.team is not None
        await service.team.ready_event.wait()
        while not service.stopping.is_set():
            try:
                sent = await handlers.dispatch_due()
            except Exception:
                log.exception("dispatch round failed; it runs again")
                sent = 0
            if not sent:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(service.stopping.wait(), settings.dispatch_seconds)

    service.background(dispatcher, graceful=True)
    app = service.http_app(notifier_router())
    app.state.service_name = settings.service_name
    app.state.handlers = handlers
    service.on_shutdown(http.aclose)
    return app


def main() -> None:
    settings = NotifierSettings()
    serve(settings, lambda: build_app(settings))
