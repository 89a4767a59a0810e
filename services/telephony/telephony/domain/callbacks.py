"""The missed-call loop: a missed inbound call opens an obligation to call back; the first
outbound call to that number afterwards fulfils it (with the delay measured); none within the
window of working time makes it overdue. The `Callback` aggregate records its events and asks
for its deadline timer itself. No I/O."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import ClassVar, Literal

from crmhub.aggregate import Aggregate
from crmhub.schemas.calls import CallbackMade, CallbackOverdue, CallRecord
from crmhub.schemas.team import Manager
from crmhub.working_time import Place, add_working_time

SOURCE = "/crm/telephony"
DEADLINE_TIMER = "callback.deadline"
CallbackStatus = Literal["open", "made", "overdue"]


class Callback(Aggregate):
    """One missed inbound call's obligation; `id` is the missed call's id."""

    event_source: ClassVar[str] = SOURCE

    number: str
    missed_at: datetime
    deadline: datetime
    manager_id: str | None
    line: str | None
    status: CallbackStatus = "open"
    callback_call_id: str | None = None
    delay_seconds: float | None = None
    called_back_at: datetime | None = None
    overdue_at: datetime | None = None
    # calls to the number that did not reach the client (busy, no answer): tried, not made
    attempts: int = 0
    last_attempt_at: datetime | None = None
    last_attempt_call_id: str | None = None

    @property
    def missed_call_id(self) -> str:
        return self.id

    def mark_overdue(self, missed: CallRecord, *, now: datetime) -> None:
        if self.status != "open" or self.deadline > now:
            return
        self.status = "overdue"
        self.overdue_at = now
        self.record_event(CallbackOverdue(call=missed, deadline=self.deadline, manager_id=self.manager_id), at=now)

    def hand_to(self, manager_id: str, deadline: datetime) -> bool:
        """The number's lead is this manager's: the obligation is theirs, due in their working time."""
        if self.status == "made" or self.manager_id == manager_id:
            return False
        self.manager_id = manager_id
        if self.status == "open":
            self.deadline = deadline
            self.schedule(DEADLINE_TIMER, deadline)
        return True


def deadline_for(missed_at: datetime, window: timedelta, *, manager: Manager | None, place: Place | None) -> datetime:
    """The window counts in the working time of the manager the call was meant for; without one, in clock time."""
    if manager is not None and place is not None:
        deadline = add_working_time(manager, place, missed_at, window)
        if deadline is not None:
            return deadline
    return missed_at + window


def open_callback(missed: CallRecord, *, window: timedelta, manager: Manager | None, place: Place | None) -> Callback:
    missed_at = missed.ended_at or missed.started_at
    callback = Callback(
        id=missed.call_id,
        number=missed.client_number,
        missed_at=missed_at,
        deadline=deadline_for(missed_at, window, manager=manager, place=place),
        manager_id=missed.manager_id,
        line=missed.line,
    )
    callback.schedule(DEADLINE_TIMER, callback.deadline)
    return callback


ClosedBy = Literal["reached", "attempt"]


def calls_back(callback: Callback, call: CallRecord, *, closed_by: ClosedBy = "reached") -> bool:
    """An outbound call to the number, after the miss, that reached the client (or, where the
    provider is configured `callback_closed_by: attempt`, any call to it)."""
    return (
        callback.status != "made"
        and call.direction == "outbound"
        and call.callee == callback.number
        and call.started_at >= callback.missed_at
        and (call.outcome == "answered" or closed_by == "attempt")
    )


def record_attempt(callback: Callback, call: CallRecord) -> bool:
    """A call to the number that did not reach the client: counted once per call, the obligation stays open."""
    if (
        callback.status == "made"
        or call.direction != "outbound"
        or call.callee != callback.number
        or call.started_at < callback.missed_at
        or call.outcome == "answered"
        or call.call_id == callback.last_attempt_call_id
    ):
        return False
    callback.attempts += 1
    callback.last_attempt_at = call.started_at
    callback.last_attempt_call_id = call.call_id
    return True


def record_callback(
    callback: Callback, call: CallRecord, *, now: datetime | None = None, closed_by: ClosedBy = "reached"
) -> None:
    if not calls_back(callback, call, closed_by=closed_by):
        return
    callback.status = "made"
    callback.callback_call_id = call.call_id
    callback.called_back_at = call.started_at
    callback.delay_seconds = max(0.0, (call.started_at - callback.missed_at).total_seconds())
    callback.cancel_timer(DEADLINE_TIMER)
    made = CallbackMade(
        missed_call_id=callback.id,
        callback_call_id=call.call_id,
        number=callback.number,
        manager_id=call.manager_id,
        delay_seconds=callback.delay_seconds,
    )
    callback.record_event(made, at=now or call.started_at)
