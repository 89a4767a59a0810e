"""The use cases of tasks: set one by hand (on a deal or a client), complete, reschedule,
reassign or cancel it, and the two timers that rules and tasks run on."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime
from typing import Any

from crmhub.access import acting_manager
from crmhub.aggregate import NotFound
from crmhub.audit import Caller, audit_record
from crmhub.schemas.leads import LeadContact
from crmhub.timers import NotYet, Timer
from deals.adapters.deal_store import CLIENT_PREFIX
from deals.domain.deal import Deal, DealRefused
from deals.domain.tasks import ClientTasks, NoSuchTask, Task, TaskHolder, holder_of
from deals.service_layer.access import can_see_task, check_deal
from deals.service_layer.context import Deals


def client_key(contact: LeadContact) -> str:
    """The id of a client's task list: from their phone, else their e-mail."""
    basis = contact.phone or contact.email
    if not basis:
        raise DealRefused("client", "a task on a client needs the client's phone or e-mail")
    return f"{CLIENT_PREFIX}{hashlib.sha256(basis.encode()).hexdigest()[:20]}"


def _task_state(task: Task) -> dict[str, Any]:
    return {"status": task.status, "manager_id": task.manager_id, "due_at": task.due_at.isoformat()}


def _on_task(
    deps: Deals, caller: Caller, task_id: str, action: str, change: Callable[[TaskHolder, Task], None]
) -> Callable[[TaskHolder], None]:
    def apply(holder: TaskHolder) -> None:
        task = holder.task(task_id)
        if not can_see_task(caller.principal, task, holder):
            raise NoSuchTask(task_id)
        before = _task_state(task)
        holder.acting(caller.actor)
        change(holder, task)
        if holder.events:
            now = deps.now()
            holder.record_event(
                audit_record(
                    caller,
                    action=action,
                    entity=f"task:{task_id}",
                    at=now,
                    before=before,
                    after=_task_state(holder.task(task_id)),
                    department_id=task.department_id,
                ),
                at=now,
            )

    return apply


async def _change_task(
    deps: Deals, caller: Caller, task_id: str, action: str, change: Callable[[TaskHolder, Task], None]
) -> Task:
    holder_id = holder_of(task_id)
    try:
        holder = await deps.store.holders(holder_id).change(holder_id, _on_task(deps, caller, task_id, action, change))
    except NotFound:
        raise NoSuchTask(task_id) from None
    task: Task = holder.task(task_id)
    return task


async def create_task(
    deps: Deals,
    caller: Caller,
    *,
    title: str,
    due_at: datetime,
    manager_id: str | None,
    deal_id: str | None,
    client: LeadContact | None,
) -> Task:
    assignee = acting_manager(caller.principal, manager_id)
    if deps.directory.manager(assignee) is None:
        raise DealRefused("manager_id", f"no manager {assignee!r} in the team directory")
    if (deal_id is None) == (client is None):
        raise DealRefused("deal_id", "a task is on a deal (deal_id) or on a client (client), one of the two")
    created: list[Task] = []

    def add(holder: TaskHolder) -> None:
        if isinstance(holder, Deal):
            check_deal(caller.principal, holder)
        holder.acting(caller.actor)
        now = deps.now()
        task = holder.add_task(
            title=title, manager_id=assignee, due_at=due_at, now=now, team=deps.team, created_by=caller.actor
        )
        created[:] = [task]
        holder.record_event(
            audit_record(
                caller,
                action="task.created",
                entity=f"task:{task.id}",
                at=now,
                after=_task_state(task),
                department_id=task.department_id,
            ),
            at=now,
        )

    if deal_id is not None:
        await deps.store.deals.change(deal_id, add)
    else:
        assert client is not None
        key = client_key(client)
        await deps.store.clients.change(key, add, create=lambda: ClientTasks(id=key, contact=client))
    return created[0]


async def complete(deps: Deals, caller: Caller, task_id: str, result: str) -> Task:
    def change(holder: TaskHolder, task: Task) -> None:
        holder.complete_task(task.id, result=result, by=caller.actor, now=deps.now())

    return await _change_task(deps, caller, task_id, "task.completed", change)


async def cancel(deps: Deals, caller: Caller, task_id: str, reason: str) -> Task:
    def change(holder: TaskHolder, task: Task) -> None:
        holder.cancel_task(task.id, reason=reason, by=caller.actor, now=deps.now())

    return await _change_task(deps, caller, task_id, "task.cancelled", change)


async def reschedule(deps: Deals, caller: Caller, task_id: str, due_at: datetime) -> Task:
    def change(holder: TaskHolder, task: Task) -> None:
        holder.reschedule_task(task.id, due_at=due_at, now=deps.now())

    return await _change_task(deps, caller, task_id, "task.rescheduled", change)


async def reassign(deps: Deals, caller: Caller, task_id: str, manager_id: str) -> Task:
    principal = caller.principal
    if principal.kind == "person" and not (principal.has("admin") or principal.has("head")):
        raise PermissionError("only a head or an administrator hands a task to another manager")
    if deps.directory.manager(manager_id) is None:
        raise DealRefused("manager_id", f"no manager {manager_id!r} in the team directory")

    def change(holder: TaskHolder, task: Task) -> None:
        holder.reassign_task(task.id, manager_id=manager_id, now=deps.now(), team=deps.team)

    return await _change_task(deps, caller, task_id, "task.reassigned", change)


# --- timers ---------------------------------------------------------------------------------------


async def task_timer(deps: Deals, timer: Timer) -> None:
    """A task's due time (the reminder) or its grace period's end (overdue)."""
    task_id = timer.subject
    holder_id = str(timer.payload.get("holder") or holder_of(task_id))
    try:
        await deps.store.holders(holder_id).change(
            holder_id, lambda holder: holder.task_timer_fired(task_id, now=deps.now(), team=deps.team)
        )
    except NotFound:
        raise NotYet(holder_id) from None


async def rule_timer(deps: Deals, timer: Timer) -> None:
    """A delayed rule's time came ("still in decision after 7 days?")."""
    deal_id = str(timer.payload["deal_id"])
    occurrence = str(timer.payload["occurrence"])

    def fire(deal: Deal) -> None:
        deal.rule_timer_fired(occurrence, playbook=deps.playbook, team=deps.team, now=deps.now())

    try:
        await deps.store.deals.change(deal_id, fire)
    except NotFound:
        raise NotYet(deal_id) from None
