"""Durable timers the notifier fires (crmhub.timers): each delivery's send — at once, after the
recipient's quiet hours, at a burst's end (one digest), or after a failed attempt's backoff;
on the channels read in arrival order, not before every earlier event has been handled."""

from __future__ import annotations

from crmhub.service import HubService
from crmhub.timers import Timer
from notifier.domain.delivery import IN_ORDER_SEND_TIMER, SEND_TIMER
from notifier.service_layer.context import Notifier
from notifier.service_layer.dispatch import send


def register(service: HubService, deps: Notifier) -> None:
    async def on_send(timer: Timer) -> None:
        await send(deps, timer)

    service.on_timer(SEND_TIMER, on_send)
    # e-mail, Telegram, webhooks: once every event before the message's own has been handled
    service.on_timer(IN_ORDER_SEND_TIMER, on_send, in_event_order=True)
