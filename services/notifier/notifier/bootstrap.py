"""Builds the notifier's use-case context: real stores and channels from `app.py`, fakes in unit tests."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from crmhub.schemas.team import Channel
from crmhub.team_directory import TeamDirectory
from notifier.adapters.delivery_store import DeliveryStore
from notifier.adapters.routing_file import SHIPPED_ROUTES
from notifier.domain.delivery import Policy
from notifier.domain.routing import Route
from notifier.service_layer.context import Notifier, Renderer, Sender, WebhookEndpoint, WebhookRegistry

LEASE = timedelta(seconds=30)


def bootstrap(
    *,
    store: DeliveryStore,
    directory: TeamDirectory,
    channels: Sender,
    templates: Renderer,
    routes: Sequence[Route] = SHIPPED_ROUTES,
    webhooks: WebhookRegistry | Sequence[WebhookEndpoint] = (),
    policy: Policy = Policy(),
    default_channels: tuple[Channel, ...] = ("inbox", "log"),
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Notifier:
    return Notifier(
        store=store,
        directory=directory,
        channels=channels,
        templates=templates,
        routes=tuple(routes),
        webhooks=webhooks
        if isinstance(webhooks, WebhookRegistry)
        else WebhookRegistry(None, from_file=webhooks, now=now),
        policy=policy,
        default_channels=default_channels,
        lease=LEASE,
        now=now,
    )
