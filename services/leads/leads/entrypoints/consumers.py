"""Kafka entrypoints of the leads service."""

from __future__ import annotations

from crmhub import topics
from crmhub.service import HubService
from leads.handlers import LeadHandlers


def subscribe(service: HubService, handlers: LeadHandlers) -> None:
    service.consumes(
        topics.CALLS,
        group="leads.calls",
        handler=handlers.receive_call,
        description="Inbound calls (call.completed, call.missed): an unknown number becomes a lead, a known one a touch of its open lead.",
    )
