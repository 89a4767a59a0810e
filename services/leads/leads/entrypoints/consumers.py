"""Kafka subscribers of the leads service: translate and hand on."""

from __future__ import annotations

from crmhub import topics
from crmhub.events import CloudEvent
from crmhub.schemas.calls import CallCompleted, CallMissed
from crmhub.schemas.inbound import LeadSubmitted
from crmhub.service import HubService
from leads.service_layer.calls import receive_call
from leads.service_layer.context import Leads
from leads.service_layer.inbound import take_in_published


def subscribe(service: HubService, deps: Leads) -> None:
    async def on_call(event: CloudEvent, payload: CallCompleted | CallMissed) -> None:
        await receive_call(deps, event, payload)

    service.consumes(
        topics.CALLS,
        group="leads.calls",
        handlers={CallCompleted: on_call, CallMissed: on_call},
        description="Inbound calls: an unknown number becomes a lead, a known one a touch of its open lead.",
    )

    async def on_published(event: CloudEvent, payload: LeadSubmitted) -> None:
        await take_in_published(deps, event, payload)

    service.consumes(
        topics.INBOUND_LEADS,
        group="leads.inbound",
        handlers={LeadSubmitted: on_published},
        description="Leads published by outside systems: taken in like POST /v1/leads (the same validation, "
        "duplicates by ce_id and submission, assignment); an invalid one goes to crm.inbound.leads.dlq with the reason.",
    )
