"""Durable timers the telephony service fires (crmhub.timers): a call-back's deadline, and the
settling of a final call whose start never came, and sending an unanswered call on to the
next manager after three rings (Mango)."""

from __future__ import annotations

from crmhub.service import HubService
from crmhub.timers import Timer
from telephony.domain.call import SETTLE_TIMER
from telephony.domain.callbacks import DEADLINE_TIMER
from telephony.domain.routing import NEXT_TIMER
from telephony.service_layer import callbacks, calls, routing
from telephony.service_layer.context import Telephony


def register(service: HubService, deps: Telephony) -> None:
    async def on_deadline(timer: Timer) -> None:
        await callbacks.mark_overdue(deps, timer)

    async def on_settle(timer: Timer) -> None:
        await calls.settle(deps, timer)

    async def on_route_next(timer: Timer) -> None:
        await routing.route_next(deps, timer)

    service.on_timer(DEADLINE_TIMER, on_deadline)
    service.on_timer(NEXT_TIMER, on_route_next)
    service.on_timer(SETTLE_TIMER, on_settle)
