"""Team directory rules, with no I/O: what a change does to a department or manager and which
event it emits. A change that changes nothing emits nothing, so repeating a request is harmless."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from crmhub.events import CloudEvent, EventData, new_event
from crmhub.schemas.team import Change, Department, DepartmentUpserted, Manager, ManagerUpserted
from crmhub.team_directory import department_key, manager_key

Member = TypeVar("Member", Department, Manager)


@dataclass(frozen=True)
class Revision(Generic[Member]):
    """A directory entry after a change, its new version and the event announcing it."""

    state: Member
    version: int
    event: CloudEvent
    # More events stored in the same update (the audit record of the change).
    also: tuple[CloudEvent, ...] = ()


def announce(state: Department | Manager, *, version: int, change: Change, source: str, now: datetime) -> CloudEvent:
    payload: EventData
    if isinstance(state, Department):
        payload = DepartmentUpserted(change=change, version=version, department=state)
        subject = department_key(state.id)
    else:
        payload = ManagerUpserted(change=change, version=version, manager=state)
        subject = manager_key(state.id)
    return new_event(payload, source=source, subject=subject, time=now)


def create(state: Member, *, source: str, now: datetime) -> Revision[Member]:
    return Revision(state, 1, announce(state, version=1, change="created", source=source, now=now))


def revise(
    current: Member, version: int, changes: dict[str, Any], *, source: str, now: datetime
) -> Revision[Member] | None:
    """Apply field changes; None when the result equals the current state.

    Raises pydantic.ValidationError when the changed entry is invalid, naming the field.
    """
    if "id" in changes and changes["id"] != current.id:
        raise ValueError("the id of a directory entry cannot change")
    merged = type(current).model_validate({**current.model_dump(), **changes})
    if merged == current:
        return None
    if current.active and not merged.active:
        change: Change = "deactivated"
    elif not current.active and merged.active:
        change = "activated"
    else:
        change = "updated"
    return Revision(merged, version + 1, announce(merged, version=version + 1, change=change, source=source, now=now))
