from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from telephony.domain.call import CallFact, merge

T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


@st.composite
def call_facts(draw):
    """The events one call may produce: a start, maybe answers, ends from several legs, recordings, redirects."""
    facts = [
        CallFact(
            "started", "c1", T0, direction="inbound", caller="+79160000001", callee="+74950000000", line="+74950000000"
        )
    ]
    ring = draw(st.integers(1, 60))
    answered = draw(st.booleans())
    if answered:
        facts.append(
            CallFact(
                "answered", "c1", T0 + timedelta(seconds=ring), seq=2, extension=draw(st.sampled_from(["101", "102"]))
            )
        )
    for leg in range(draw(st.integers(1, 3))):
        outcome = (
            "answered" if answered and leg == 0 else draw(st.sampled_from(["missed", "busy", "cancelled", "failed"]))
        )
        talk = draw(st.integers(1, 600)) if outcome == "answered" else None
        facts.append(
            CallFact(
                "ended",
                "c1",
                T0 + timedelta(seconds=ring + (talk or 0) + leg),
                seq=9 + leg,
                outcome=outcome,
                talk_seconds=talk,
            )
        )
    for i in range(draw(st.integers(0, 2))):
        facts.append(
            CallFact("recording", "c1", T0 + timedelta(minutes=20 + i), recording_url=f"https://rec.example/{i}.mp3")
        )
    for ext in draw(st.lists(st.sampled_from(["101", "102", "103"]), max_size=3)):
        facts.append(CallFact("redirected", "c1", T0 + timedelta(seconds=1), redirect_to=ext))
    return facts


@given(facts=call_facts(), data=st.data())
def test_any_order_and_duplication_of_a_calls_events_gives_the_same_record(facts, data):
    delivered = data.draw(st.permutations(facts + data.draw(st.lists(st.sampled_from(facts), max_size=6))))
    assert merge(delivered) == merge(facts)


@given(facts=call_facts())
def test_a_call_anyone_answered_counts_as_answered(facts):
    record = merge(facts)
    assert (record.outcome == "answered") == any(f.kind == "answered" for f in facts)


def test_cdr_style_records_derive_the_answer_time_from_talk_time():
    record = merge(
        [
            CallFact("started", "c", T0),
            CallFact("ended", "c", T0 + timedelta(seconds=70), outcome="answered", talk_seconds=60),
        ]
    )
    assert record.answered_at == T0 + timedelta(seconds=10)
    assert record.ring_seconds == 10
    assert record.is_final


def test_a_call_that_only_started_is_not_final():
    record = merge([CallFact("started", "c", T0, direction="outbound")])
    assert not record.is_final
    assert record.direction == "outbound"


def test_a_call_reported_only_at_its_end_starts_when_it_was_answered_at_the_latest():
    end = T0 + timedelta(seconds=70)
    record = merge([CallFact("ended", "c", end, direction="outbound", outcome="answered", talk_seconds=60)])
    assert record.answered_at == T0 + timedelta(seconds=10)
    assert record.started_at <= record.answered_at


def test_a_reported_start_wins_over_an_answer_time_derived_from_inconsistent_talk_time():
    record = merge(
        [
            CallFact("started", "c", T0, direction="outbound"),
            CallFact("ended", "c", T0 + timedelta(seconds=1), outcome="answered", talk_seconds=40),
        ]
    )
    assert record.started_at == T0
    assert record.answered_at == T0
