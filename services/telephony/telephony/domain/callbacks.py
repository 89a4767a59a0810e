"""The missed-call loop: a missed inbound call opens an obligation to call back; the first
outbound call to that number afterwards fulfils it (with the delay measured); none within the
window of working time makes it overdue. No I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from crmhub.schemas.calls import CallRecord
from crmhub.schemas.team import Manager
from crmhub.working_time import add_working_time

CallbackStatus = Literal["open", "made", "overdue"]


@dataclass
class Callback:
    missed_call_id: str
    number: str
    missed_at: datetime
    deadline: datetime
    manager_id: str | None
    line: str | None
    status: CallbackStatus = "open"
    callback_call_id: str | None = None
    delay_seconds: float | None = None
    called_back_at: datetime | None = None


def deadline_for(missed_at: datetime, window: timedelta, *, manager: Manager | None, timezone: str | None) -> datetime:
    """The window counts in the working time of the manager the call was meant for; without one, in clock time."""
    if manager is not None and timezone is not None:
        deadline = add_working_time(manager, timezone, missed_at, window)
        if deadline is not None:
            return deadline
    return missed_at + window


def open_callback(missed: CallRecord, *, window: timedelta, manager: Manager | None, timezone: str | None) -> Callback:
    missed_at = missed.ended_at or missed.started_at
    return Callback(
        missed_call_id=missed.call_id,
        number=missed.client_number,
        missed_at=missed_at,
        deadline=deadline_for(missed_at, window, manager=manager, timezone=timezone),
        manager_id=missed.manager_id,
        line=missed.line,
    )


def calls_back(callback: Callback, call: CallRecord) -> bool:
    """An outbound call to the number that started after the miss."""
    return callback.status != "made" and call.direction == "outbound" and call.callee == callback.number and call.started_at >= callback.missed_at


def record_callback(callback: Callback, call: CallRecord) -> None:
    callback.status = "made"
    callback.callback_call_id = call.call_id
    callback.called_back_at = call.started_at
    callback.delay_seconds = max(0.0, (call.started_at - callback.missed_at).total_seconds())
