"""The deals use cases end to end in memory: the same wiring as the service (`bootstrap`), with
in-memory stores, the real team adapter over a directory, and a clock the test moves. Converted
leads, moves with versions, the audit trail, reports, linked calls, tasks and both timers — in
milliseconds, without servers."""

from __future__ import annotations

from datetime import timedelta

import pytest

from crmhub.aggregate import NotFound
from crmhub.audit import Caller
from crmhub.auth import Principal
from crmhub.events import PoisonMessage, new_event
from crmhub.schemas.calls import CallCompleted, CallRecord
from crmhub.schemas.deals import DealActivityReported
from crmhub.schemas.leads import LeadContact, LeadConverted, LeadSummary
from crmhub.schemas.team import Department
from crmhub.timers import NotYet
from deals.adapters.playbook_files import load_playbook
from deals.bootstrap import bootstrap
from deals.domain.deal import DealRefused
from deals.domain.tasks import NoSuchTask, TaskConflict
from deals.service_layer import deals, queries, tasks
from deals.service_layer.deals import StaleVersion, UnknownDeal, lead_deal_id
from support.clock import Clock
from support.memory import MemoryDealStore
from support.team import directory, manager

PHONE = "+79161112233"
SALES = Department(id="sales", name="Sales", region="Moscow", timezone="Europe/Moscow", head_manager_id="olga")
PRODUCTION = Department(id="production", name="Production", region="Moscow", timezone="Europe/Moscow")


@pytest.fixture
def hub():
    clock = Clock()
    store = MemoryDealStore()
    team = directory(
        manager("anna"),
        manager("boris"),
        manager("olga"),
        manager("pavel", "production"),
        departments=(SALES, PRODUCTION),
    )
    deps = bootstrap(store=store, directory=team, playbook=load_playbook(), rule_seconds_per_day=86400, now=clock)
    return deps, store, clock


def person(subject: str, *roles: str) -> Caller:
    return Caller(Principal(subject, "person", frozenset(roles or ("manager",)), "sales"), address="10.0.0.7")


def converted(lead_id: str = "lead-1") -> tuple:
    payload = LeadConverted(
        lead=LeadSummary(
            lead_id=lead_id, source_id="site", contact=LeadContact(name="Irina", phone=PHONE), product="kitchen"
        ),
        manager_id="anna",
        department_id="sales",
        converted_at=Clock()(),
        touches=1,
    )
    return new_event(payload, source="/crm/leads", subject=lead_id), payload


def published(store: MemoryDealStore) -> list[str]:
    return [e["type"] for e in store.deals.published()]


async def test_a_converted_lead_becomes_one_deal_however_often_it_arrives(hub):
    deps, store, _ = hub
    event, payload = converted()
    for _ in range(3):
        deal = await deals.open_from_lead(deps, event, payload)
    assert deal.id == lead_deal_id("lead-1")
    assert list(store.deals.documents) == [deal.id]
    assert published(store).count("deal.created") == 1
    assert (deal.manager_id, deal.department_id, deal.product, deal.contact.phone) == (
        "anna",
        "sales",
        "kitchen",
        PHONE,
    )
    assert store.phones[PHONE] == deal.id


async def test_a_move_with_a_stale_version_is_refused_and_every_change_is_on_record(hub):
    deps, store, _ = hub
    deal = await deals.open_from_lead(deps, *converted())
    moved = await deals.move(deps, person("anna"), deal.id, to="design", reason=None, comment=None, expected_version=1)
    assert moved.version == 2
    with pytest.raises(StaleVersion, match="at version 2, not 1"):
        await deals.move(deps, person("anna"), deal.id, to="proposal", reason=None, comment=None, expected_version=1)
    audits = [e["data"] for e in store.deals.published() if e["type"] == "audit.recorded"]
    assert [(a["actor"], a["action"], a["before"]["stage"], a["after"]["stage"]) for a in audits] == [
        ("manager:anna", "deal.moved", "measurement", "design")
    ]
    moved_event = next(e for e in store.deals.published() if e["type"] == "deal.stage_changed")
    assert moved_event["actor"] == "manager:anna"


async def test_someone_elses_deal_is_not_found_for_a_manager_but_the_head_acts_on_it(hub):
    deps, _, _ = hub
    deal = await deals.open_from_lead(deps, *converted())
    with pytest.raises(NotFound):
        await deals.move(deps, person("boris"), deal.id, to="design", reason=None, comment=None, expected_version=None)
    with pytest.raises(NotFound):
        await queries.get_deal(deps, person("boris").principal, deal.id)
    moved = await deals.move(
        deps, person("olga", "head"), deal.id, to="design", reason=None, comment=None, expected_version=None
    )
    assert moved.stage == "design"
    with pytest.raises(PermissionError):
        await deals.update(
            deps,
            person("anna"),
            deal.id,
            title=None,
            manager_id="boris",
            products=None,
            amount=None,
            fields=None,
            expected_version=None,
        )


async def test_an_integration_report_is_recorded_once_and_one_for_an_unknown_deal_is_retried(hub):
    deps, store, _ = hub
    deal = await deals.open_from_lead(deps, *converted())
    await deals.move(deps, person("anna"), deal.id, to="design", reason=None, comment=None, expected_version=None)
    report = DealActivityReported(deal_id=deal.id, report_id="1c-77", kind="note", text="from 1C")
    event = new_event(report, source="/1c", subject=deal.id)
    for _ in range(2):
        await deals.take_report(deps, event, report)
    stored = await store.deals.get(deal.id)
    assert stored is not None
    assert [a.kind for a in stored.activities] == ["note"]
    ghost = DealActivityReported(deal_id="deal-ghost", report_id="x", kind="payment_received")
    with pytest.raises(UnknownDeal):
        await deals.take_report(deps, new_event(ghost, source="/1c", subject="deal-ghost"), ghost)
    bad = DealActivityReported(deal_id=deal.id, report_id="fb-1", kind="feedback")
    with pytest.raises(PoisonMessage, match="sentiment"):
        await deals.take_report(deps, new_event(bad, source="/site", subject=deal.id), bad)


