"""Durable timers the leads service fires (crmhub.timers): the next try to assign a lead that
found nobody on duty, and the first-response SLA deadline."""

from __future__ import annotations

from crmhub.service import HubService
from crmhub.timers import Timer
from leads.domain.lead import ASSIGN_TIMER, SLA_TIMER
from leads.service_layer.assignment import assign_waiting, escalate
from leads.service_layer.context import Leads


def register(service: HubService, deps: Leads) -> None:
    async def on_assign(timer: Timer) -> None:
        await assign_waiting(deps, timer)

    async def on_sla(timer: Timer) -> None:
        await escalate(deps, timer)

    service.on_timer(ASSIGN_TIMER, on_assign)
    service.on_timer(SLA_TIMER, on_sla)
