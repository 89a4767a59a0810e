"""Managing outgoing webhook subscriptions: create (the secret shown once), change (url, event
types, pause and resume), rotate the secret, delete; and each one's delivery log."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from crmhub.aggregate import NotFound
from crmhub.aggregate_store import AggregateStore
from crmhub.audit import Caller
from notifier.domain.delivery import Delivery
from notifier.domain.subscriptions import Status, WebhookSubscription, derived_secret
from notifier.service_layer import queries
from notifier.service_layer.context import Notifier
from notifier.service_layer.events import WEBHOOK_EVENT_TYPES

__all__ = ["Issued", "SigningKeyMissing", "Status", "SubscriptionRefused"]


class SubscriptionRefused(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class SigningKeyMissing(Exception):
    """NOTIFIER_WEBHOOK_SIGNING_KEY is not set: no secret can be derived."""


@dataclass(frozen=True)
class Issued:
    subscription: WebhookSubscription
    secret: str


def _signing_key(deps: Notifier) -> str:
    if not deps.webhooks.signing_key:
        raise SigningKeyMissing("set NOTIFIER_WEBHOOK_SIGNING_KEY to manage webhook subscriptions")
    return deps.webhooks.signing_key


def checked_event_types(event_types: list[str]) -> list[str]:
    unknown = sorted(t for t in event_types if t != "*" and t not in WEBHOOK_EVENT_TYPES)
    if unknown:
        raise SubscriptionRefused(
            "event_types",
            f"not events a webhook can subscribe to: {', '.join(unknown)} (see GET /v1/webhooks/event-types)",
        )
    return sorted(set(event_types))


async def create(
    deps: Notifier, caller: Caller, *, url: str, event_types: list[str], description: str | None
) -> Issued:
    key = _signing_key(deps)
    now = deps.now()
    subscription = WebhookSubscription(
        id=f"wh_{secrets.token_hex(8)}",
        url=url,
        event_types=checked_event_types(event_types),
        description=description,
        created_at=now,
        updated_at=now,
    )
    subscription.created(caller, now)
    await _store(deps).add(subscription)
    deps.webhooks.changed()
    return Issued(subscription, derived_secret(key, subscription.id, subscription.secret_version))


def _store(deps: Notifier) -> AggregateStore[WebhookSubscription]:
    if deps.webhooks.store is None:
        raise SigningKeyMissing("this notifier keeps no webhook subscriptions")
    return deps.webhooks.store


async def get(deps: Notifier, subscription_id: str) -> WebhookSubscription:
    found = await _store(deps).get(subscription_id)
    if found is None or found.status == "deleted":
        raise NotFound(subscription_id)
    return found


async def change(
    deps: Notifier,
    caller: Caller,
    subscription_id: str,
    *,
    url: str | None,
    event_types: list[str] | None,
    status: Status | None,
    description: str | None,
) -> WebhookSubscription:
    await get(deps, subscription_id)
    types = checked_event_types(event_types) if event_types is not None else None
    now = deps.now()
    changed = await _store(deps).change(
        subscription_id,
        lambda s: s.change(caller, now, url=url, event_types=types, status=status, description=description),
    )
    deps.webhooks.changed()
    return changed


async def rotate(deps: Notifier, caller: Caller, subscription_id: str) -> Issued:
    await get(deps, subscription_id)
    key = _signing_key(deps)
    now = deps.now()
    rotated = await _store(deps).change(subscription_id, lambda s: s.rotate(caller, now))
    deps.webhooks.changed()
    return Issued(rotated, derived_secret(key, rotated.id, rotated.secret_version))


async def delete(deps: Notifier, caller: Caller, subscription_id: str) -> None:
    await get(deps, subscription_id)
    now = deps.now()
    await _store(deps).change(subscription_id, lambda s: s.delete(caller, now))
    deps.webhooks.changed()


async def deliveries(
    deps: Notifier, subscription_id: str, *, status: str | None, limit: int, offset: int
) -> tuple[list[Delivery], int]:
    await get(deps, subscription_id)
    filters: dict[str, Any] = {"recipient": f"webhook:{subscription_id}", "status": status}
    return await queries.notifications(deps, filters, limit=limit, offset=offset)
