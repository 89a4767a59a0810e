"""The team directory's use cases: add, change, read and list departments and managers.

A change is decided by the pure rules (`motivation.domain.team`), references are checked
(a manager's department, a department's head), and the entry is written with its event under
a version guard; a concurrent change is retried from a fresh read.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Generic, TypeVar

from crmhub.aggregate import NotFound
from crmhub.aggregate_store import retry_on_conflict
from crmhub.audit import Caller, audit_record
from crmhub.events import new_event
from crmhub.schemas.team import Department, Manager
from motivation.adapters.team_store import DirectoryStore, VersionConflict
from motivation.domain.team import Revision, create, revise

Entry = TypeVar("Entry", Department, Manager)


class InvalidReference(ValueError):
    """The entry names a department or manager that does not exist (HTTP 422)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


async def _no_sessions(manager_id: str) -> int:
    return 0


@dataclass
class Team:
    departments: DirectoryStore[Department]
    managers: DirectoryStore[Manager]
    source: str
    now: Callable[[], datetime]
    # Revokes a person's sign-in sessions (set by the auth wiring): a deactivated manager is out at once.
    revoke_sessions: Callable[[str], Awaitable[int]] = _no_sessions


@dataclass(frozen=True)
class Kind(Generic[Entry]):
    """One kind of directory entry: its name, its store, and how its references are checked."""

    singular: str
    store: Callable[[Team], DirectoryStore[Entry]]
    check_references: Callable[[Team, Entry], Any]


async def _department_refs(team: Team, department: Department) -> None:
    if department.head_manager_id is not None and await team.managers.get(department.head_manager_id) is None:
        raise InvalidReference("head_manager_id", f"no manager with id {department.head_manager_id!r}")


async def _manager_refs(team: Team, manager: Manager) -> None:
    if await team.departments.get(manager.department_id) is None:
        raise InvalidReference("department_id", f"no department with id {manager.department_id!r}")


DEPARTMENTS: Kind[Department] = Kind("department", lambda team: team.departments, _department_refs)
MANAGERS: Kind[Manager] = Kind("manager", lambda team: team.managers, _manager_refs)


def _department_of(entry: Department | Manager) -> str:
    return entry.id if isinstance(entry, Department) else entry.department_id


def _audited(
    team: Team, kind: Kind[Entry], revision: Revision[Entry], before: Entry | None, caller: Caller | None
) -> Revision[Entry]:
    """The revision with its event naming the caller, and the audit record stored with it."""
    if caller is None:
        return revision
    entity = f"{kind.singular}:{revision.state.id}"
    record = audit_record(
        caller,
        action=f"team.{kind.singular}.{revision.event.data['change']}",
        entity=entity,
        at=revision.event.time,
        before=before.model_dump(mode="json") if before is not None else None,
        after=revision.state.model_dump(mode="json"),
        department_id=_department_of(revision.state),
    )
    audit = new_event(record, source=team.source, subject=entity, time=revision.event.time, actor=caller.actor)
    return replace(revision, event=revision.event.model_copy(update={"actor": caller.actor}), also=(audit,))


async def add(team: Team, kind: Kind[Entry], state: Entry, caller: Caller | None = None) -> tuple[Entry, int]:
    revision = _audited(team, kind, create(state, source=team.source, now=team.now()), None, caller)
    await kind.check_references(team, revision.state)
    await kind.store(team).add(revision)
    return revision.state, revision.version


async def get(team: Team, kind: Kind[Entry], entry_id: str) -> tuple[Entry, int]:
    found = await kind.store(team).get(entry_id)
    if found is None:
        raise NotFound(f"no {kind.singular} with id {entry_id!r}")
    return found


async def change(
    team: Team, kind: Kind[Entry], entry_id: str, changes: dict[str, Any], caller: Caller | None = None
) -> tuple[Entry, int]:
    """Apply field changes; a change that changes nothing writes nothing (repeating it is harmless)."""
    result: tuple[Entry, int] | None = None

    async def attempt() -> bool:
        nonlocal result
        current, version = await get(team, kind, entry_id)
        revision = revise(current, version, changes, source=team.source, now=team.now())
        if revision is None:
            result = (current, version)
            return True
        revision = _audited(team, kind, revision, current, caller)
        await kind.check_references(team, revision.state)
        try:
            await kind.store(team).save(revision, expected_version=version)
        except VersionConflict:
            return False
        result = (revision.state, revision.version)
        return True

    await retry_on_conflict(attempt, what=f"{kind.singular} {entry_id!r}", retries=5)
    assert result is not None
    if isinstance(result[0], Manager) and not result[0].active:
        await team.revoke_sessions(entry_id)
    return result
