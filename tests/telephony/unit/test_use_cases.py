"""The telephony use cases in memory, through the service's own wiring (`bootstrap`): provider
facts in any order become one call announced once; the missed-call loop opens an obligation
with a deadline timer, a call back fulfils it, and the timer marks a forgotten one overdue."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from crmhub.events import CloudEvent
from crmhub.schemas.calls import CallAttempted, CallCompleted, CallMissed
from crmhub.schemas.leads import LeadAssigned, LeadContact, LeadRejected, LeadSummary
from crmhub.schemas.team import ManagerUpserted
from support.clock import Clock
from support.memory import MemoryCallStore
from support.team import directory, manager
from telephony.adapters.providers import ProvidersConfig
from telephony.bootstrap import bootstrap
from telephony.domain.call import CallFact
from telephony.service_layer import callbacks, calls

PROVIDERS = ProvidersConfig.model_validate(
    {
        "providers": [
            {
                "id": "pbx",
                "format": "json",
                "secret": "k" * 16,
                "extensions": {"101": "anna"},
                "callback_window_minutes": 30,
            }
        ]
    }
)
T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)  # Thursday 12:00 in Moscow


@pytest.fixture
def phones():
    clock = Clock()
    store = MemoryCallStore()
    deps = bootstrap(
        store=store,
        directory=directory(manager("anna")),
        providers=PROVIDERS,
        settle_after=timedelta(seconds=30),
        now=clock,
    )
    return deps, store, clock


def _missed(call_id: str, caller: str = "+79165554433") -> list[CallFact]:
    return [
        CallFact("ended", call_id, T0 + timedelta(seconds=20), direction="inbound", outcome="missed", extension="101"),
        CallFact("started", call_id, T0, direction="inbound", caller=caller, callee="+74951110000"),
    ]


def _event(payload) -> CloudEvent:
    return CloudEvent(
        id="e1",
        type=payload.event_type,
        source="/crm/telephony",
        subject=payload.call.call_id,
        time=T0,
        data=payload.model_dump(mode="json"),
    )


async def test_facts_in_any_order_and_twice_make_one_call_announced_once(phones):
    deps, store, _ = phones
    provider = PROVIDERS.by_id("pbx")
    facts = _missed("c1")
    (call_id,) = await calls.receive(deps, provider, facts[:1])  # the end first: the outcome waits for the number
    assert [e["type"] for e in store.calls.published()] == ["call.started"]
    assert f"call.settle:{call_id}" in store.timers.pending
    await calls.receive(deps, provider, facts[1:])
    await calls.receive(deps, provider, facts)  # everything again
    assert [e["type"] for e in store.calls.published()] == ["call.started", "call.missed"]
    assert f"call.settle:{call_id}" not in store.timers.pending
    record = (await store.calls.get(call_id)).record
    assert (record.caller, record.outcome, record.manager_id) == ("+79165554433", "missed", "anna")


async def test_a_missed_call_is_called_back_once_and_its_deadline_timer_goes(phones):
    deps, store, clock = phones
    (call_id,) = await calls.receive(deps, PROVIDERS.by_id("pbx"), _missed("c2"))
    missed = (await store.calls.get(call_id)).record
    await callbacks.on_missed(deps, _event(CallMissed(call=missed)), CallMissed(call=missed))
    await callbacks.on_missed(deps, _event(CallMissed(call=missed)), CallMissed(call=missed))  # redelivered
    deadline = store.timers.pending[f"callback.deadline:{call_id}"]
    assert deadline.due_at == missed.ended_at + timedelta(minutes=30)
    back = missed.model_copy(
        update={
            "call_id": "back",
            "direction": "outbound",
            "callee": missed.caller,
            "started_at": T0 + timedelta(minutes=5),
            "outcome": "answered",
        }
    )
    busy = back.model_copy(update={"call_id": "busy", "outcome": "busy", "started_at": T0 + timedelta(minutes=3)})
    clock.now = T0 + timedelta(minutes=4)
    await callbacks.on_outbound(deps, _event(CallAttempted(call=busy)), CallAttempted(call=busy))
    tried = await store.callbacks.get(call_id)
    assert (tried.status, tried.attempts) == ("open", 1)  # the client was not reached: still owed
    clock.now = T0 + timedelta(minutes=6)
    await callbacks.on_outbound(deps, _event(CallCompleted(call=back)), CallCompleted(call=back))
    callback = await store.callbacks.get(call_id)
    assert (callback.status, callback.delay_seconds) == ("made", 280.0)
    assert f"callback.deadline:{call_id}" not in store.timers.pending
    clock.now = deadline.due_at + timedelta(seconds=1)
    await callbacks.mark_overdue(deps, deadline)  # a spare firing after the call back: nothing
    assert [e["type"] for e in store.callbacks.published()] == ["call.callback_made"]


async def test_a_forgotten_call_back_becomes_overdue_when_its_timer_fires(phones):
    deps, store, clock = phones
    (call_id,) = await calls.receive(deps, PROVIDERS.by_id("pbx"), _missed("c3"))
    missed = (await store.calls.get(call_id)).record
    await callbacks.on_missed(deps, _event(CallMissed(call=missed)), CallMissed(call=missed))
    deadline = store.timers.pending[f"callback.deadline:{call_id}"]
    clock.now = deadline.due_at + timedelta(seconds=1)
    await callbacks.mark_overdue(deps, deadline)
    await callbacks.mark_overdue(deps, deadline)  # fired again after a crash: still one alert
    assert [e["type"] for e in store.callbacks.published()] == ["call.callback_overdue"]
    assert (await store.callbacks.get(call_id)).status == "overdue"


def _lead_event(payload, subject: str) -> CloudEvent:
    return CloudEvent(
        id=f"e-{payload.event_type}",
        type=payload.event_type,
        source="/crm/leads",
        subject=subject,
        time=T0,
        data=payload.model_dump(mode="json"),
    )


def _assigned(lead_id: str, manager_id: str, at: datetime, phone: str = "+79165554433") -> LeadAssigned:
    summary = LeadSummary(lead_id=lead_id, source_id="phone", contact=LeadContact(phone=phone))
    return LeadAssigned(
        lead=summary, manager_id=manager_id, department_id="sales", reason="new_lead", assigned_at=at, sla_deadline=None
    )


async def test_one_missed_call_one_obligation_owned_by_the_numbers_lead_manager(phones):
    """Whichever comes first — the call-back obligation or the lead's assignment — the
    obligation ends up with the lead's manager, due in their working time, and its overdue
    notice names them."""
    deps, store, clock = phones
    deps.directory.apply(ManagerUpserted(change="created", version=1, manager=manager("boris")))
    (call_id,) = await calls.receive(deps, PROVIDERS.by_id("pbx"), _missed("c-own"))
    missed = (await store.calls.get(call_id)).record
    assert missed.manager_id == "anna"  # the extension that rang
    await callbacks.on_missed(deps, _event(CallMissed(call=missed)), CallMissed(call=missed))
    assigned = _assigned("L1", "boris", T0 + timedelta(seconds=30))
    await callbacks.on_lead_assigned(deps, _lead_event(assigned, "L1"), assigned)
    await callbacks.on_lead_assigned(deps, _lead_event(assigned, "L1"), assigned)  # redelivered: no change
    callback = await store.callbacks.get(call_id)
    assert callback.manager_id == "boris"
    clock.now = callback.deadline + timedelta(seconds=1)
    await callbacks.mark_overdue(deps, store.timers.pending[f"callback.deadline:{call_id}"])
    overdue = [e for e in store.callbacks.published() if e["type"] == "call.callback_overdue"]
    assert [e["data"]["manager_id"] for e in overdue] == ["boris"]

    # the lead is already known when the next call from that number is missed
    (again,) = await calls.receive(deps, PROVIDERS.by_id("pbx"), _missed("c-own-2"))
    second = (await store.calls.get(again)).record
    await callbacks.on_missed(deps, _event(CallMissed(call=second)), CallMissed(call=second))
    assert (await store.callbacks.get(again)).manager_id == "boris"

    # once the lead is closed, the number is nobody's: the next miss goes to the extension's manager
    rejected = LeadRejected(
        lead_id="L1", manager_id="boris", source_id="phone", reason="spam", rejected_at=T0, phone="+79165554433"
    )
    await callbacks.on_lead_closed(deps, _lead_event(rejected, "L1"), rejected)
    (third,) = await calls.receive(deps, PROVIDERS.by_id("pbx"), _missed("c-own-3"))
    record = (await store.calls.get(third)).record
    await callbacks.on_missed(deps, _event(CallMissed(call=record)), CallMissed(call=record))
    assert (await store.callbacks.get(third)).manager_id == "anna"


async def test_a_lead_assigned_while_its_miss_opens_the_obligation_still_gets_it(phones):
    """The leads service makes the caller's lead from the same `call.missed`, so its assignment
    can be handled while the obligation is being opened: after the miss found no owner and
    before the obligation was stored. The obligation still ends up with the lead's manager."""
    deps, store, _ = phones
    deps.directory.apply(ManagerUpserted(change="created", version=1, manager=manager("boris")))
    (call_id,) = await calls.receive(deps, PROVIDERS.by_id("pbx"), _missed("c-race"))
    missed = (await store.calls.get(call_id)).record
    owners, looked_up, go_on = store.owners, asyncio.Event(), asyncio.Event()

    class OwnersSlowToAnswer:
        """The owners repository, except that the first lookup answers only when told to."""

        def __getattr__(self, name):
            return getattr(owners, name)

        async def get(self, number):
            found = await owners.get(number)
            if not looked_up.is_set():
                looked_up.set()
                await go_on.wait()
            return found

    store.owners = OwnersSlowToAnswer()
    opening = asyncio.create_task(callbacks.on_missed(deps, _event(CallMissed(call=missed)), CallMissed(call=missed)))
    await looked_up.wait()  # the miss found nobody owning the number
    assigned = _assigned("L1", "boris", T0 + timedelta(seconds=5))
    await callbacks.on_lead_assigned(deps, _lead_event(assigned, "L1"), assigned)  # no obligation listed yet
    go_on.set()
    await opening
    callback = await store.callbacks.get(call_id)
    assert (callback.manager_id, callback.status) == ("boris", "open")
    assert store.timers.pending[f"callback.deadline:{call_id}"].due_at == callback.deadline


async def test_a_call_back_taken_in_before_the_miss_opened_its_obligation_still_counts(phones):
    """The miss and the call back travel on different partitions: the call back's event may be
    handled first; opening the obligation then finds it."""
    deps, store, _ = phones
    (call_id,) = await calls.receive(deps, PROVIDERS.by_id("pbx"), _missed("c-early"))
    missed = (await store.calls.get(call_id)).record
    back_facts = [
        CallFact(
            "started",
            "c-back",
            T0 + timedelta(minutes=2),
            direction="outbound",
            caller="101",
            callee=missed.caller,
            extension="101",
        ),
        CallFact("ended", "c-back", T0 + timedelta(minutes=3), outcome="answered", talk_seconds=40),
    ]
    (back_id,) = await calls.receive(deps, PROVIDERS.by_id("pbx"), back_facts)
    back = (await store.calls.get(back_id)).record
    await callbacks.on_outbound(deps, _event(CallCompleted(call=back)), CallCompleted(call=back))  # nothing owed yet
    await callbacks.on_missed(deps, _event(CallMissed(call=missed)), CallMissed(call=missed))
    callback = await store.callbacks.get(call_id)
    assert (callback.status, callback.callback_call_id) == ("made", back_id)
