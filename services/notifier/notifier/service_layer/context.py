"""What the notifier's use cases work with."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from crmhub.schemas.team import Channel
from crmhub.team_directory import TeamDirectory
from notifier.adapters.channels import Outgoing
from notifier.adapters.delivery_store import DeliveryStore
from notifier.adapters.webhooks import WebhookRegistry
from notifier.domain.delivery import Message, Policy
from notifier.domain.routing import Route
from notifier.domain.subscriptions import WebhookEndpoint


class Sender(Protocol):
    async def send(self, channel: str, message: Outgoing) -> None: ...


class Renderer(Protocol):
    def render(self, template: str, language: str, context: dict[str, Any], *, timezone: str = "UTC") -> Message: ...


@dataclass
class Notifier:
    store: DeliveryStore
    directory: TeamDirectory
    channels: Sender
    templates: Renderer
    routes: tuple[Route, ...]
    webhooks: WebhookRegistry
    policy: Policy
    default_channels: tuple[Channel, ...]
    # Longer than any channel's timeout (10 s): a sender that died holding a digest frees it then.
    lease: timedelta
    now: Callable[[], datetime]


__all__ = ["Notifier", "Renderer", "Sender", "WebhookEndpoint", "WebhookRegistry"]
