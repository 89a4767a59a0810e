"""Call events on `crm.calls` (key = call id), published by the telephony service."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict

from crmhub import topics
from crmhub.events import EventData

Direction = Literal["inbound", "outbound", "internal"]
Outcome = Literal["answered", "missed", "busy", "failed", "cancelled"]


class CallRecord(BaseModel):
    """One call, merged from all of a provider's events about it."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    call_id: str
    provider_id: str
    provider_call_id: str
    direction: Direction
    caller: str
    callee: str
    caller_valid: bool = True
    callee_valid: bool = True
    line: str | None = None
    campaign: str | None = None
    manager_id: str | None = None
    started_at: datetime
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    ring_seconds: float | None = None
    talk_seconds: float | None = None
    outcome: Outcome | None = None
    # a provider's own recording URL, or the hub's link that fetches a fresh one from the
    # provider's API (`recording_id` is the provider's id of it)
    recording_url: str | None = None
    recording_id: str | None = None
    redirects: list[str] = []

    @property
    def client_number(self) -> str:
        """The outside party: the caller of an inbound call, the callee of an outbound one."""
        return self.callee if self.direction == "outbound" else self.caller


class CallStarted(EventData):
    event_type: ClassVar[str] = "call.started"
    topic: ClassVar[topics.Topic] = topics.CALLS
    call: CallRecord


class CallCompleted(EventData):
    """The call ended after somebody answered."""

    event_type: ClassVar[str] = "call.completed"
    topic: ClassVar[topics.Topic] = topics.CALLS
    call: CallRecord


class CallAttempted(EventData):
    """An outbound (or internal) call that ended without anybody answering: busy, no answer,
    failed or cancelled. An attempt is not a conversation: it does not count as a call made and
    does not fulfil a call-back (see docs/telephony.md)."""

    event_type: ClassVar[str] = "call.attempted"
    topic: ClassVar[topics.Topic] = topics.CALLS
    call: CallRecord


class CallMissed(EventData):
    """An inbound call ended without an answer: somebody must call back."""

    event_type: ClassVar[str] = "call.missed"
    topic: ClassVar[topics.Topic] = topics.CALLS
    call: CallRecord


class CallRecordingReady(EventData):
    event_type: ClassVar[str] = "call.recording_ready"
    topic: ClassVar[topics.Topic] = topics.CALLS
    call_id: str
    recording_url: str


class CallbackMade(EventData):
    """The first outbound call to a number after a missed call from it."""

    event_type: ClassVar[str] = "call.callback_made"
    topic: ClassVar[topics.Topic] = topics.CALLS
    missed_call_id: str
    callback_call_id: str
    number: str
    manager_id: str | None = None
    delay_seconds: float


class CallbackOverdue(EventData):
    """Nobody called back a missed call within the window of working time."""

    event_type: ClassVar[str] = "call.callback_overdue"
    topic: ClassVar[topics.Topic] = topics.CALLS
    call: CallRecord
    deadline: datetime
    # whose obligation it was: the manager of the number's open lead, else the one the call was meant for
    manager_id: str | None = None
