"""Kafka subscribers of the notifier: every routed event type (and those outgoing webhooks
subscribe to) of crm.leads, crm.calls and crm.motivation."""

from __future__ import annotations

from crmhub import topics
from crmhub.events import EVENT_TYPES, CloudEvent, EventData
from crmhub.schemas import accounts, calls, leads  # noqa: F401  (registers the event types this consumer may take)
from crmhub.service import HubService
from notifier.service_layer.context import Notifier
from notifier.service_layer.events import on_event


def subscribe(service: HubService, deps: Notifier) -> None:
    async def handle(event: CloudEvent, payload: EventData) -> None:
        await on_event(deps, event, payload)

    for topic, group in (
        (topics.LEADS, "notifier.leads"),
        (topics.CALLS, "notifier.calls"),
        (topics.MOTIVATION, "notifier.motivation"),
    ):
        taken = [cls for cls in EVENT_TYPES.values() if cls.topic.name == topic.name and _wanted(deps, cls.event_type)]
        service.consumes(
            topic,
            group=group,
            handlers=dict.fromkeys(taken, handle),
            description=f"Events of {topic.name} that a person must hear about (see /v1/routing).",
        )


def _wanted(deps: Notifier, event_type: str) -> bool:
    return event_type in deps.routes or any(event_type in w.event_types or "*" in w.event_types for w in deps.webhooks)
