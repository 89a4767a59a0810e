"""Kafka entrypoints of the telephony service."""

from __future__ import annotations

from crmhub import topics
from crmhub.service import HubService
from telephony.handlers import TelephonyHandlers


def subscribe(service: HubService, handlers: TelephonyHandlers) -> None:
    service.consumes(
        topics.CALLS,
        group="telephony.callbacks",
        handler=handlers.on_call_event,
        description="Its own call events: call.missed opens a call-back obligation, an outbound call.completed fulfils it.",
    )
