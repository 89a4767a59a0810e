"""Kafka subscribers of the leads service: translate and hand on."""

from __future__ import annotations

from crmhub import topics
from crmhub.events import CloudEvent
from crmhub.schemas.calls import CallCompleted, CallMissed
from crmhub.service import HubService
from leads.service_layer.calls import receive_call
from leads.service_layer.context import Leads


def subscribe(service: HubService, deps: Leads) -> None:
    async def on_call(event: CloudEvent, payload: CallCompleted | CallMissed) -> None:
        await receive_call(deps, event, payload)

    service.consumes(
        topics.CALLS,
        group="leads.calls",
        handlers={CallCompleted: on_call, CallMissed: on_call},
        description="Inbound calls: an unknown number becomes a lead, a known one a touch of its open lead.",
    )
