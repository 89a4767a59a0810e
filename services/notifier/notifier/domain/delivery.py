"""One notification: an event told to one recipient on one channel. The `Delivery` aggregate
keeps the rendered message, its schedule and attempts, records `notification.delivered` /
`notification.failed`, and asks for the timer that sends it (at once, after quiet hours, at the
end of a burst window, or after a failed attempt's backoff). No I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar, Literal

from crmhub.aggregate import Aggregate
from crmhub.schemas.notifications import NotificationDelivered, NotificationFailed

SOURCE = "/crm/notifier"
SEND_TIMER = "delivery.send"
# Channels a person (or a peer) reads in arrival order: their messages wait until every event
# before theirs has been handled, so they go out in the order the events happened. The inbox is
# a list sorted by time and needs no wait.
IN_ORDER_SEND_TIMER = "delivery.send_in_order"
IN_ARRIVAL_ORDER = frozenset({"email", "telegram", "webhook"})
DeliveryStatus = Literal["pending", "sending", "delivered", "failed"]


class BrokenTemplate(Exception):
    """A template that cannot render this event (a poison message for the consumer)."""


@dataclass(frozen=True)
class Message:
    subject: str
    text: str


@dataclass(frozen=True)
class Policy:
    max_attempts: int = 5
    backoff_seconds: float = 2.0
    burst_limit: int = 5
    burst_window: timedelta = timedelta(minutes=1)


def delivery_id(event_id: str, recipient: str, channel: str) -> str:
    return f"{event_id}:{recipient}:{channel}"


class Delivery(Aggregate):
    """`id` is (cause event, recipient, channel): whatever redelivers the event, it exists once."""

    event_source: ClassVar[str] = SOURCE

    cause_event_id: str
    cause_event_type: str
    event_time: datetime
    created_at: datetime
    urgent: bool
    recipient: str
    channel: str
    subject: str
    text: str
    contacts: dict[str, Any] = {}
    status: DeliveryStatus = "pending"
    digest: bool = False
    not_before: datetime | None = None
    next_attempt_at: datetime
    lease_until: datetime | None = None
    attempts: int = 0
    last_error: str | None = None
    delivered_at: datetime | None = None

    @classmethod
    def queue(
        cls,
        *,
        cause_event_id: str,
        cause_event_type: str,
        event_time: datetime,
        urgent: bool,
        recipient: str,
        channel: str,
        message: Message,
        contacts: dict[str, Any],
        now: datetime,
        not_before: datetime | None,
        in_burst: bool,
        policy: Policy,
    ) -> Delivery:
        """A new delivery; a non-urgent one in a burst is held to go out as one digest at the window's end."""
        digest = in_burst and not urgent
        if digest:
            not_before = max(not_before or now, now + policy.burst_window)
        delivery = cls(
            id=delivery_id(cause_event_id, recipient, channel),
            cause_event_id=cause_event_id,
            cause_event_type=cause_event_type,
            event_time=event_time,
            created_at=now,
            urgent=urgent,
            recipient=recipient,
            channel=channel,
            subject=message.subject,
            text=message.text,
            contacts=contacts,
            digest=digest,
            not_before=not_before,
            next_attempt_at=not_before or now,
        )
        # sent at once, it falls due at its event's time (never later than now: another service's
        # clock may run ahead), so a recipient's messages go out in the order their events happened
        delivery._send_at(not_before or min(event_time, now))
        return delivery

    def _send_at(self, moment: datetime) -> None:
        """The send timer, in the sequence of this recipient's messages on this channel: the
        timers of one sequence fire one after another, oldest due first (per-recipient order)."""
        self.schedule(self.send_timer, moment, in_order_of=f"{self.recipient}|{self.channel}")

    @property
    def send_timer(self) -> str:
        return IN_ORDER_SEND_TIMER if self.channel in IN_ARRIVAL_ORDER else SEND_TIMER

    @property
    def open(self) -> bool:
        return self.status in ("pending", "sending")

    def held_by_another(self, now: datetime) -> bool:
        return self.status == "sending" and self.lease_until is not None and self.lease_until > now

    def claim(self, *, now: datetime, lease: timedelta) -> None:
        """Taken along by a digest: nobody else sends it for `lease`; if the sender dies, its timer fires then."""
        self.status = "sending"
        self.lease_until = now + lease
        self._send_at(self.lease_until)

    def delivered(self, *, now: datetime) -> None:
        if not self.open:
            return
        latency = max(0.0, (now - self.event_time).total_seconds())
        self.status = "delivered"
        self.delivered_at = now
        self.attempts += 1
        self.last_error = None
        self.lease_until = None
        self.cancel_timer(self.send_timer)
        delivered = NotificationDelivered(
            notification_id=self.id,
            cause_event_id=self.cause_event_id,
            cause_event_type=self.cause_event_type,
            recipient=self.recipient,
            channel=self.channel,
            delivered_at=now,
            seconds_since_event=latency,
        )
        self.record_event(delivered, at=now)

    def attempt_failed(
        self, error: str, *, retryable: bool, retry_after: float | None, now: datetime, policy: Policy
    ) -> None:
        """Another attempt later (backoff, or the channel's own Retry-After), or failed for good."""
        if not self.open:
            return
        self.attempts += 1
        self.last_error = error
        self.lease_until = None
        if retryable and self.attempts < policy.max_attempts:
            delay = retry_after if retry_after is not None else policy.backoff_seconds * 2 ** (self.attempts - 1)
            self.status = "pending"
            self.next_attempt_at = now + timedelta(seconds=delay)
            self._send_at(self.next_attempt_at)
            return
        self.status = "failed"
        self.cancel_timer(self.send_timer)
        failed = NotificationFailed(
            notification_id=self.id,
            cause_event_id=self.cause_event_id,
            cause_event_type=self.cause_event_type,
            recipient=self.recipient,
            channel=self.channel,
            attempts=self.attempts,
            last_error=error,
            failed_at=now,
        )
        self.record_event(failed, at=now)

    def retry(self, *, now: datetime) -> bool:
        """A failed notification, sent again by hand; False when it is not failed."""
        if self.status != "failed":
            return False
        self.status = "pending"
        self.attempts = 0
        self.next_attempt_at = now
        self._send_at(now)
        return True
