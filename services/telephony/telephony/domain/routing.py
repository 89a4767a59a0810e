"""Who answers a call (seed §2.12: "answer by the third ring, otherwise the call goes to the next
manager"): the PBX asks at the start of a call, the hub answers with the manager on duty for
the line — the owner of the caller's open lead when there is one, else the next in a fair
rotation — and the one to try after three rings. No I/O.

The rotation is round robin over the line's candidates in extension order, from a cursor kept
per line: over any run of routed calls with the same people on duty, nobody gets more than one
call more than anybody else (property-tested). A call handed to its lead's owner does not move
the rotation. The same call asked about again gets the same answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar, Literal

from pydantic import BaseModel

from crmhub.aggregate import Aggregate

SOURCE = "/crm/telephony"
ROUTES_KEPT = 200
NEXT_TIMER = "call.route_next"
RouteReason = Literal["owner", "rotation", "nobody_on_duty"]


@dataclass(frozen=True)
class Candidate:
    manager_id: str
    extension: str


class Route(BaseModel):
    """The answer for one call: who first, who after `ring_seconds` (three rings) unanswered."""

    manager_id: str | None
    extension: str | None
    next_manager_id: str | None
    next_extension: str | None
    reason: RouteReason


def _after(candidates: Sequence[Candidate], cursor: str | None, skip: str | None = None) -> Candidate | None:
    """The first candidate after the cursor's extension (wrapping), other than `skip`."""
    pool = [c for c in candidates if c.manager_id != skip]
    if not pool:
        return None
    later = [c for c in pool if cursor is None or c.extension > cursor]
    return later[0] if later else pool[0]


def decide(candidates: Sequence[Candidate], *, owner: str | None, cursor: str | None) -> tuple[Route, str | None]:
    """(the route, the rotation's new cursor)."""
    ordered = sorted(candidates, key=lambda c: c.extension)
    chosen = next((c for c in ordered if c.manager_id == owner), None) if owner else None
    if chosen is not None:
        then = _after(ordered, cursor, skip=chosen.manager_id)
        return _route(chosen, then, "owner"), cursor
    first = _after(ordered, cursor)
    if first is None:
        return Route(
            manager_id=None, extension=None, next_manager_id=None, next_extension=None, reason="nobody_on_duty"
        ), cursor
    then = _after(ordered, first.extension, skip=first.manager_id)
    return _route(first, then, "rotation"), first.extension


def _route(first: Candidate, then: Candidate | None, reason: RouteReason) -> Route:
    return Route(
        manager_id=first.manager_id,
        extension=first.extension,
        next_manager_id=then.manager_id if then else None,
        next_extension=then.extension if then else None,
        reason=reason,
    )


class LineRotation(Aggregate):
    """One line's rotation: the cursor (the last extension the rotation chose) and the recent
    answers by call, so a PBX asking again about the same call gets the same answer. `id` is
    `<provider>:<line>`."""

    event_source: ClassVar[str] = SOURCE

    cursor: str | None = None
    # by call, oldest first (a dict keeps its order)
    answered: dict[str, Route] = {}

    def route(
        self,
        call_id: str,
        candidates: Sequence[Candidate],
        *,
        owner: str | None,
        then_at: datetime | None = None,
        then: dict[str, str] | None = None,
    ) -> Route:
        """The call's route; with `then_at`, a durable timer (`call.route_next`, payload `then`)
        asks again at that moment whether somebody answered, for PBXs the hub commands itself."""
        if call_id in self.answered:
            return self.answered[call_id]
        route, self.cursor = decide(candidates, owner=owner, cursor=self.cursor)
        if then_at is not None and route.next_extension:
            self.schedule(NEXT_TIMER, then_at, {**(then or {}), "extension": route.next_extension}, subject=call_id)
        self.answered = dict(list({**self.answered, call_id: route}.items())[-ROUTES_KEPT:])
        return route
