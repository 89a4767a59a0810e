"""Who may see and act on which deal or task: an administrator or an integration (by scope) all;
a head those of their own department and of those they head; anyone the deals and tasks assigned
to them (and deals where they have a task). Someone else's deal is "not found" (its existence is
not revealed)."""

from __future__ import annotations

from crmhub.access import sees_everything
from crmhub.aggregate import NotFound
from crmhub.auth import Principal
from deals.domain.deal import Deal
from deals.domain.tasks import Task, TaskHolder


def can_see_deal(principal: Principal, deal: Deal) -> bool:
    if sees_everything(principal):
        return True
    if principal.answers_for(deal.department_id):
        return True
    return principal.kind == "person" and principal.subject in (deal.manager_id, *deal.task_managers)


def check_deal(principal: Principal, deal: Deal) -> Deal:
    if not can_see_deal(principal, deal):
        raise NotFound(f"no deal {deal.id!r}")
    return deal


def can_see_task(principal: Principal, task: Task, holder: TaskHolder) -> bool:
    if sees_everything(principal):
        return True
    if principal.answers_for(task.department_id):
        return True
    if isinstance(holder, Deal) and can_see_deal(principal, holder):
        return True
    return principal.kind == "person" and task.manager_id == principal.subject
