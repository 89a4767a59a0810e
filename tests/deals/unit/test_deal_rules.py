"""The Deal aggregate under the seed's rule set, as pure code: each rule's effect (tasks, moves,
alerts, timers armed and cancelled), tasks' timers, and property tests — for any arrival order
of a deal's events the open tasks are the same, and the timers stored always match the state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmhub.aggregate import Cancel, Schedule
from crmhub.schemas.leads import LeadContact
from deals.adapters.playbook_files import load_playbook
from deals.domain.deal import RULE_TIMER, Deal, DealRefused
from deals.domain.pipeline import InvalidMove
from deals.domain.tasks import TASK_TIMER, TaskConflict
from support.deals import FakeTeam

PLAYBOOK = load_playbook()
T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


def new_deal(stage: str | None = None, *, team: FakeTeam | None = None, now: datetime = T0) -> Deal:
    deal = Deal.open(
        "deal-1",
        playbook=PLAYBOOK,
        team=team or FakeTeam(),
        now=now,
        title="Kitchen",
        pipeline_id="client_service",
        manager_id="anna",
        contact=LeadContact(name="Irina", phone="+79160000001"),
    )
    if stage is not None:  # put it there directly, as if it had got there earlier
        deal.stage = stage
        deal.history[-1].stage = stage
        for task in deal.open_tasks():
            task.status = "cancelled"
        deal.task_managers = []
    deal._saved(1)
    return deal


def record(deal: Deal, kind: str, *, at: datetime | None = None, now: datetime = T0, **fields: Any) -> None:
    deal.record_activity(
        activity_id=fields.pop("activity_id", None),
        kind=kind,  # type: ignore[arg-type]
        happened_at=at or now,
        playbook=PLAYBOOK,
        team=FakeTeam(),
        now=now,
        **fields,
    )


def open_titles(deal: Deal) -> list[str]:
    return [t.title for t in deal.open_tasks()]


def types(deal: Deal) -> list[str]:
    return [e.type for e in deal.events]


def test_a_new_deal_starts_in_measurement_with_the_task_to_arrange_it():
    deal = new_deal()
    assert deal.stage == "measurement"
    assert open_titles(deal) == ["Arrange the measurement: executor and date"]
    [task] = deal.open_tasks()
    assert task.due_at == T0 + timedelta(hours=4)
    assert task.department_id == "sales"
    assert types(
        Deal.open(
            "deal-2",
            playbook=PLAYBOOK,
            team=FakeTeam(),
            now=T0,
            title="x",
            pipeline_id="client_service",
            manager_id="anna",
        )
    ) == [
        "deal.created",
        "task.created",
    ]


def test_a_scheduled_measurement_sets_its_task_at_the_planned_time_and_acceptance_moves_to_design():
    deal = new_deal()
    planned = T0 + timedelta(days=3, hours=2)
    record(deal, "measurement_scheduled", details={"planned_at": planned.isoformat()})
    assert open_titles(deal) == ["Carry out the measurement and accept the results"]
    assert deal.open_tasks()[0].due_at == planned
    record(deal, "measurement_accepted", now=T0 + timedelta(days=3, hours=3))
    assert deal.stage == "design"
    assert open_titles(deal) == ["Start the design"]
    assert deal.history[-1].rule_id == "start_design"


def test_a_rejected_measurement_asks_for_a_new_one():
    deal = new_deal()
    record(deal, "measurement_scheduled", details={"planned_at": (T0 + timedelta(days=1)).isoformat()})
    record(deal, "measurement_rejected", text="wrong wall", now=T0 + timedelta(days=1))
    assert deal.stage == "measurement"
    assert open_titles(deal) == ["Schedule a new measurement"]


def test_a_saved_proposal_waits_seven_days_for_the_decision_on_a_timer():
    deal = new_deal("proposal")
    record(deal, "proposal_saved")
    assert deal.stage == "decision"
    [key] = deal.armed
    assert key.startswith("decision_follow_up@")
    [schedule] = [c for c in deal.timer_changes if isinstance(c, Schedule) and c.kind == RULE_TIMER]
    assert schedule.due_at == T0 + timedelta(days=7)
    assert schedule.payload == {"deal_id": "deal-1", "occurrence": key, "aggregate": "deal-1"}
    deal._saved(2)
    deal.rule_timer_fired(key, playbook=PLAYBOOK, team=FakeTeam(), now=T0 + timedelta(days=7))
    assert open_titles(deal) == ["Call the client about the proposal decision"]
    assert deal.armed == []
    # the same timer firing again (a crash before it was deleted) does nothing more
    deal.rule_timer_fired(key, playbook=PLAYBOOK, team=FakeTeam(), now=T0 + timedelta(days=7, seconds=1))
    assert len(deal.open_tasks()) == 1


def test_the_seven_day_timer_is_cancelled_when_the_client_asks_for_time_and_a_call_back_is_set_for_their_date():
    deal = new_deal("proposal")
    record(deal, "proposal_saved")
    [key] = deal.armed
    deal._saved(2)
    until = T0 + timedelta(days=10)
    record(deal, "decision_postponed", details={"until": until.isoformat()}, now=T0 + timedelta(days=1))
    assert deal.armed == []
    assert [c.key for c in deal.timer_changes if isinstance(c, Cancel)] == [f"{RULE_TIMER}:deal-1/{key}"]
    assert open_titles(deal) == ["Call the client back on the day they named"]
    assert deal.open_tasks()[0].due_at == until
    # a spare firing of the cancelled timer finds nothing to do
    deal.rule_timer_fired(key, playbook=PLAYBOOK, team=FakeTeam(), now=T0 + timedelta(days=7))
    assert open_titles(deal) == ["Call the client back on the day they named"]


def test_if_the_deal_left_decision_before_the_seven_days_nothing_is_set():
    deal = new_deal("proposal")
    record(deal, "proposal_saved")
    [key] = deal.armed
    deal.move("invoice", playbook=PLAYBOOK, team=FakeTeam(), now=T0 + timedelta(days=2))
    assert deal.armed == []  # left the stages it lives in: disarmed
    deal.rule_timer_fired(key, playbook=PLAYBOOK, team=FakeTeam(), now=T0 + timedelta(days=7))
    assert not any(t.rule_id == "decision_follow_up" for t in deal.tasks)


def test_an_invoice_sets_the_payment_call_and_the_payment_cancels_it_moves_to_production_and_tells_production():
    deal = new_deal("decision")
    record(deal, "invoice_issued", amount=250000)
    assert deal.stage == "invoice"
    [task] = deal.open_tasks()
    assert (task.title, task.rule_id, task.due_at) == (
        "Call the client about paying the invoice",
        "call_about_payment",
        T0 + timedelta(days=2),
    )
    assert (
        Schedule(f"{TASK_TIMER}:{task.id}", TASK_TIMER, task.due_at, {"holder": "deal-1", "aggregate": "deal-1"})
        in deal.timer_changes
    )
    deal._saved(2)
    record(deal, "payment_received", now=T0 + timedelta(days=1))
    assert deal.stage == "production"
    assert deal.open_tasks() == []
    assert deal.task(task.id).cancel_reason == "payment_received recorded"
    assert Cancel(f"{TASK_TIMER}:{task.id}") in deal.timer_changes
    [alert] = [e for e in deal.events if e.type == "deal.alert"]
    assert alert.data["alert"] == "production_handover"
    assert alert.data["recipient_ids"] == ["pavel", "anna"]


def test_a_payment_recorded_early_waits_and_moves_the_deal_once_it_reaches_the_invoice_stage():
    deal = new_deal("decision")
    record(deal, "payment_received", amount=100)
    assert deal.stage == "decision"  # not yet: the rule waits for its stage
    deal.move("invoice", playbook=PLAYBOOK, team=FakeTeam(), now=T0 + timedelta(hours=1))
    assert deal.stage == "production"
    assert [s.stage for s in deal.history][-2:] == ["invoice", "production"]


def test_delivery_sets_the_review_task_in_fifteen_days_and_the_review_wins_the_deal():
    deal = new_deal("production")
    record(deal, "work_delivered")
    assert deal.stage == "delivered"
    [task] = deal.open_tasks()
    assert (task.title, task.due_at) == ("Collect the client's review", T0 + timedelta(days=15))
    record(deal, "review_collected", text="5 stars", now=T0 + timedelta(days=14))
    assert deal.stage == "won"
    assert deal.outcome == "won"
    assert deal.open_tasks() == []


def test_negative_feedback_alerts_the_head_at_once_even_on_a_lost_deal_but_positive_feedback_does_not():
    deal = new_deal("design")
    record(deal, "feedback", sentiment="positive")
    assert "deal.alert" not in types(deal)
    deal.move("lost", playbook=PLAYBOOK, team=FakeTeam(), now=T0, lost_reason="price", comment="too dear")
    record(deal, "feedback", sentiment="negative", text="rude measurer", now=T0 + timedelta(hours=1))
    alerts = [e.data for e in deal.events if e.type == "deal.alert"]
    assert [(a["alert"], a["recipient_ids"]) for a in alerts] == [
        ("deal_lost", ["olga"]),
        ("negative_feedback", ["olga", "anna"]),
    ]
    with pytest.raises(DealRefused) as refused:
        record(deal, "feedback")
    assert refused.value.field == "sentiment"


def test_losing_a_deal_needs_a_listed_reason_and_a_comment_and_cancels_every_open_task():
    deal = new_deal("decision")
    deal.add_task(
        title="Send drawings",
        manager_id="anna",
        due_at=T0 + timedelta(days=1),
        now=T0,
        team=FakeTeam(),
        created_by="manager:anna",
    )
    record(deal, "invoice_issued")
    for reason, comment, field in ((None, "x", "reason"), ("cheap", "x", "reason"), ("price", " ", "comment")):
        with pytest.raises(DealRefused) as refused:
            deal.move("lost", playbook=PLAYBOOK, team=FakeTeam(), now=T0, lost_reason=reason, comment=comment)
        assert refused.value.field == field
    assert deal.stage == "invoice"
    were_open = [t.id for t in deal.open_tasks()]
    assert len(were_open) == 2  # the manual task and "call about payment"
    deal.move("lost", playbook=PLAYBOOK, team=FakeTeam(), now=T0, lost_reason="competitor", comment="chose them")
    assert (deal.outcome, deal.lost_reason, deal.lost_comment) == ("lost", "competitor", "chose them")
    assert deal.open_tasks() == []
    assert [deal.task(t).cancel_reason for t in were_open] == ["the deal was lost (competitor)"] * 2
    record(deal, "invoice_issued", now=T0 + timedelta(hours=1))
    assert deal.open_tasks() == []  # nothing is set on a lost deal
    with pytest.raises(InvalidMove):
        deal.move("design", playbook=PLAYBOOK, team=FakeTeam(), now=T0)


def test_a_tasks_timer_reminds_at_the_due_time_then_raises_overdue_to_the_head_and_stops():
    team = FakeTeam()
    deal = new_deal("design")
    task = deal.add_task(title="Call", manager_id="anna", due_at=T0 + timedelta(hours=2), now=T0, team=team)
    deal._saved(2)
    deal.task_timer_fired(task.id, now=T0 + timedelta(hours=1), team=team)  # early (moved meanwhile): nothing
    assert deal.events == []
    deal.task_timer_fired(task.id, now=T0 + timedelta(hours=2), team=team)
    assert types(deal) == ["task.due"]
    assert (
        Schedule(
            f"{TASK_TIMER}:{task.id}", TASK_TIMER, T0 + timedelta(hours=3), {"holder": "deal-1", "aggregate": "deal-1"}
        )
        in deal.timer_changes
    )
    deal._saved(3)
    deal.task_timer_fired(task.id, now=T0 + timedelta(hours=3), team=team)
    [overdue] = deal.events
    assert (overdue.type, overdue.data["head_manager_id"]) == ("task.overdue", "olga")
    deal._saved(4)
    deal.task_timer_fired(task.id, now=T0 + timedelta(hours=4), team=team)
    assert deal.events == []


def test_a_closed_task_cannot_change_and_a_rescheduled_one_starts_its_reminders_again():
    team = FakeTeam()
    deal = new_deal("design")
    task = deal.add_task(title="Call", manager_id="anna", due_at=T0, now=T0, team=team)
    deal.task_timer_fired(task.id, now=T0, team=team)
    assert deal.task(task.id).reminded
    deal.reschedule_task(task.id, due_at=T0 + timedelta(days=1), now=T0)
    assert not deal.task(task.id).reminded
    deal.reassign_task(task.id, manager_id="boris", now=T0, team=team)
    assert deal.task_managers == ["boris"]
    deal.cancel_task(task.id, reason="not needed", by="manager:anna", now=T0)
    assert deal.task_managers == []
    for change in (
        lambda: deal.complete_task(task.id, result="done", by=None, now=T0),
        lambda: deal.reschedule_task(task.id, due_at=T0, now=T0),
        lambda: deal.cancel_task(task.id, reason="again", by=None, now=T0),
    ):
        with pytest.raises(TaskConflict, match="is cancelled"):
            change()


# --- properties --------------------------------------------------------------------------------

FACT_KINDS = (
    "measurement_scheduled",
    "measurement_accepted",
    "measurement_rejected",
    "proposal_saved",
    "decision_postponed",
    "invoice_issued",
    "payment_received",
    "work_delivered",
    "review_collected",
    "note",
    "meeting_held",
)
OPEN_STAGES = [s.id for s in PLAYBOOK.pipeline("client_service").stages if s.kind == "open"]


@st.composite
def histories(draw: st.DrawFn) -> tuple[str, list[tuple[str, datetime]]]:
    """A starting stage and a deal's activities, each with the time it happened."""
    start = draw(st.sampled_from(OPEN_STAGES))
    kinds = draw(st.lists(st.sampled_from(FACT_KINDS), min_size=1, max_size=8, unique=True))
    minutes = draw(st.lists(st.integers(0, 10_000), min_size=len(kinds), max_size=len(kinds), unique=True))
    return start, [(k, T0 + timedelta(minutes=m)) for k, m in zip(kinds, minutes, strict=True)]


