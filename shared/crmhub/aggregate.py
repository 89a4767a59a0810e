"""Aggregates that record their own events and timers. Pure: no I/O.

An aggregate is a pydantic model whose methods change its state and *record* what that
caused: events (`record_event`) and timers (`schedule`, `cancel_timer`). Nothing is published or
scheduled by the domain code itself; `crmhub.aggregate_store.AggregateStore` writes the state and
the recorded events in one single-document update (the outbox inside the aggregate, ADR 2) with
a version guard, and applies the timer requests around it (see `crmhub.timers`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, PrivateAttr

from crmhub.events import CloudEvent, EventData, new_event


@dataclass(frozen=True)
class Schedule:
    """A request to fire `kind` for `key` at `due_at` (moving the timer if it exists)."""

    key: str
    kind: str
    due_at: datetime
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Cancel:
    key: str


TimerChange = Schedule | Cancel


AGGREGATE = "aggregate"
"""The payload field naming the aggregate a timer belongs to."""
IN_ORDER_OF = "in_order_of"
"""The payload field naming a sequence (one recipient's messages on one channel) whose timers
fire one after another in the order they fell due, instead of their aggregate's."""
IN_ORDER_AT = "in_order_at"
"""The due time of a timer in a sequence to the microsecond (stored times keep milliseconds, and
a burst holds many events a millisecond): what orders timers due in the same millisecond."""


def timer_key(kind: str, subject: str) -> str:
    return f"{kind}:{subject}"


class NotFound(Exception):
    """No aggregate with that id."""


class ConcurrentChange(Exception):
    """The aggregate kept changing under us for every retry (HTTP 409: try again)."""


class Aggregate(BaseModel):
    """Base of the hub's aggregates: state plus what its last changes caused."""

    model_config = ConfigDict(extra="ignore", validate_assignment=False)

    # CloudEvents `source` of the events the aggregate records, e.g. "/crm/leads".
    event_source: ClassVar[str]

    id: str
    _events: list[CloudEvent] = PrivateAttr(default_factory=list)
    _timers: list[TimerChange] = PrivateAttr(default_factory=list)
    _version: int | None = PrivateAttr(default=None)
    _actor: str | None = PrivateAttr(default=None)

    # --- what the domain code calls ---------------------------------------------------------

    def record_event(
        self, data: EventData, *, at: datetime, subject: str | None = None, event_id: str | None = None
    ) -> None:
        self._events.append(
            new_event(
                data,
                source=self.event_source,
                subject=subject or self.id,
                time=at,
                event_id=event_id,
                actor=self._actor,
            )
        )

    def acting(self, actor: str) -> None:
        """Who causes the changes that follow (a person or a token, through an API): their events name them."""
        self._actor = actor

    def schedule(
        self,
        kind: str,
        due_at: datetime,
        payload: dict[str, Any] | None = None,
        *,
        subject: str | None = None,
        in_order_of: str | None = None,
    ) -> None:
        """Fire `kind` at `due_at`: one timer per (kind, subject), the aggregate itself by default
        (a part of it, such as one of its tasks, names itself as the subject). The timer carries
        the aggregate's id (`payload["aggregate"]`): timers of one aggregate fire one after another;
        so do timers of one sequence (`in_order_of`) when they name one, oldest due first."""
        payload = {**(payload or {}), AGGREGATE: self.id}
        if in_order_of is not None:
            payload[IN_ORDER_OF] = in_order_of
            payload[IN_ORDER_AT] = round(due_at.timestamp() * 1_000_000)
        self._timers.append(Schedule(timer_key(kind, subject or self.id), kind, due_at, payload))

    def cancel_timer(self, kind: str, *, subject: str | None = None) -> None:
        self._timers.append(Cancel(timer_key(kind, subject or self.id)))

    # --- what the store and tests read --------------------------------------------------------

    @property
    def events(self) -> list[CloudEvent]:
        """Events recorded since the aggregate was loaded or saved."""
        return list(self._events)

    @property
    def timer_changes(self) -> list[TimerChange]:
        return list(self._timers)

    @property
    def version(self) -> int | None:
        """The stored version this state was loaded at (None: not stored yet)."""
        return self._version

    def _saved(self, version: int) -> None:
        self._events.clear()
        self._timers.clear()
        self._version = version
