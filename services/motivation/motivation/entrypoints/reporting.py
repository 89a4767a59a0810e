"""Kafka subscribers of the reporting model: every event a report measures, from crm.leads,
crm.calls and crm.deals, each topic in a consumer group of its own."""

from __future__ import annotations

from crmhub import topics
from crmhub.events import CloudEvent, EventData
from crmhub.schemas.calls import CallbackMade, CallCompleted, CallMissed
from crmhub.schemas.deals import DealActivityRecorded, DealCreated, DealStageChanged
from crmhub.schemas.leads import LeadAssigned, LeadCreated, LeadTaken
from crmhub.service import HubService
from motivation.service_layer.reports import Reports, take_in, take_in_many


def subscribe(service: HubService, deps: Reports) -> None:
    async def on_event(event: CloudEvent, payload: EventData) -> None:
        await take_in(deps, event)

    async def on_batch(events: list[CloudEvent]) -> None:
        await take_in_many(deps, events)

    for topic, types, what in (
        (topics.LEADS, (LeadCreated, LeadAssigned, LeadTaken), "leads by source and campaign, assigned, taken in SLA"),
        (
            topics.CALLS,
            (CallCompleted, CallMissed, CallbackMade),
            "calls by line, answered by the third ring, call-backs",
        ),
        (
            topics.DEALS,
            (DealCreated, DealActivityRecorded, DealStageChanged),
            "deals, meetings, proposals, invoices, payments, won and lost",
        ),
    ):
        service.consumes(
            topic,
            group=f"motivation.reports.{topic.name.split('.')[-1]}",
            handlers=dict.fromkeys(types, on_event),
            batch=on_batch,
            description=f"Added to the reporting model once per event, a poll's events at a time: {what}.",
        )
