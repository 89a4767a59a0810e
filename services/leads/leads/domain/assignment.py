"""Who gets a lead: a pure, deterministic engine.

A pool (a department's managers, or a list of managers) is chosen by the source's rules; within
it only managers who are active, not absent, inside their working hours and under their
capacity are candidates. Round robin walks the pool's members in id order from a persisted
cursor (the last one given a lead), so among k equally available managers the counts over any
run of leads differ by at most one, and a restart does not reset it. Least-loaded picks the
lowest open-leads-to-capacity ratio, ties broken by the same round-robin order.
When nobody is on duty the source's policy decides: wait for the next shift start, or give the
lead to the head of department.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from crmhub.schemas.team import Department, Manager
from crmhub.team_directory import TeamDirectory
from crmhub.working_time import add_working_time, is_on_duty, next_duty_start, workplace_of

Strategy = Literal["round_robin", "least_loaded"]
OffDutyPolicy = Literal["wait", "head"]


@dataclass(frozen=True)
class Pool:
    """Managers a lead may go to: a department's active managers, or an explicit list."""

    department_id: str | None = None
    manager_ids: tuple[str, ...] = ()
    strategy: Strategy = "round_robin"

    @property
    def key(self) -> str:
        members = ",".join(sorted(self.manager_ids))
        return f"{self.strategy}:{self.department_id or ''}:{members}"


@dataclass(frozen=True)
class Rule:
    """Leads matching every given attribute go to `pool`."""

    pool: Pool
    source_id: str | None = None
    product: str | None = None
    region: str | None = None
    campaign: str | None = None

    def matches(self, *, source_id: str, product: str | None, region: str | None, campaign: str | None) -> bool:
        wanted = {
            "source_id": self.source_id,
            "product": self.product,
            "region": self.region,
            "campaign": self.campaign,
        }
        given = {"source_id": source_id, "product": product, "region": region, "campaign": campaign}
        return all(
            value is None or (given[name] or "").casefold() == value.casefold() for name, value in wanted.items()
        )


def choose_pool(
    rules: Sequence[Rule],
    default: Pool,
    *,
    source_id: str,
    product: str | None,
    region: str | None,
    campaign: str | None,
) -> Pool:
    for rule in rules:
        if rule.matches(source_id=source_id, product=product, region=region, campaign=campaign):
            return rule.pool
    return default


@dataclass(frozen=True)
class Member:
    manager: Manager
    department: Department
    open_leads: int = 0

    @property
    def load(self) -> float:
        return self.open_leads / self.manager.capacity if self.manager.capacity else float("inf")


def members_of(pool: Pool, directory: TeamDirectory, loads: Mapping[str, int]) -> list[Member]:
    if pool.manager_ids:
        managers = [m for m in (directory.manager(i) for i in pool.manager_ids) if m is not None]
    elif pool.department_id:
        managers = directory.managers_of(pool.department_id)
    else:
        managers = []
    members = []
    for manager in sorted(managers, key=lambda m: m.id):
        department = directory.department(manager.department_id)
        if department is not None:
            members.append(Member(manager, department, loads.get(manager.id, 0)))
    return members


def is_available(member: Member, now: datetime) -> bool:
    return (
        is_on_duty(member.manager, workplace_of(member.department), now) and member.open_leads < member.manager.capacity
    )


def _after_cursor(members: Sequence[Member], cursor: str | None) -> list[Member]:
    """Members in round-robin order: those after the cursor's id first, then from the start."""
    if cursor is None:
        return list(members)
    later = [m for m in members if m.manager.id > cursor]
    return later + [m for m in members if m.manager.id <= cursor]


def pick(
    members: Sequence[Member],
    *,
    strategy: Strategy,
    cursor: str | None,
    now: datetime,
    exclude: frozenset[str] = frozenset(),
) -> Member | None:
    ordered = [m for m in _after_cursor(members, cursor) if m.manager.id not in exclude and is_available(m, now)]
    if not ordered:
        return None
    if strategy == "least_loaded":
        lowest = min(m.load for m in ordered)
        ordered = [m for m in ordered if m.load == lowest]
    return ordered[0]


@dataclass(frozen=True)
class Decision:
    """The engine's answer: a manager with a deadline, or when to try again."""

    manager_id: str | None = None
    department_id: str | None = None
    sla_deadline: datetime | None = None
    retry_at: datetime | None = None
    cursor: str | None = None
    reason: str = ""


def decide(
    pool: Pool,
    members: Sequence[Member],
    *,
    cursor: str | None,
    now: datetime,
    sla: timedelta,
    off_duty: OffDutyPolicy,
    directory: TeamDirectory,
    exclude: frozenset[str] = frozenset(),
) -> Decision:
    chosen = pick(members, strategy=pool.strategy, cursor=cursor, now=now, exclude=exclude)
    if chosen is not None:
        deadline = add_working_time(chosen.manager, workplace_of(chosen.department), now, sla)
        return Decision(chosen.manager.id, chosen.department.id, deadline, cursor=chosen.manager.id, reason="available")
    starts = [
        s
        for m in members
        if m.manager.id not in exclude
        and (s := next_duty_start(m.manager, workplace_of(m.department), now)) is not None
    ]
    if off_duty == "head":
        head = _head_of(pool, members, directory)
        if head is not None and head.manager.id not in exclude:
            deadline = add_working_time(head.manager, workplace_of(head.department), now, sla)
            return Decision(
                head.manager.id,
                head.department.id,
                deadline,
                cursor=cursor,
                reason="nobody on duty: the head of department",
            )
    retry = min(starts) if starts else None
    return Decision(
        retry_at=retry, cursor=cursor, reason="nobody on duty" if starts else "nobody can take leads from this pool"
    )


def _head_of(pool: Pool, members: Sequence[Member], directory: TeamDirectory) -> Member | None:
    department_id = pool.department_id or (members[0].department.id if members else None)
    department = directory.department(department_id) if department_id else None
    if department is None or department.head_manager_id is None:
        return None
    head = directory.manager(department.head_manager_id)
    if head is None or not head.active:
        return None
    head_department = directory.department(head.department_id) or department
    return Member(head, head_department)