async def test_a_clients_call_is_linked_to_their_open_deal_once(hub):
    deps, store, clock = hub
    deal = await deals.open_from_lead(deps, *converted())
    call = CallCompleted(
        call=CallRecord(
            call_id="c1",
            provider_id="pbx",
            provider_call_id="1",
            direction="outbound",
            caller="+74950000000",
            callee=PHONE,
            manager_id="anna",
            started_at=clock(),
            talk_seconds=30,
            outcome="answered",
        )
    )
    for _ in range(2):
        await deals.link_call(deps, new_event(call, source="/crm/telephony", subject="c1"), call)
    stranger = call.model_copy(
        update={"call": call.call.model_copy(update={"call_id": "c2", "callee": "+79990001122"})}
    )
    await deals.link_call(deps, new_event(stranger, source="/crm/telephony", subject="c2"), stranger)
    stored = await store.deals.get(deal.id)
    assert stored is not None
    assert [(a.id, a.kind, a.details["direction"]) for a in stored.activities] == [
        ("call-c1", "call_linked", "outbound")
    ]


async def test_tasks_by_hand_on_a_deal_and_on_a_client_their_life_and_their_timers(hub):
    deps, store, clock = hub
    deal = await deals.open_from_lead(deps, *converted())
    anna = person("anna")
    on_deal = await tasks.create_task(
        deps,
        anna,
        title="Send drawings",
        due_at=clock() + timedelta(hours=1),
        manager_id=None,
        deal_id=deal.id,
        client=None,
    )
    on_client = await tasks.create_task(
        deps,
        anna,
        title="Congratulate",
        due_at=clock() + timedelta(days=1),
        manager_id=None,
        deal_id=None,
        client=LeadContact(phone=PHONE),
    )
    assert on_client.id.startswith("client-")
    with pytest.raises(DealRefused):
        await tasks.create_task(
            deps, anna, title="x", due_at=clock(), manager_id=None, deal_id=None, client=LeadContact()
        )
    rows = await queries.list_tasks(deps, anna.principal, manager_id=None, status="open", due_before=None, limit=50)
    # soonest due first; the rule's task is due 4 of Anna's working hours after the deal was opened
    assert [(r.task.title, r.task.due_at - clock()) for r in rows] == [
        ("Send drawings", timedelta(hours=1)),
        ("Назначить замер: исполнитель и дата", timedelta(hours=4)),
        ("Congratulate", timedelta(days=1)),
    ]

    clock.now += timedelta(hours=1)
    [timer] = [t for t in store.timers.due_now(clock()) if t.subject == on_deal.id]
    await tasks.task_timer(deps, timer)
    clock.now += timedelta(hours=1)
    [timer] = [t for t in store.timers.due_now(clock()) if t.subject == on_deal.id]
    await tasks.task_timer(deps, timer)
    task_events = [
        (e["type"], e["data"]["task"]["task_id"]) for e in store.deals.published() if e["type"].startswith("task.")
    ]
    assert ("task.due", on_deal.id) in task_events
    assert ("task.overdue", on_deal.id) in task_events
    overdue = await queries.list_tasks(
        deps, anna.principal, manager_id=None, status="overdue", due_before=None, limit=50
    )
    assert on_deal.id in [r.task.id for r in overdue]

    done = await tasks.complete(deps, anna, on_deal.id, "sent")
    assert done.status == "done"
    with pytest.raises(TaskConflict):
        await tasks.cancel(deps, anna, on_deal.id, "oops")
    with pytest.raises(NoSuchTask):
        await tasks.complete(deps, person("boris"), on_client.id, "not mine")
    moved = await tasks.reassign(deps, person("olga", "head"), on_client.id, "boris")
    assert moved.manager_id == "boris"
    with pytest.raises(NoSuchTask):
        await tasks.complete(deps, anna, "deal-nope-t1", "x")


async def test_a_delayed_rule_fires_from_its_timer_and_a_timer_for_a_deal_not_yet_stored_says_not_yet(hub):
    deps, store, clock = hub
    deal = await deals.open_from_lead(deps, *converted())
    anna = person("anna")
    for stage in ("design", "proposal"):
        await deals.move(deps, anna, deal.id, to=stage, reason=None, comment=None, expected_version=None)
    await deals.record_activity(
        deps,
        anna,
        deal.id,
        kind="proposal_saved",
        happened_at=None,
        text=None,
        amount=None,
        sentiment=None,
        details={},
        expected_version=None,
    )
    clock.now += timedelta(days=8)
    [timer] = [t for t in store.timers.due_now(clock()) if t.kind == "deals.rule"]
    await tasks.rule_timer(deps, timer)
    stored = await store.deals.get(deal.id)
    assert stored is not None
    assert [t.rule_id for t in stored.open_tasks()] == ["decision_follow_up"]
    ghost = timer.__class__(timer.key, timer.kind, timer.due_at, {"deal_id": "deal-ghost", "occurrence": "x@y"}, 1)
    with pytest.raises(NotYet):
        await tasks.rule_timer(deps, ghost)
