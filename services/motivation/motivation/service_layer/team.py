"""The team directory's use cases: add, change, read and list departments and managers.

A change is decided by the pure rules (`motivation.domain.team`), references are checked
(a manager's department, a department's head), and the entry is written with its event under
a version guard; a concurrent change is retried from a fresh read.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from crmhub.aggregate import NotFound
from crmhub.aggregate_store import retry_on_conflict
from crmhub.audit import Caller, audit_record
from crmhub.auth import Principal
from crmhub.events import CloudEvent, new_event
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
    # Makes the confirmation link for a manager's new address (set by the auth wiring); without it
    # a new address is taken as given.
    request_confirmation: Callable[[Manager, Literal["email", "telegram"], str], Awaitable[CloudEvent]] | None = None


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


ADDRESSES: dict[str, tuple[Literal["email", "telegram"], str]] = {
    "email": ("email", "pending_email"),
    "telegram_chat_id": ("telegram", "pending_telegram_chat_id"),
}


def _held_back(
    current: Any, changes: dict[str, Any]
) -> tuple[dict[str, Any], list[tuple[Literal["email", "telegram"], str]]]:
    """A new e-mail or Telegram chat does not replace the confirmed one: it waits as pending."""
    if not isinstance(current, Manager):
        return changes, []
    held, asked = dict(changes), []
    for field, (channel, pending) in ADDRESSES.items():
        if field in held and held[field] is not None and held[field] != getattr(current, field):
            held[pending] = held.pop(field)
            asked.append((channel, held[pending]))
    return held, asked


async def change(
    team: Team,
    kind: Kind[Entry],
    entry_id: str,
    changes: dict[str, Any],
    caller: Caller | None = None,
    *,
    confirmed: bool = False,
) -> tuple[Entry, int]:
    """Apply field changes; a change that changes nothing writes nothing (repeating it is harmless).
    A manager's new e-mail or Telegram chat waits for confirmation from that address."""
    result: tuple[Entry, int] | None = None

    async def attempt() -> bool:
        nonlocal result
        current, version = await get(team, kind, entry_id)
        wanted, asked = (
            (changes, []) if confirmed or team.request_confirmation is None else _held_back(current, changes)
        )
        revised: Revision[Entry] | None = revise(current, version, wanted, source=team.source, now=team.now())
        if revised is None:
            result = (current, version)
            return True
        revision: Revision[Entry] = _audited(team, kind, revised, current, caller)
        if asked and team.request_confirmation is not None and isinstance(revision.state, Manager):
            requests: list[CloudEvent] = []
            for channel, address in asked:
                requests.append(await team.request_confirmation(revision.state, channel, address))
            revision = replace(revision, also=(*revision.also, *requests))
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


async def confirm_address_change(
    team: Team, kind: Kind[Manager], manager_id: str, *, channel: str, address: str
) -> tuple[Manager, int]:
    """The person confirmed the new address from there: it replaces the old one (if it is still the one waiting)."""
    field, pending = (
        ("email", "pending_email") if channel == "email" else ("telegram_chat_id", "pending_telegram_chat_id")
    )
    current, _ = await get(team, kind, manager_id)
    if getattr(current, pending) != address:
        raise NotFound(f"no {channel} change to {address!r} waits for {manager_id}")
    caller = Caller(Principal(manager_id, "person", frozenset()))
    return await change(team, kind, manager_id, {field: address, pending: None}, caller, confirmed=True)
