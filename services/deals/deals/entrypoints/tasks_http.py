"""HTTP of tasks, as a manager's phone would use it: see my tasks, set one, close it, move it,
hand it over."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from pydantic import AwareDatetime

from crmhub.access import CallerDep, Policy
from crmhub.auth import Principal
from crmhub.schemas.team import ENTITY_ID_PATTERN
from crmhub.web import require_json_body
from deals.domain.tasks import Task, holder_of
from deals.entrypoints.dependencies import DealsDep, answer
from deals.entrypoints.schemas import (
    CancelTask,
    CompleteTask,
    NewTask,
    ReassignTask,
    RescheduleTask,
    TaskList,
    TaskView,
)
from deals.service_layer import queries
from deals.service_layer import tasks as use_cases
from deals.service_layer.context import Deals
from deals.service_layer.queries import TaskFilter

TaskIdPath = Annotated[str, Path(pattern=r"^(deal|client)-[a-z0-9]{1,40}-t\d{1,9}$")]
Reader = Annotated[Principal, Depends(Policy("admin", "head", "manager", scopes=("deals:read",)))]
Actor = Annotated[Principal, Depends(Policy("admin", "head", "manager", scopes=("deals:write",)))]


def _view(deps: Deals, task: Task, task_id: str) -> TaskView:
    holder = holder_of(task_id)
    return TaskView.of(task, deal_id=holder if holder.startswith("deal-") else None, client=None, now=deps.now())


def tasks_router() -> APIRouter:
    router = APIRouter(tags=["tasks"], dependencies=[Depends(require_json_body)])

    @router.get("/v1/tasks", response_model=TaskList, summary="Tasks, soonest due first (open ones by default)")
    async def list_tasks(
        deps: DealsDep,
        principal: Reader,
        manager_id: Annotated[str | None, Query(pattern=ENTITY_ID_PATTERN)] = None,
        status: TaskFilter | None = None,
        due_before: Annotated[AwareDatetime | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    ) -> TaskList:
        rows = await queries.list_tasks(
            deps, principal, manager_id=manager_id, status=status, due_before=due_before, limit=limit
        )
        now = deps.now()
        items = [
            TaskView.of(
                r.task,
                deal_id=r.holder.id if r.holder.id.startswith("deal-") else None,
                client=getattr(r.holder, "contact", None),
                now=now,
            )
            for r in rows
        ]
        return TaskList(items=items, count=len(items))

    @router.post("/v1/tasks", response_model=TaskView, status_code=201, summary="Set a task on a deal or a client")
    async def create(deps: DealsDep, principal: Actor, caller: CallerDep, body: NewTask) -> TaskView:
        task = await answer(
            use_cases.create_task(
                deps,
                caller,
                title=body.title,
                due_at=body.due_at,
                manager_id=body.manager_id,
                deal_id=body.deal_id,
                client=body.client.contact() if body.client else None,
            )
        )
        return _view(deps, task, task.id)

    @router.post("/v1/tasks/{task_id}/complete", response_model=TaskView, summary="Done, with the result")
    async def complete(
        deps: DealsDep, principal: Actor, caller: CallerDep, task_id: TaskIdPath, body: CompleteTask
    ) -> TaskView:
        return _view(deps, await answer(use_cases.complete(deps, caller, task_id, body.result)), task_id)

    @router.post("/v1/tasks/{task_id}/reschedule", response_model=TaskView, summary="Move the due time")
    async def reschedule(
        deps: DealsDep, principal: Actor, caller: CallerDep, task_id: TaskIdPath, body: RescheduleTask
    ) -> TaskView:
        return _view(deps, await answer(use_cases.reschedule(deps, caller, task_id, body.due_at)), task_id)

    @router.post("/v1/tasks/{task_id}/reassign", response_model=TaskView, summary="Hand the task to another manager")
    async def reassign(
        deps: DealsDep, principal: Actor, caller: CallerDep, task_id: TaskIdPath, body: ReassignTask
    ) -> TaskView:
        return _view(deps, await answer(use_cases.reassign(deps, caller, task_id, body.manager_id)), task_id)

    @router.post("/v1/tasks/{task_id}/cancel", response_model=TaskView, summary="Cancel the task, with the reason")
    async def cancel(
        deps: DealsDep, principal: Actor, caller: CallerDep, task_id: TaskIdPath, body: CancelTask
    ) -> TaskView:
        return _view(deps, await answer(use_cases.cancel(deps, caller, task_id, body.reason)), task_id)

    return router
