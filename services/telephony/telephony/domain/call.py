"""One record per call, merged from whatever a provider sends about it. No I/O.

Every provider event becomes one or more `CallFact`s (started, answered, ended, recording,
redirect). The record is a fold over the *set* of facts that depends on nothing but the facts
themselves: any order and any duplication of a call's events give the same record. The `Call`
aggregate keeps the facts and records the events the record deserves, each once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import ClassVar, Literal

from pydantic import BaseModel

from crmhub.aggregate import Aggregate, Schedule
from crmhub.schemas.calls import (
    CallAttempted,
    CallCompleted,
    CallMissed,
    CallRecord,
    CallRecordingReady,
    CallStarted,
    Direction,
    Outcome,
)

FactKind = Literal["started", "answered", "ended", "recording", "redirected"]
# When facts disagree about the outcome, the strongest evidence wins: a call that anybody
# answered was answered, whatever a later leg says.
OUTCOME_STRENGTH: dict[Outcome, int] = {"answered": 5, "busy": 4, "failed": 3, "cancelled": 2, "missed": 1}


@dataclass(frozen=True)
class CallFact:
    """One thing a provider said about a call. Only the fields it knows are set."""

    kind: FactKind
    provider_call_id: str
    at: datetime
    seq: int = 0
    direction: Direction | None = None
    caller: str | None = None
    callee: str | None = None
    line: str | None = None
    extension: str | None = None
    # the provider's user id of the person (Bitrix24's USER_ID), where it names people that way
    user: str | None = None
    outcome: Outcome | None = None
    talk_seconds: float | None = None
    recording_url: str | None = None
    # the provider's id of a recording that is fetched through its API (Zadarma, Mango)
    recording_id: str | None = None
    redirect_to: str | None = None
    # False when the provider gives no time and `at` is when the hub received it: a redelivery
    # arrives later but is the same fact
    at_given: bool = True

    @property
    def fact_id(self) -> str:
        """Equal facts have equal ids: a redelivered event adds nothing."""
        fields = {k: v for k, v in self.__dict__.items() if self.at_given or k != "at"}
        body = json.dumps(
            {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in fields.items()}, sort_keys=True
        )
        return hashlib.sha256(body.encode()).hexdigest()[:32]


def _strongest(outcomes: list[Outcome]) -> Outcome:
    return sorted(outcomes, key=OUTCOME_STRENGTH.__getitem__)[-1]


def _order(fact: CallFact) -> tuple[datetime, int, str]:
    return fact.at, fact.seq, fact.fact_id


def _first(facts: Iterable[CallFact], attribute: str) -> str | None:
    for fact in sorted(facts, key=_order):
        value = getattr(fact, attribute)
        if value:
            return str(value)
    return None


@dataclass(frozen=True)
class Numbers:
    """How a provider's raw numbers become E.164 (unparseable ones are kept as given, flagged)."""

    caller: str
    callee: str
    caller_valid: bool
    callee_valid: bool


@dataclass(frozen=True)
class MergedCall:
    provider_call_id: str
    direction: Direction
    caller: str | None
    callee: str | None
    line: str | None
    extension: str | None
    user: str | None
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    outcome: Outcome | None
    talk_seconds: float | None
    recording_url: str | None
    recording_id: str | None = None
    redirects: tuple[str, ...] = field(default=())

    @property
    def is_final(self) -> bool:
        return self.outcome is not None and self.ended_at is not None

    @property
    def ring_seconds(self) -> float | None:
        until = self.answered_at or self.ended_at
        return None if until is None else max(0.0, (until - self.started_at).total_seconds())


def merge(facts: Iterable[CallFact], *, default_direction: Direction = "inbound") -> MergedCall:
    """Fold a call's facts into its record; the same set of facts always gives the same record."""
    unique = {f.fact_id: f for f in facts}
    ordered = sorted(unique.values(), key=_order)
    if not ordered:
        raise ValueError("a call needs at least one fact")
    starts = [f.at for f in ordered if f.kind == "started"]
    answers = [f.at for f in ordered if f.kind == "answered"]
    ends = [f for f in ordered if f.kind == "ended"]
    outcomes: list[Outcome] = []
    for fact in ends:
        if fact.outcome is not None:
            outcomes.append(fact.outcome)
    if answers and outcomes and "answered" not in outcomes:
        outcomes.append("answered")
    outcome = _strongest(outcomes) if outcomes else None
    ended_at = max((f.at for f in ends), default=None)
    talk = [f.talk_seconds for f in ends if f.talk_seconds is not None]
    answered_at = min(answers) if answers else None
    if answered_at is not None and ended_at is not None and answered_at > ended_at:
        answered_at = None  # an answer stamped on arrival, after the end: the end and talk time say more
    if answered_at is None and outcome == "answered" and ended_at is not None and talk:
        answered_at = ended_at - timedelta(seconds=max(talk))  # CDR-style: only the end and the talk time
        if starts:
            answered_at = max(answered_at, min(starts))  # a reported start wins over a derived answer
    recordings = [f for f in ordered if f.recording_url]
    recording_ids = [f.recording_id for f in ordered if f.recording_id]
    return MergedCall(
        provider_call_id=ordered[0].provider_call_id,
        direction=_first(ordered, "direction") or default_direction,  # type: ignore[arg-type]
        caller=_first(ordered, "caller"),
        callee=_first(ordered, "callee"),
        line=_first(ordered, "line"),
        extension=_last_extension(ordered),
        user=_last_user(ordered),
        # a call reported only at its end (CDR style) started no later than it was answered
        started_at=min(starts) if starts else min(answered_at or ordered[0].at, ordered[0].at),
        answered_at=answered_at,
        ended_at=ended_at,
        outcome=outcome,
        talk_seconds=max(talk)
        if talk
        else (max(0.0, (ended_at - answered_at).total_seconds()) if ended_at and answered_at else None),
        recording_url=recordings[-1].recording_url if recordings else None,
        recording_id=recording_ids[-1] if recording_ids else None,
        redirects=tuple(dict.fromkeys(f.redirect_to for f in ordered if f.redirect_to)),
    )


