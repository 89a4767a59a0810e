"""Events -> deliveries: route the event, resolve recipients from the team directory, render the
message in each recipient's language, and store one delivery per (event, recipient, channel)
with its send timer. That is the consumer's whole effect, so the offset is committed only once
the deliveries are stored."""

from __future__ import annotations

import asyncio
from typing import Any

from crmhub import topics
from crmhub.events import EVENT_TYPES, CloudEvent, EventData, PoisonMessage
from crmhub.schemas import accounts, calls, deals, leads, motivation  # noqa: F401  (registers their event types)
from notifier import metrics
from notifier.domain.delivery import BrokenTemplate, Delivery, Message
from notifier.domain.routing import not_before, recipients_for, route_for
from notifier.service_layer.context import Notifier

PERSONAL = frozenset({"account.password_reset_requested", "account.address_confirmation_requested"})
# What webhooks may subscribe to: the business news (leads, calls, deals, motivation), never a
# one-time link, nor the team's tokens, the audit trail or the notifier's own outcomes (a webhook
# to "*" would otherwise feed on its own deliveries).
WEBHOOK_TOPICS = frozenset({topics.LEADS.name, topics.CALLS.name, topics.DEALS.name, topics.MOTIVATION.name})
WEBHOOK_EVENT_TYPES = frozenset(
    t for t, cls in EVENT_TYPES.items() if cls.topic.name in WEBHOOK_TOPICS and t not in PERSONAL
)


async def on_event(deps: Notifier, event: CloudEvent, payload: EventData) -> None:
    await on_events(deps, [event])


async def on_events(deps: Notifier, events: list[CloudEvent]) -> None:
    """A poll's events, in the order they happened (each one's burst count sees the ones before
    it), their deliveries then stored together: a few bulk writes for the whole poll. Sending
    order does not depend on storing order (the send timers keep event order)."""
    queued: list[Delivery] = []
    for event in sorted(events, key=lambda e: e.time):
        queued += await deliveries_for(deps, event)
    await store_deliveries(deps, queued)


async def store_deliveries(deps: Notifier, deliveries: list[Delivery]) -> None:
    """Store new deliveries with their send timers, side by side (one seen before: nothing)."""

    async def add(delivery: Delivery) -> None:
        if await deps.store.deliveries.add(delivery):
            metrics.NOTIFICATIONS.labels(delivery.channel, "queued").inc()

    await asyncio.gather(*(add(d) for d in deliveries))


async def deliveries_for(deps: Notifier, event: CloudEvent) -> list[Delivery]:
    """The event's deliveries, one per recipient and channel, noted where the burst limit and
    digests look for them (not stored yet)."""
    queued: list[Delivery] = []
    route = route_for(deps.routes, event.type, event.data)
    now = deps.now()
    if route is not None:
        for recipient in recipients_for(
            route, event.data, deps.directory, default_channels=deps.default_channels, actor=event.actor
        ):
            try:
                message = deps.templates.render(
                    route.template, recipient.language, event.data, timezone=recipient.timezone
                )
            except BrokenTemplate as exc:
                metrics.BROKEN_TEMPLATES.labels(route.template, recipient.language).inc()
                raise PoisonMessage(str(exc)) from exc
            wait_until = not_before(recipient, urgent=route.urgent, now=now)
            contacts: dict[str, Any] = {"email": recipient.email, "telegram_chat_id": recipient.telegram_chat_id}
            if isinstance(event.data.get("attachments"), list):  # files by reference (document.sent)
                contacts["attachments"] = event.data["attachments"]
            for channel in recipient.channels:
                queued.append(
                    await _queue(
                        deps,
                        event,
                        recipient.manager_id,
                        channel,
                        message,
                        contacts,
                        urgent=route.urgent,
                        wait_until=wait_until,
                    )
                )
    if event.type not in WEBHOOK_EVENT_TYPES:
        return queued  # one-time links are credentials: only to the person, never to a webhook
    for endpoint in await deps.webhooks.endpoints():
        if endpoint.wants(event.type, event.time):
            message = Message(subject=event.type, text=f"{event.type} {event.subject}")
            contacts = {
                "webhook_id": endpoint.id,
                "payload": {
                    "event_id": event.id,
                    "event_type": event.type,
                    "subject": event.subject,
                    "data": event.data,
                },
            }
            queued.append(
                await _queue(
                    deps, event, f"webhook:{endpoint.id}", "webhook", message, contacts, urgent=True, wait_until=None
                )
            )
    return queued


async def _queue(
    deps: Notifier,
    event: CloudEvent,
    recipient: str,
    channel: str,
    message: Message,
    contacts: dict[str, Any],
    *,
    urgent: bool,
    wait_until: Any,
) -> Delivery:
    now = deps.now()
    limited = deps.policy.burst_limit > 0  # 0: no burst limit, nothing to count
    in_burst = (
        limited
        and not urgent
        and await deps.store.recent_count(recipient, channel, now - deps.policy.burst_window) >= deps.policy.burst_limit
    )
    delivery = Delivery.queue(
        cause_event_id=event.id,
        cause_event_type=event.type,
        event_time=event.time,
        urgent=urgent,
        recipient=recipient,
        channel=channel,
        message=message,
        contacts=contacts,
        now=now,
        not_before=wait_until,
        in_burst=in_burst,
        policy=deps.policy,
    )
    if limited or delivery.digest:
        await deps.store.list_queued(delivery)
    return delivery
