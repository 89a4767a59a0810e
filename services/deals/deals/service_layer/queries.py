"""What people read: a deal with its history, activities, open tasks and timers; a page of
deals; a manager's tasks; the pipeline's figures."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from crmhub.access import sees_everything, visible_filters
from crmhub.aggregate import NotFound, timer_key
from crmhub.auth import Principal
from crmhub.timers import Timer
from deals.domain.deal import RULE_TIMER, Deal
from deals.domain.stats import pipeline_figures
from deals.domain.tasks import Task, TaskHolder
from deals.service_layer.access import can_see_task, check_deal
from deals.service_layer.context import Deals

TaskFilter = Literal["open", "done", "cancelled", "overdue"]


async def get_deal(deps: Deals, principal: Principal, deal_id: str) -> Deal:
    deal = await deps.store.deals.get(deal_id)
    if deal is None:
        raise NotFound(f"no deal {deal_id!r}")
    return check_deal(principal, deal)


async def deal_timers(deps: Deals, deal: Deal) -> list[Timer]:
    """The deal's armed rule timers, as stored (what will fire, and when)."""
    timers = deps.store.deals.timers
    if timers is None:
        return []
    found = [await timers.get(timer_key(RULE_TIMER, f"{deal.id}/{key}")) for key in deal.armed]
    return [t for t in found if t is not None]


async def list_deals(
    deps: Deals, principal: Principal, filters: dict[str, Any], *, limit: int, offset: int
) -> tuple[list[Deal], int]:
    return await deps.store.search(visible_filters(principal, filters), limit=limit, offset=offset)


@dataclass(frozen=True)
class TaskRow:
    task: Task
    holder: TaskHolder
    overdue: bool


async def list_tasks(
    deps: Deals,
    principal: Principal,
    *,
    manager_id: str | None,
    status: TaskFilter | None,
    due_before: datetime | None,
    limit: int,
) -> list[TaskRow]:
    now = deps.now()
    if principal.kind == "person" and not sees_everything(principal) and not principal.has("head"):
        manager_id = manager_id or principal.subject
    departments = None if sees_everything(principal) else principal.departments or None
    if status in (None, "open", "overdue"):
        holders = await deps.store.holders_with_open_tasks(manager_id, departments)
    else:
        holders = await deps.store.holders_with_tasks_of(manager_id)
    rows: list[TaskRow] = []
    for holder in holders:
        for task in holder.tasks:
            overdue = task.status == "open" and task.due_at < now
            if manager_id and task.manager_id != manager_id:
                continue
            if status == "overdue" and not overdue:
                continue
            if status in ("open", "done", "cancelled") and task.status != status:
                continue
            if status is None and task.status != "open":
                continue
            if due_before is not None and task.due_at >= due_before:
                continue
            if not can_see_task(principal, task, holder):
                continue
            rows.append(TaskRow(task, holder, overdue))
    rows.sort(key=lambda r: (r.task.due_at, r.task.id))
    return rows[:limit]


async def pipeline_stats(
    deps: Deals, *, pipeline_id: str | None, start: datetime | None, end: datetime | None
) -> list[dict[str, Any]]:
    pipelines = [deps.playbook.pipeline(pipeline_id)] if pipeline_id else list(deps.playbook.process.pipelines)
    rows = await deps.store.stats_rows(pipeline_id=pipeline_id, start=start, end=end)
    return [pipeline_figures(p, rows) for p in pipelines]
