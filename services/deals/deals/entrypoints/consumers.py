"""Kafka subscribers of the deals service: converted leads become deals, clients' calls are
linked to their deals, integrations' reports become activities."""

from __future__ import annotations

from crmhub import topics
from crmhub.events import CloudEvent
from crmhub.schemas.calls import CallCompleted, CallMissed
from crmhub.schemas.deals import DealActivityReported
from crmhub.schemas.leads import LeadConverted
from crmhub.service import HubService
from deals.service_layer import deals
from deals.service_layer.context import Deals


def subscribe(service: HubService, deps: Deals) -> None:
    async def on_converted(event: CloudEvent, payload: LeadConverted) -> None:
        await deals.open_from_lead(deps, event, payload)

    async def on_call(event: CloudEvent, payload: CallCompleted | CallMissed) -> None:
        await deals.link_call(deps, event, payload)

    async def on_report(event: CloudEvent, payload: DealActivityReported) -> None:
        await deals.take_report(deps, event, payload)

    service.consumes(
        topics.LEADS,
        group="deals.leads",
        handlers={LeadConverted: on_converted},
        description="A converted lead becomes one deal in the default pipeline (however often the event arrives).",
    )
    service.consumes(
        topics.CALLS,
        group="deals.calls",
        handlers={CallCompleted: on_call, CallMissed: on_call},
        description="A call with a client whose number belongs to an open deal is recorded on it (call_linked).",
    )
    service.consumes(
        topics.DEALS,
        group="deals.reports",
        handlers={DealActivityReported: on_report},
        description=(
            "Activities reported by integrations (accounting, 1C, a site). A report naming an unknown deal is "
            "retried, then dead-lettered to crm.deals.dlq for replay."
        ),
    )
