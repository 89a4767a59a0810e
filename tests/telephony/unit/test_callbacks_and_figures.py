from __future__ import annotations

from datetime import UTC, datetime, timedelta

from crmhub.schemas.calls import CallRecord
from support.team import manager
from telephony.domain.callbacks import calls_back, deadline_for, open_callback, record_attempt, record_callback
from telephony.domain.stats import call_figures

T0 = datetime(2026, 11, 27, 14, 50, tzinfo=UTC)  # Friday 17:50 in Moscow
NINE_TO_SIX = {d: [{"start": "09:00", "end": "18:00"}] for d in ("mon", "tue", "wed", "thu", "fri")}


def _call(
    call_id: str, direction: str, caller: str, callee: str, at: datetime, outcome: str = "missed", **extra
) -> CallRecord:
    return CallRecord(
        call_id=call_id,
        provider_id="p",
        provider_call_id=call_id,
        direction=direction,
        caller=caller,
        callee=callee,
        started_at=at,
        ended_at=at + timedelta(seconds=30),
        outcome=outcome,
        **extra,
    )


def test_the_callback_window_counts_in_the_managers_working_time():
    anna = manager("anna", working_hours=NINE_TO_SIX)
    assert deadline_for(T0, timedelta(minutes=30), manager=anna, place="Europe/Moscow") == datetime(
        2026, 11, 30, 6, 20, tzinfo=UTC
    )
    assert deadline_for(T0, timedelta(minutes=30), manager=None, place=None) == T0 + timedelta(minutes=30)


def test_only_a_later_outbound_call_to_the_number_calls_back():
    missed = _call("m1", "inbound", "+79165554433", "+74951110000", T0, manager_id="anna")
    callback = open_callback(missed, window=timedelta(minutes=30), manager=None, place=None)
    assert callback.number == "+79165554433"
    earlier = _call("o0", "outbound", "101", "+79165554433", T0 - timedelta(minutes=5), outcome="answered")
    other = _call("o1", "outbound", "101", "+79160000000", T0 + timedelta(minutes=5), outcome="answered")
    inbound = _call("i1", "inbound", "+79165554433", "+74951110000", T0 + timedelta(minutes=5))
    busy = _call("o2", "outbound", "101", "+79165554433", T0 + timedelta(minutes=8), outcome="busy")
    back = _call("o3", "outbound", "101", "+79165554433", T0 + timedelta(minutes=12), outcome="answered")
    assert [calls_back(callback, c) for c in (earlier, other, inbound, busy, back)] == [
        False,
        False,
        False,
        False,
        True,
    ]
    # a busy line is a try, counted once however often its event comes, and the obligation stays open
    assert record_attempt(callback, busy)
    assert not record_attempt(callback, busy)
    record_callback(callback, busy)
    assert (callback.status, callback.attempts, callback.last_attempt_call_id) == ("open", 1, "o2")
    record_callback(callback, back)
    assert callback.status == "made"
    assert callback.delay_seconds == 12 * 60 - 30
    assert not calls_back(callback, back)
    assert [e.type for e in callback.events] == ["call.callback_made"]
    assert callback.timer_changes[-1].key == "callback.deadline:m1"  # the call back cancels the deadline


def test_a_provider_may_count_any_attempt_as_the_call_back():
    missed = _call("m1", "inbound", "+79165554433", "+74951110000", T0, manager_id="anna")
    callback = open_callback(missed, window=timedelta(minutes=30), manager=None, place=None)
    busy = _call("o2", "outbound", "101", "+79165554433", T0 + timedelta(minutes=8), outcome="busy")
    record_callback(callback, busy, closed_by="attempt")
    assert callback.status == "made"
    assert callback.callback_call_id == "o2"


def test_call_figures_per_manager():
    calls = [
        {"direction": "inbound", "outcome": "answered", "ring_seconds": 10, "talk_seconds": 100, "manager_id": "anna"},
        {"direction": "inbound", "outcome": "answered", "ring_seconds": 20, "talk_seconds": 50, "manager_id": "anna"},
        {"direction": "inbound", "outcome": "missed", "ring_seconds": 30, "manager_id": "anna"},
        {"direction": "outbound", "outcome": "answered", "talk_seconds": 30, "manager_id": "anna"},
        {"direction": "inbound", "outcome": "missed", "manager_id": "boris"},
    ]
    callbacks = [
        {"manager_id": "anna", "delay_seconds": 60},
        {"manager_id": "anna", "delay_seconds": 600},
        {"manager_id": "boris", "overdue_at": T0},
    ]
    figures = {
        f["key"]: f
        for f in call_figures(
            calls, callbacks, group_by="manager", answer_standard_seconds=15, department_of=lambda m: "sales"
        )
    }
    anna = figures["anna"]
    assert (anna["incoming"], anna["outgoing"], anna["missed"], anna["answered_in_time"]) == (3, 1, 1, 1)
    assert anna["answered_in_time_share"] == 1 / 3
    assert anna["average_talk_seconds"] == 60
    assert anna["callback_delay_p50_seconds"] == 330
    assert figures["boris"]["callbacks_overdue"] == 1
    by_department = call_figures(
        calls, callbacks, group_by="department", answer_standard_seconds=15, department_of=lambda m: "sales"
    )
    assert [(f["key"], f["incoming"]) for f in by_department] == [("sales", 4)]
