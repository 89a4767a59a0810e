"""Tasks and what holds them. A task lives inside the aggregate it belongs to — a deal, or a
client's task list for tasks without a deal — so a rule that sets or cancels a task changes the
deal and the task in one document update, with their events in one outbox.

A task's life: open -> done (with a result) or cancelled (with a reason); while open it can be
rescheduled and reassigned. One durable timer per task reminds at the due time (`task.due`)
and, if it is still open a grace period later, raises `task.overdue` to the manager and the head.
No I/O.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import ClassVar, Protocol

from pydantic import BaseModel, ConfigDict

from crmhub.aggregate import Aggregate
from crmhub.schemas.deals import (
    TaskCancelled,
    TaskCompleted,
    TaskCreated,
    TaskDue,
    TaskOverdue,
    TaskReassigned,
    TaskRescheduled,
    TaskStatus,
    TaskSummary,
)
from crmhub.schemas.leads import LeadContact
from deals.domain.rules import Due

SOURCE = "/crm/deals"
TASK_TIMER = "deals.task"
TASKS_KEPT = 500


class TaskConflict(Exception):
    """The task cannot do that in its current state (HTTP 409)."""


class NoSuchTask(Exception):
    """No task with that id in its holder (HTTP 404)."""


class Team(Protocol):
    """What the domain asks of the team directory and the clock settings."""

    def department_of(self, manager_id: str | None) -> str | None: ...
    def head_of(self, manager_id: str | None) -> str | None: ...
    def production(self) -> list[str]: ...
    def due(self, manager_id: str | None, start: datetime, due: Due, details: dict[str, object]) -> datetime: ...
    @property
    def overdue_grace(self) -> timedelta: ...
    @property
    def language(self) -> str:
        """The language of the texts rules write (task titles, alerts): ru or en."""
        ...


class Task(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str
    title: str
    manager_id: str
    department_id: str | None = None
    due_at: datetime
    status: TaskStatus = "open"
    created_at: datetime
    created_by: str | None = None
    rule_id: str | None = None
    occurrence: str | None = None
    reminded: bool = False
    overdue: bool = False
    result: str | None = None
    closed_at: datetime | None = None
    closed_by: str | None = None
    cancel_reason: str | None = None


class TaskHolder(Aggregate):
    """An aggregate that holds tasks: a deal, or a client's task list."""

    event_source: ClassVar[str] = SOURCE

    tasks: list[Task] = []
    task_seq: int = 0
    # The managers who have open tasks here: what `GET /v1/tasks?manager_id=` looks up.
    task_managers: list[str] = []

    # --- what a holder tells its tasks' events ---------------------------------------------------

    def _task_context(self) -> tuple[str | None, str | None, LeadContact | None]:
        """(deal id, deal title, client) of this holder's tasks."""
        raise NotImplementedError

    def task_summary(self, task: Task) -> TaskSummary:
        deal_id, deal_title, client = self._task_context()
        return TaskSummary(
            task_id=task.id,
            title=task.title,
            manager_id=task.manager_id,
            department_id=task.department_id,
            due_at=task.due_at,
            status=task.status,
            deal_id=deal_id,
            deal_title=deal_title,
            client=client,
            rule_id=task.rule_id,
            created_by=task.created_by,
        )

    # --- reading ---------------------------------------------------------------------------------------

    def task(self, task_id: str) -> Task:
        for task in self.tasks:
            if task.id == task_id:
                return task
        raise NoSuchTask(task_id)

    def open_tasks(self) -> list[Task]:
        return [t for t in self.tasks if t.status == "open"]

    def _reindex(self) -> None:
        self.task_managers = sorted({t.manager_id for t in self.tasks if t.status == "open"})
        if len(self.tasks) > TASKS_KEPT:  # closed tasks beyond the cap are forgotten, oldest first
            closed = [t for t in self.tasks if t.status != "open"]
            drop = {t.id for t in closed[: len(self.tasks) - TASKS_KEPT]}
            self.tasks = [t for t in self.tasks if t.id not in drop]

    # --- changing -----------------------------------------------------------------------------------

    def add_task(
        self,
        *,
        title: str,
        manager_id: str,
        due_at: datetime,
        now: datetime,
        team: Team,
        created_by: str | None = None,
        rule_id: str | None = None,
        occurrence: str | None = None,
    ) -> Task:
        self.task_seq += 1
        task = Task(
            id=f"{self.id}-t{self.task_seq}",
            title=title,
            manager_id=manager_id,
            department_id=team.department_of(manager_id),
            due_at=due_at,
            created_at=now,
            created_by=created_by,
            rule_id=rule_id,
            occurrence=occurrence,
        )
        self.tasks.append(task)
        self._reindex()
        self.record_event(TaskCreated(task=self.task_summary(task), manager_id=manager_id, at=now), at=now)
        self.schedule(TASK_TIMER, due_at, {"holder": self.id}, subject=task.id)
        return task

    def _open(self, task_id: str, doing: str) -> Task:
        task = self.task(task_id)
        if task.status != "open":
            raise TaskConflict(f"task {task_id} is {task.status}; it cannot be {doing}")
        return task

    def complete_task(self, task_id: str, *, result: str, by: str | None, now: datetime) -> Task:
        task = self._open(task_id, "completed")
        task.status = "done"
        task.result = result
        task.closed_at = now
        task.closed_by = by
        self._reindex()
        self.cancel_timer(TASK_TIMER, subject=task.id)
        self.record_event(
            TaskCompleted(
                task=self.task_summary(task),
                manager_id=task.manager_id,
                result=result,
                on_time=now <= task.due_at,
                at=now,
            ),
            at=now,
        )
        return task

    def cancel_task(self, task_id: str, *, reason: str, by: str | None, now: datetime) -> Task:
        task = self._open(task_id, "cancelled")
        task.status = "cancelled"
        task.cancel_reason = reason
        task.closed_at = now
        task.closed_by = by
        self._reindex()
        self.cancel_timer(TASK_TIMER, subject=task.id)
        self.record_event(
            TaskCancelled(task=self.task_summary(task), manager_id=task.manager_id, reason=reason, at=now), at=now
        )
        return task

    def reschedule_task(self, task_id: str, *, due_at: datetime, now: datetime) -> Task:
        task = self._open(task_id, "rescheduled")
        previous = task.due_at
        task.due_at = due_at
        task.reminded = False
        task.overdue = False
        self.schedule(TASK_TIMER, due_at, {"holder": self.id}, subject=task.id)
        self.record_event(
            TaskRescheduled(task=self.task_summary(task), manager_id=task.manager_id, previous_due_at=previous, at=now),
            at=now,
        )
        return task

    def reassign_task(self, task_id: str, *, manager_id: str, now: datetime, team: Team) -> Task:
        task = self._open(task_id, "reassigned")
        previous = task.manager_id
        if previous == manager_id:
            return task
        task.manager_id = manager_id
        task.department_id = team.department_of(manager_id)
        self._reindex()
        self.record_event(
            TaskReassigned(task=self.task_summary(task), manager_id=manager_id, previous_manager_id=previous, at=now),
            at=now,
        )
        return task

    def task_timer_fired(self, task_id: str, *, now: datetime, team: Team) -> None:
        """The task's timer: the reminder at the due time, then the overdue alarm a grace period later.
        A task closed, or moved to a later time, in the meantime gets nothing."""
        try:
            task = self.task(task_id)
        except NoSuchTask:
            return
        if task.status != "open" or now < task.due_at:
            return
        if not task.reminded:
            task.reminded = True
            self.record_event(TaskDue(task=self.task_summary(task), manager_id=task.manager_id, at=now), at=now)
            self.schedule(TASK_TIMER, task.due_at + team.overdue_grace, {"holder": self.id}, subject=task.id)
            return
        if not task.overdue and now >= task.due_at + team.overdue_grace:
            task.overdue = True
            self.record_event(
                TaskOverdue(
                    task=self.task_summary(task),
                    manager_id=task.manager_id,
                    head_manager_id=team.head_of(task.manager_id),
                    at=now,
                ),
                at=now,
            )


class ClientTasks(TaskHolder):
    """The tasks about one client that belong to no deal (id `client-<key>`)."""

    contact: LeadContact

    def _task_context(self) -> tuple[str | None, str | None, LeadContact | None]:
        return None, None, self.contact


def holder_of(task_id: str) -> str:
    """The id of the aggregate a task belongs to: task ids are `<holder id>-t<n>`."""
    holder, sep, number = task_id.rpartition("-t")
    if not sep or not holder or not number.isdigit():
        raise NoSuchTask(task_id)
    return holder
