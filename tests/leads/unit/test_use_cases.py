"""The leads use cases end to end in memory: the same wiring as the service (`bootstrap`), with
in-memory stores and a clock the test moves. Intake, assignment, the SLA timer and its breach,
the manager's actions — in milliseconds, without servers."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from crmhub.aggregate import NotFound
from crmhub.audit import Caller
from crmhub.auth import Principal
from crmhub.events import CloudEvent, new_event
from crmhub.intake import IntakeError
from crmhub.schemas.calls import CallMissed, CallRecord
from leads.adapters.sources import SourcesConfig
from leads.bootstrap import bootstrap
from leads.domain.lead import LeadConflict
from leads.service_layer import assignment, calls, intake, lifecycle
from support.clock import Clock
from support.leads import SOURCES
from support.leads import form as _form
from support.leads import submit as _submit
from support.memory import MemoryLeadStore
from support.team import directory, manager


@pytest.fixture
def hub():
    clock = Clock()
    store = MemoryLeadStore()
    deps = bootstrap(
        store=store, directory=directory(manager("anna"), manager("boris"), manager("head")), sources=SOURCES, now=clock
    )
    return deps, store, clock


def person(subject: str, *roles: str, department_id: str = "sales") -> Caller:
    return Caller(Principal(subject, "person", frozenset(roles or ("manager",)), department_id), address="10.0.0.7")


async def test_a_submission_becomes_an_assigned_lead_with_its_events_and_its_sla_timer(hub):
    deps, store, clock = hub
    taken = await _submit(deps, {"name": "Пётр", "phone": "8 (912) 000-00-01"})
    assert taken.outcome == "created"
    lead = await store.leads.get(taken.lead_id)
    assert lead.status == "assigned"
    assert [e["type"] for e in store.leads.published()] == ["lead.created", "lead.assigned"]
    timer = store.timers.pending[f"lead.sla:{lead.id}"]
    assert timer.due_at == clock.now + timedelta(minutes=15)


async def test_a_retry_with_the_same_idempotency_key_returns_the_same_lead_and_stores_nothing_new(hub):
    deps, store, _ = hub
    first = await _submit(deps, {"phone": "+79120000002"}, **{"idempotency-key": "order-7"})
    again = await _submit(deps, {"phone": "+79120000002"}, **{"idempotency-key": "order-7"})
    assert (again.lead_id, again.outcome) == (first.lead_id, "repeated")
    assert len(store.leads.documents) == 1
    assert len(store.leads.published()) == 2


async def test_the_same_person_again_is_a_touch_of_the_open_lead(hub):
    deps, store, _ = hub
    first = await _submit(deps, {"phone": "+79120000003"})
    second = await _submit(deps, {"phone": "+79120000003", "email": "p@example.com", "message": "ещё раз"})
    assert (second.lead_id, second.outcome) == (first.lead_id, "merged")
    lead = await store.leads.get(first.lead_id)
    assert (lead.touch_count, lead.contact.email) == (2, "p@example.com")


async def test_a_wrong_key_is_refused_before_anything_is_stored(hub):
    deps, store, _ = hub
    with pytest.raises(IntakeError) as refused:
        await intake.take_in(deps, deps.sources.by_id("site"), _form({"phone": "+79120000004"}, key="guess"))
    assert refused.value.status == 401
    assert store.leads.documents == {}


async def test_a_missed_sla_breaches_once_tells_the_head_and_passes_the_lead_on(hub):
    deps, store, clock = hub
    taken = await _submit(deps, {"phone": "+79120000005"})
    first_manager = (await store.leads.get(taken.lead_id)).manager_id
    timer = store.timers.pending[f"lead.sla:{taken.lead_id}"]
    clock.now = timer.due_at + timedelta(seconds=1)
    await assignment.escalate(deps, timer)
    await assignment.escalate(deps, timer)  # the same firing again (a crash before it was marked done)
    lead = await store.leads.get(taken.lead_id)
    assert lead.sla_breaches == 1
    assert lead.manager_id not in (None, first_manager)
    breached = [e for e in store.leads.published() if e["type"] == "lead.sla_breached"]
    assert [e["data"]["head_manager_id"] for e in breached] == ["head"]
    assert store.timers.pending[f"lead.sla:{lead.id}"].due_at == clock.now + timedelta(minutes=15)


async def test_taking_the_lead_in_time_cancels_its_sla_timer_and_a_late_firing_changes_nothing(hub):
    deps, store, clock = hub
    taken = await _submit(deps, {"phone": "+79120000006"})
    lead = await store.leads.get(taken.lead_id)
    timer = store.timers.pending[f"lead.sla:{lead.id}"]
    await lifecycle.take(deps, person(lead.manager_id), lead.id, None)  # a manager takes it as themselves
    assert f"lead.sla:{lead.id}" not in store.timers.pending
    clock.now = timer.due_at + timedelta(minutes=1)
    await assignment.escalate(deps, timer)  # a spare timer left by a crash: nothing to do
    assert (await store.leads.get(lead.id)).sla_breaches == 0


async def test_another_managers_lead_is_not_found_and_a_manager_cannot_act_as_someone_else(hub):
    deps, store, _ = hub
    taken = await _submit(deps, {"phone": "+79120000007"})
    lead = await store.leads.get(taken.lead_id)
    other = "boris" if lead.manager_id != "boris" else "anna"
    with pytest.raises(NotFound):
        await lifecycle.take(deps, person(other), lead.id, None)
    with pytest.raises(PermissionError):
        await lifecycle.take(deps, person(lead.manager_id), lead.id, other)
    with pytest.raises(NotFound):
        await lifecycle.take(deps, person("anna"), "no-such-lead", None)
    assert (await store.leads.get(lead.id)).status == "assigned"


async def test_a_head_acts_on_their_departments_leads_and_names_the_manager(hub):
    deps, store, _ = hub
    taken = await _submit(deps, {"phone": "+79120000008"})
    lead = await store.leads.get(taken.lead_id)
    with pytest.raises(NotFound):
        await lifecycle.take(deps, person("head", "head", department_id="other"), lead.id, lead.manager_id)
    with pytest.raises(LeadConflict):  # the domain still decides: only the assigned manager takes it
        await lifecycle.take(deps, person("head", "head"), lead.id, "nobody")
    taken_by_head = await lifecycle.take(deps, person("head", "head"), lead.id, lead.manager_id)
    assert taken_by_head.status == "in_work"


async def test_an_action_is_on_record_with_who_did_it_in_the_same_write(hub):
    deps, store, _ = hub
    taken = await _submit(deps, {"phone": "+79120000009"})
    lead = await store.leads.get(taken.lead_id)
    await lifecycle.reject(deps, person("head", "head"), lead.id, "spam", "робот")
    published = store.leads.published()
    rejected = next(e for e in published if e["type"] == "lead.rejected")
    audit = next(e for e in published if e["type"] == "audit.recorded")
    assert rejected["actor"] == "manager:head"
    assert audit["data"]["action"] == "lead.rejected"
    assert audit["data"]["address"] == "10.0.0.7"
    assert (audit["data"]["before"]["status"], audit["data"]["after"]["status"]) == ("assigned", "rejected")
    assert audit["data"]["department_id"] == "sales"


def _call_event(payload) -> CloudEvent:
    return new_event(payload, source="/crm/telephony", subject=payload.call.call_id)


async def test_a_lead_born_of_a_missed_call_runs_no_clock_of_its_own_but_one_from_a_form_does(hub):
    """One missed call, one obligation: telephony's call-back is the lead's first response."""
    deps, store, clock = hub
    deps = replace(
        deps,
        sources=SourcesConfig.model_validate(
            {"sources": [*SOURCES.model_dump()["sources"], {**SOURCES.model_dump()["sources"][0], "id": "phone"}]}
        ),
        phone_source_id="phone",
    )
    missed = CallRecord(
        call_id="c-1",
        provider_id="pbx",
        provider_call_id="p1",
        direction="inbound",
        caller="+79165554433",
        callee="+74951110000",
        started_at=clock.now,
        ended_at=clock.now,
        outcome="missed",
    )
    await calls.receive_call(deps, _call_event(CallMissed(call=missed)), CallMissed(call=missed))
    (lead,) = await store.leads.find({"call_id": "c-1"})
    assert (lead.status, lead.manager_id is not None, lead.sla_deadline) == ("assigned", True, None)
    assert f"lead.sla:{lead.id}" not in store.timers.pending
    taken = await _submit(deps, {"name": "Пётр", "phone": "8 (912) 000-00-02"})
    assert f"lead.sla:{taken.lead_id}" in store.timers.pending
