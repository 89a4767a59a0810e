"""Durable timers the deals service fires (crmhub.timers): a task's reminder and overdue alarm,
and a delayed rule's moment."""

from __future__ import annotations

from crmhub.service import HubService
from crmhub.timers import Timer
from deals.domain.deal import RULE_TIMER
from deals.domain.tasks import TASK_TIMER
from deals.service_layer import tasks
from deals.service_layer.context import Deals


def register(service: HubService, deps: Deals) -> None:
    async def on_task(timer: Timer) -> None:
        await tasks.task_timer(deps, timer)

    async def on_rule(timer: Timer) -> None:
        await tasks.rule_timer(deps, timer)

    service.on_timer(TASK_TIMER, on_task)
    service.on_timer(RULE_TIMER, on_rule)
