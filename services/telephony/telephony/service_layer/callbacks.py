"""The missed-call loop, run on the service's own events (consumed back from crm.calls), so a
crash between the call and its call-back obligation cannot lose the obligation: `call.missed`
opens one (with a deadline timer in the manager's working time), an outbound `call.completed`
to the number fulfils it (a `call.attempted` — busy, no answer — is counted, not taken for a
call-back), and the timer makes it overdue."""

from __future__ import annotations

from datetime import timedelta

from crmhub.aggregate import NotFound
from crmhub.events import CloudEvent
from crmhub.schemas.calls import CallAttempted, CallCompleted, CallMissed, CallRecord
from crmhub.schemas.leads import LeadAssigned, LeadConverted, LeadRejected
from crmhub.schemas.team import Manager
from crmhub.timers import NotYet, Timer
from crmhub.working_time import Place, workplace_of
from telephony import metrics
from telephony.domain.callbacks import Callback, deadline_for, open_callback, record_attempt, record_callback
from telephony.domain.owners import ClientOwner
from telephony.service_layer.context import Telephony


def _window(deps: Telephony, provider_id: str) -> timedelta:
    provider = deps.providers.by_id(provider_id)
    return timedelta(minutes=provider.callback_window_minutes if provider else 30)


def _manager_and_place(deps: Telephony, manager_id: str | None) -> tuple[Manager | None, Place | None]:
    manager = deps.directory.manager(manager_id) if manager_id else None
    department = deps.directory.department(manager.department_id) if manager else None
    return manager, workplace_of(department) if department else None


async def on_missed(deps: Telephony, event: CloudEvent, payload: CallMissed) -> None:
    """One missed call, one obligation, one owner: the manager of the number's open lead when
    there is one, else the manager the call was meant for."""
    call = payload.call
    if not call.caller_valid:
        return
    owner = await deps.store.owners.get(call.client_number)
    owner_id = owner.owner if owner is not None and owner.owner else call.manager_id
    manager, place = _manager_and_place(deps, owner_id)
    callback = open_callback(
        call.model_copy(update={"manager_id": owner_id}),
        window=_window(deps, call.provider_id),
        manager=manager,
        place=place,
    )
    if await deps.store.callbacks.add(callback):
        metrics.CALLBACKS.labels("opened").inc()
    await deps.store.note_callback(callback)  # before looking for a call back: see on_outbound
    # The caller's lead may have been assigned while this ran (the leads service makes it from this
    # very miss): its `lead.assigned` looked for obligations before this one was listed. Written,
    # then read: of the two handlers, at least one sees the other, so the obligation follows.
    if (now_owned := await deps.store.owners.get(call.client_number)) is not None and now_owned.owner:
        await _hand_over(deps, callback, now_owned.owner)
    # A call back may have been taken in before this obligation was opened (the two calls' events
    # travel on different partitions): look for it, so it is not missed.
    for back in await deps.store.outbound_calls_to(callback.number, since=callback.missed_at):
        await _take_outbound(deps, callback.id, back)


async def on_outbound(deps: Telephony, event: CloudEvent, payload: CallCompleted | CallAttempted) -> None:
    """A call to a number owed a call-back: it fulfils the obligation when it reached the client
    (or, configured so, when it was tried at all); otherwise it is counted as an attempt."""
    call = payload.call
    if call.direction != "outbound":
        return
    for callback in await deps.store.open_callbacks_for(call.callee):
        await _take_outbound(deps, callback.id, call)


async def _take_outbound(deps: Telephony, callback_id: str, call: CallRecord) -> None:
    provider = deps.providers.by_id(call.provider_id)
    closed_by = provider.callback_closed_by if provider else "reached"
    made = False

    def fulfil(callback: Callback) -> None:
        nonlocal made
        before = callback.status
        record_callback(callback, call, now=deps.now(), closed_by=closed_by)
        made = before != "made" and callback.status == "made"
        if not made and record_attempt(callback, call):
            metrics.CALLBACKS.labels("attempted").inc()

    await deps.store.callbacks.change(callback_id, fulfil)
    if made:
        metrics.CALLBACKS.labels("made").inc()


async def on_lead_assigned(deps: Telephony, event: CloudEvent, payload: LeadAssigned) -> None:
    """The number's lead has a manager: it owns the number, and any call-back still owed to it."""
    number = payload.lead.contact.phone
    if not number:
        return
    await deps.store.owners.change(
        number,
        lambda owner: owner.follow(lead_id=payload.lead.lead_id, manager_id=payload.manager_id, at=payload.assigned_at),
        create=lambda: ClientOwner(id=number),
    )
    # The owner is written before the obligations are read: see on_missed, which does the reverse.
    for callback in await deps.store.open_callbacks_for(number):
        await _hand_over(deps, callback, payload.manager_id)


async def _hand_over(deps: Telephony, callback: Callback, manager_id: str) -> None:
    """The obligation is the number's owner's, due in their working time (no change when it is already theirs)."""
    if callback.manager_id == manager_id:
        return
    missed = await deps.store.calls.get(callback.id)
    window = _window(deps, missed.provider_id) if missed else timedelta(minutes=30)
    manager, place = _manager_and_place(deps, manager_id)
    deadline = deadline_for(callback.missed_at, window, manager=manager, place=place)
    await deps.store.callbacks.change(callback.id, lambda c: c.hand_to(manager_id, deadline))


async def on_lead_closed(deps: Telephony, event: CloudEvent, payload: LeadConverted | LeadRejected) -> None:
    lead_id = payload.lead.lead_id if isinstance(payload, LeadConverted) else payload.lead_id
    number = payload.lead.contact.phone if isinstance(payload, LeadConverted) else payload.phone
    if not number:
        return
    try:
        await deps.store.owners.change(number, lambda owner: owner.let_go(lead_id))
    except NotFound:
        return


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
