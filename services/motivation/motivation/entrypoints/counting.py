"""Kafka subscribers of the motivation service's counters: what managers did, from crm.calls,
crm.leads and crm.deals; and the loop that counts parked events once their manager appears."""

from __future__ import annotations

import asyncio
import logging

from crmhub import topics
from crmhub.events import CloudEvent, EventData
from crmhub.schemas.calls import CallbackMade, CallCompleted
from crmhub.schemas.deals import DealActivityRecorded, DealStageChanged
from crmhub.schemas.leads import LeadTaken
from crmhub.service import HubService
from motivation.service_layer.pay import Pay, count_event, count_events, count_parked

log = logging.getLogger("motivation.counting")


def subscribe(service: HubService, deps: Pay, *, retry_seconds: float) -> None:
    async def on_event(event: CloudEvent, payload: EventData) -> None:
        await count_event(deps, event)

    async def on_batch(events: list[CloudEvent]) -> None:
        await count_events(deps, events)

    for topic, group, types, what in (
        (topics.CALLS, "motivation.calls", (CallCompleted, CallbackMade), "answered and outgoing calls, call-backs"),
        (topics.LEADS, "motivation.leads", (LeadTaken,), "leads taken within the SLA"),
        (
            topics.DEALS,
            "motivation.deals",
            (DealActivityRecorded, DealStageChanged),
            "meetings, proposals, invoices, payments, deals won",
        ),
    ):
        service.consumes(
            topic,
            group=group,
            handlers=dict.fromkeys(types, on_event),
            batch=on_batch,
            description=f"Counted per manager and day, exactly once, a poll's events at a time: {what}.",
        )

    async def retry_parked() -> None:
        while True:
            await asyncio.sleep(retry_seconds)
            try:
                counted = await count_parked(deps)
                if counted:
                    log.info("counted %d parked event(s) whose manager is now known", counted)
            except Exception:
                log.exception("parked events could not be counted this time")

    service.background(retry_parked)
