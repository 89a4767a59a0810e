"""Kafka subscribers of the telephony service: its own call events drive the missed-call loop."""

from __future__ import annotations

from crmhub import topics
from crmhub.events import CloudEvent
from crmhub.schemas.calls import CallAttempted, CallCompleted, CallMissed
from crmhub.schemas.inbound import CallReported
from crmhub.schemas.leads import LeadAssigned, LeadConverted, LeadRejected
from crmhub.service import HubService
from telephony.service_layer import callbacks, inbound
from telephony.service_layer.context import Telephony


def subscribe(service: HubService, deps: Telephony) -> None:
    async def on_missed(event: CloudEvent, payload: CallMissed) -> None:
        await callbacks.on_missed(deps, event, payload)

    async def on_outbound(event: CloudEvent, payload: CallCompleted | CallAttempted) -> None:
        await callbacks.on_outbound(deps, event, payload)

    service.consumes(
        topics.CALLS,
        group="telephony.callbacks",
        handlers={CallMissed: on_missed, CallCompleted: on_outbound, CallAttempted: on_outbound},
        description="Its own call events: call.missed opens a call-back obligation, an outbound call.completed "
        "fulfils it, a call.attempted is counted as a try.",
    )

    async def on_assigned(event: CloudEvent, payload: LeadAssigned) -> None:
        await callbacks.on_lead_assigned(deps, event, payload)

    async def on_closed(event: CloudEvent, payload: LeadConverted | LeadRejected) -> None:
        await callbacks.on_lead_closed(deps, event, payload)

    service.consumes(
        topics.LEADS,
        group="telephony.owners",
        handlers={LeadAssigned: on_assigned, LeadConverted: on_closed, LeadRejected: on_closed},
        description="Whose client a number is: lead.assigned makes the lead's manager own the number and any "
        "call-back still owed to it; lead.converted / lead.rejected let it go.",
    )

    async def on_published(event: CloudEvent, payload: CallReported) -> None:
        await inbound.take_in_published(deps, event, payload)

    service.consumes(
        topics.INBOUND_CALLS,
        group="telephony.inbound",
        handlers={CallReported: on_published},
        description="Call events published by outside systems: taken in like the json provider webhook; "
        "an invalid one goes to crm.inbound.calls.dlq with the reason.",
    )