def replay(start: str, facts: list[tuple[str, datetime]]) -> Deal:
    deal = new_deal(start)
    arrival = T0 + timedelta(days=30)  # every event arrives after it happened, in the order given
    for step, (kind, at) in enumerate(facts):
        details = {"planned_at": (at + timedelta(days=1)).isoformat(), "until": (at + timedelta(days=5)).isoformat()}
        record(deal, kind, at=at, now=arrival, activity_id=kind, details=details)
        arrival += timedelta(seconds=1 + step)
    return deal


def open_set(deal: Deal) -> set[tuple[str | None, str | None]]:
    return {(t.rule_id, t.occurrence) for t in deal.open_tasks()}


@settings(max_examples=300, deadline=None)
@given(histories(), st.randoms(use_true_random=False))
def test_for_any_arrival_order_of_a_deals_events_the_open_tasks_are_the_same(history, rng):
    start, facts = history
    shuffled = list(facts)
    rng.shuffle(shuffled)
    first, second = replay(start, facts), replay(start, shuffled)
    assert open_set(first) == open_set(second)
    assert first.stage == second.stage
    assert set(first.armed) == set(second.armed)


def _pending(deal: Deal) -> set[str]:
    pending: set[str] = set()
    for change in deal.timer_changes:
        if isinstance(change, Schedule):
            pending.add(change.key)
        else:
            pending.discard(change.key)
    return pending


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.tuples(st.just("act"), st.sampled_from(FACT_KINDS)),
            st.tuples(st.just("move"), st.sampled_from([*OPEN_STAGES, "won"])),
            st.tuples(st.just("lose"), st.just("lost")),
        ),
        max_size=15,
    )
)
def test_the_timers_a_deal_asks_for_always_match_its_open_tasks_and_armed_rules(steps):
    deal = Deal.open(
        "deal-1", playbook=PLAYBOOK, team=FakeTeam(), now=T0, title="x", pipeline_id="client_service", manager_id="anna"
    )
    now = T0
    for action, what in steps:
        now += timedelta(minutes=5)
        try:
            if action == "act":
                record(deal, what, now=now, details={"planned_at": (now + timedelta(days=1)).isoformat()})
            elif action == "move":
                deal.move(what, playbook=PLAYBOOK, team=FakeTeam(), now=now)
            else:
                deal.move("lost", playbook=PLAYBOOK, team=FakeTeam(), now=now, lost_reason="other", comment="x")
        except InvalidMove:
            continue
    expected = {f"{TASK_TIMER}:{t.id}" for t in deal.open_tasks()} | {f"{RULE_TIMER}:deal-1/{k}" for k in deal.armed}
    assert _pending(deal) == expected
    assert deal.stage == deal.history[-1].stage
    assert deal.task_managers == sorted({t.manager_id for t in deal.open_tasks()})
    if deal.outcome == "lost":
        assert deal.open_tasks() == []
        assert deal.armed == []
