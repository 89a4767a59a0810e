"""Kafka subscribers of the notifier: every event type the routing table routes or an outgoing
webhook subscribes to, one consumer group per topic those types travel on (so routing a new
topic's events is a change of data, not of code)."""

from __future__ import annotations

from crmhub import topics
from crmhub.events import EVENT_TYPES, CloudEvent, EventData
from crmhub.schemas import accounts, calls, deals, leads, motivation  # noqa: F401  (registers the event types this consumer may take)
from crmhub.service import HubService
from notifier.service_layer.context import Notifier
from notifier.service_layer.events import WEBHOOK_EVENT_TYPES, on_event, on_events


def subscribe(service: HubService, deps: Notifier) -> None:
    async def handle(event: CloudEvent, payload: EventData) -> None:
        await on_event(deps, event, payload)

    async def handle_poll(events: list[CloudEvent]) -> None:
        for event in events:  # as the one-by-one path would: an invalid payload fails the batch
            EVENT_TYPES[event.type].model_validate(event.data)
        await on_events(deps, events)

    for topic in topics.ALL:
        taken = [cls for cls in EVENT_TYPES.values() if cls.topic.name == topic.name and _wanted(deps, cls.event_type)]
        if not taken:
            continue
        group = f"notifier.{topic.name.removeprefix('crm.')}"
        service.consumes(
            topic,
            group=group,
            handlers=dict.fromkeys(taken, handle),
            description=f"Events of {topic.name} that a person must hear about (see /v1/routing).",
            batch=handle_poll,
            in_time_order=True,
        )


def _wanted(deps: Notifier, event_type: str) -> bool:
    """Routed events, and every event a webhook may subscribe to: subscriptions are made over the
    API at any time, so their events are read from the start (and sent only when subscribed)."""
    return any(r.event_type == event_type for r in deps.routes) or event_type in WEBHOOK_EVENT_TYPES