def _last_user(ordered: list[CallFact]) -> str | None:
    users = [f.user for f in ordered if f.user]
    return users[-1] if users else None


def _last_extension(ordered: list[CallFact]) -> str | None:
    """The extension that answered, else the last one the call reached."""
    answered = [f.extension for f in ordered if f.kind == "answered" and f.extension]
    if answered:
        return answered[0]
    reached = [f.extension for f in ordered if f.extension]
    return reached[-1] if reached else None


def to_record(
    merged: MergedCall,
    *,
    call_id: str,
    provider_id: str,
    numbers: Numbers,
    line: str | None,
    campaign: str | None,
    manager_id: str | None,
    recording_link: str | None = None,
) -> CallRecord:
    return CallRecord(
        call_id=call_id,
        provider_id=provider_id,
        provider_call_id=merged.provider_call_id,
        direction=merged.direction,
        caller=numbers.caller,
        callee=numbers.callee,
        caller_valid=numbers.caller_valid,
        callee_valid=numbers.callee_valid,
        line=line,
        campaign=campaign,
        manager_id=manager_id,
        started_at=merged.started_at,
        answered_at=merged.answered_at,
        ended_at=merged.ended_at,
        ring_seconds=merged.ring_seconds,
        talk_seconds=merged.talk_seconds,
        outcome=merged.outcome,
        recording_url=merged.recording_url or (recording_link if merged.recording_id else None),
        recording_id=merged.recording_id,
        redirects=list(merged.redirects),
    )


SOURCE = "/crm/telephony"
# A final call still missing its start (and so the client's number) is published with what is
# known once this timer fires (the provider's start may never come).
SETTLE_TIMER = "call.settle"


class Published(BaseModel):
    """Which of the call's events were recorded already: each is published once."""

    started: bool = False
    final: bool = False
    recordings: list[str] = []


def final_event(record: CallRecord) -> CallCompleted | CallMissed | CallAttempted:
    """An answered call is completed; an inbound one nobody answered is missed (somebody must
    call back); an outbound or internal one nobody answered was only an attempt."""
    if record.outcome == "answered":
        return CallCompleted(call=record)
    if record.direction == "inbound":
        return CallMissed(call=record)
    return CallAttempted(call=record)


class Call(Aggregate):
    """One call: the facts received (deduplicated by fact id), the merged record, and what was
    announced. `id` is the hub's call id."""

    event_source: ClassVar[str] = SOURCE

    provider_id: str
    facts: list[CallFact] = []
    record: CallRecord | None = None
    final: bool = False
    published: Published = Published()

    def add_facts(
        self,
        new: Iterable[CallFact],
        *,
        record_of: Callable[[MergedCall], CallRecord],
        now: datetime,
        settle_after: timedelta,
    ) -> bool:
        """Take in what a provider said; False when every fact was known (nothing changes)."""
        known = {f.fact_id for f in self.facts}
        added = {f.fact_id: f for f in new if f.fact_id not in known}
        if not added:
            return False
        self.facts = [*self.facts, *added.values()]
        self._announce(record_of(merge(self.facts)), settled=False, now=now, settle_after=settle_after)
        return True

    def settle(self, *, record_of: Callable[[MergedCall], CallRecord], now: datetime) -> None:
        """The start never came: publish the final outcome with what is known."""
        if self.final and not self.published.final:
            self._announce(record_of(merge(self.facts)), settled=True, now=now, settle_after=timedelta(0))

    def _announce(self, record: CallRecord, *, settled: bool, now: datetime, settle_after: timedelta) -> None:
        """Record the events this record now deserves that were not recorded before.

        The final outcome waits until the client's number is known: providers may deliver a
        call's end before its start, and the outcome is published only once.
        """
        self.record = record
        self.final = record.outcome is not None and record.ended_at is not None
        published = self.published.model_copy(deep=True)
        if not published.started:
            self.record_event(CallStarted(call=record), at=now)
            published.started = True
        if self.final and not published.final:
            if record.client_number or settled:
                self.record_event(final_event(record), at=now)
                published.final = True
                self.cancel_timer(SETTLE_TIMER)
            elif not any(isinstance(c, Schedule) and c.kind == SETTLE_TIMER for c in self.timer_changes):
                # counted from when the end arrived: a CDR posted long after the call still
                # gives the provider's start its chance to arrive
                self.schedule(SETTLE_TIMER, now + settle_after)
        if self.final and record.recording_url and record.recording_url not in published.recordings:
            self.record_event(CallRecordingReady(call_id=record.call_id, recording_url=record.recording_url), at=now)
            published.recordings = [*published.recordings, record.recording_url]
        self.published = published
