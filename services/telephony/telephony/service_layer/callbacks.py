"""The missed-call loop, run on the service's own events (consumed back from crm.calls), so a
crash between the call and its call-back obligation cannot lose the obligation: `call.missed`
opens one (with a deadline timer in the manager's working time), an outbound `call.completed`
to the number fulfils it (a `call.attempted` — busy, no answer — is counted, not taken for a
call-back), and the timer makes it overdue."""

from __future__ import annotations

from datetime import timedelta

from crmhub.aggregate import NotFound
from crmhub.events import CloudEvent
from crmhub.schemas.calls import CallAttempted, CallCompleted, CallMissed
from crmhub.timers import NotYet, Timer
from crmhub.working_time import workplace_of
from telephony import metrics
from telephony.domain.callbacks import Callback, open_callback, record_attempt, record_callback
from telephony.service_layer.context import Telephony


async def on_missed(deps: Telephony, event: CloudEvent, payload: CallMissed) -> None:
    call = payload.call
    if not call.caller_valid:
        return
    provider = deps.providers.by_id(call.provider_id)
    window = timedelta(minutes=provider.callback_window_minutes if provider else 30)
    manager = deps.directory.manager(call.manager_id) if call.manager_id else None
    department = deps.directory.department(manager.department_id) if manager else None
    callback = open_callback(
        call, window=window, manager=manager, place=workplace_of(department) if department else None
    )
    if await deps.store.callbacks.add(callback):
        metrics.CALLBACKS.labels("opened").inc()


async def on_outbound(deps: Telephony, event: CloudEvent, payload: CallCompleted | CallAttempted) -> None:
    """A call to a number owed a call-back: it fulfils the obligation when it reached the client
    (or, configured so, when it was tried at all); otherwise it is counted as an attempt."""
    call = payload.call
    if call.direction != "outbound":
        return
    provider = deps.providers.by_id(call.provider_id)
    closed_by = provider.callback_closed_by if provider else "reached"
    for callback in await deps.store.open_callbacks_for(call.callee):
        made = False

        def fulfil(callback: Callback) -> None:
            nonlocal made
            before = callback.status
            record_callback(callback, call, now=deps.now(), closed_by=closed_by)
            made = before != "made" and callback.status == "made"
            if not made and record_attempt(callback, call):
                metrics.CALLBACKS.labels("attempted").inc()

        await deps.store.callbacks.change(callback.id, fulfil)
        if made:
            metrics.CALLBACKS.labels("made").inc()


async def mark_overdue(deps: Telephony, timer: Timer) -> None:
    """The deadline passed: an obligation still open becomes overdue (and its head hears of it)."""
    missed = await deps.store.calls.get(timer.subject)
    if missed is None or missed.record is None:
        raise NotYet(timer.subject)
    record = missed.record
    overdue = False

    def mark(callback: Callback) -> None:
        nonlocal overdue
        before = callback.status
        callback.mark_overdue(record, now=deps.now())
        overdue = before == "open" and callback.status == "overdue"

    try:
        await deps.store.callbacks.change(timer.subject, mark)
    except NotFound:
        raise NotYet(timer.subject) from None
    if overdue:
        metrics.CALLBACKS.labels("overdue").inc()
