"""The notifier's use cases.

Receiving an event: route it, resolve recipients from the team directory, render the message
in each recipient's language, and store one delivery per (event, recipient, channel) with a
unique id: whatever redelivers the event, the delivery exists once. That is the consumer's
whole effect, so the offset is committed only once the deliveries are stored.

Dispatching: a loop takes due deliveries under a short lease (a crashed sender's lease expires
and another picks it up), sends, and records the outcome: delivered, another attempt later
(exponential backoff, or the channel's own Retry-After), or failed after the last attempt
(with `notification.failed`). Non-urgent messages wait out the recipient's quiet hours, and a
burst to one recipient is folded into one digest.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from crmhub.events import CloudEvent, EventData, PoisonMessage, new_event
from crmhub.schemas.notifications import NotificationDelivered, NotificationFailed
from crmhub.schemas.team import Channel
from crmhub.team_directory import TeamDirectory
from notifier import metrics
from notifier.adapters.channels import Channels, DeliveryError, Outgoing
from notifier.adapters.delivery_store import DeliveryStore, delivery_id
from notifier.domain.routing import Route, not_before, recipients_for
from notifier.domain.templates import BrokenTemplate, Message, Templates

log = logging.getLogger("notifier.handlers")
SOURCE = "/crm/notifier"
# Longer than any channel's timeout (10 s): a sender that died holding a delivery frees it then.
LEASE = timedelta(seconds=30)


@dataclass(frozen=True)
class WebhookEndpoint:
    id: str
    url: str
    secret: str
    event_types: tuple[str, ...]


@dataclass(frozen=True)
class Policy:
    default_channels: tuple[Channel, ...] = ("inbox", "log")
    max_attempts: int = 5
    backoff_seconds: float = 2.0
    burst_limit: int = 5
    burst_window: timedelta = timedelta(minutes=1)


class NotifierHandlers:
    def __init__(
        self,
        *,
        store: DeliveryStore,
        directory: TeamDirectory,
        channels: Channels,
        templates: Templates,
        routes: Sequence[Route],
        webhooks: Sequence[WebhookEndpoint] = (),
        policy: Policy = Policy(),
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.directory = directory
        self.channels = channels
        self.templates = templates
        self.routes = {r.event_type: r for r in routes}
        self.webhooks = list(webhooks)
        self.policy = policy
        self.now = now

    # --- events -> deliveries ---------------------------------------------------------------------

    async def on_event(self, event: CloudEvent, payload: EventData) -> None:
        route = self.routes.get(event.type)
        now = self.now()
        base = {"cause_event_id": event.id, "cause_event_type": event.type, "event_time": event.time, "created_at": now, "urgent": bool(route and route.urgent)}
        if route is not None:
            for recipient in recipients_for(route, event.data, self.directory, default_channels=self.policy.default_channels):
                try:
                    message = self.templates.render(route.template, recipient.language, event.data, timezone=recipient.timezone)
                except BrokenTemplate as exc:
                    metrics.BROKEN_TEMPLATES.labels(route.template, recipient.language).inc()
                    raise PoisonMessage(str(exc)) from exc
                wait_until = not_before(recipient, urgent=route.urgent, now=now)
                for channel in recipient.channels:
                    contacts: dict[str, Any] = {"email": recipient.email, "telegram_chat_id": recipient.telegram_chat_id}
                    await self._add(base, recipient.manager_id, channel, message, wait_until, contacts)
        for endpoint in self.webhooks:
            if event.type in endpoint.event_types or "*" in endpoint.event_types:
                message = Message(subject=event.type, text=f"{event.type} {event.subject}")
                contacts = {
                    "webhook_id": endpoint.id,
                    "payload": {"event_id": event.id, "event_type": event.type, "subject": event.subject, "data": event.data},
                }
                await self._add({**base, "urgent": True}, f"webhook:{endpoint.id}", "webhook", message, None, contacts)

    async def _add(self, base: dict[str, Any], recipient: str, channel: str, message: Message, wait_until: datetime | None, contacts: dict[str, Any]) -> None:
        now = base["created_at"]
        digest = False
        if not base["urgent"] and await self.store.recent_count(recipient, channel, now - self.policy.burst_window) >= self.policy.burst_limit:
            digest = True  # a burst: fold the rest into one message at the end of the window
            wait_until = max(wait_until or now, now + self.policy.burst_window)
        delivery = {
            "_id": delivery_id(base["cause_event_id"], recipient, channel),
            **base,
            "recipient": recipient,
            "channel": channel,
            "subject": message.subject,
            "text": message.text,
            "contacts": contacts,
            "status": "pending",
            "digest": digest,
            "not_before": wait_until,
            "next_attempt_at": wait_until or now,
            "attempts": 0,
            "last_error": None,
            "delivered_at": None,
        }
        if await self.store.add(delivery):
            metrics.NOTIFICATIONS.labels(channel, "queued").inc()

    # --- dispatching ---------------------------------------------------------------------------------

    async def dispatch_due(self, concurrency: int = 8) -> int:
        """Send what is due, a few at a time: one slow recipient does not hold up the others."""
        limit = asyncio.Semaphore(concurrency)

        async def one(doc: dict[str, Any]) -> int:
            async with limit:
                return await self.deliver(doc)

        batch, digests = [], set()
        for doc in await self.store.due(self.now()):
            if doc["digest"]:
                key = (doc["recipient"], doc["channel"])
                if key in digests:
                    continue  # the first held message of this recipient takes the others along
                digests.add(key)
            batch.append(doc)
        return sum(await asyncio.gather(*(one(doc) for doc in batch)))

    async def deliver(self, doc: dict[str, Any]) -> int:
        now = self.now()
        claimed = await self.store.update(doc, {"status": "sending", "next_attempt_at": now + LEASE})
        if claimed is None:
            return 0  # another dispatcher has it
        batch = [claimed]
        if claimed["digest"]:
            for other in await self.store.held_for(claimed["recipient"], claimed["channel"]):
                if other["_id"] != claimed["_id"] and (taken := await self.store.update(other, {"status": "sending", "next_attempt_at": now + LEASE})):
                    batch.append(taken)
        outgoing = self._outgoing(batch)
        try:
            await self.channels.send(claimed["channel"], outgoing)
        except DeliveryError as exc:
            for item in batch:
                await self._failed_attempt(item, exc)
            return 0
        for item in batch:
            await self._delivered(item)
        return len(batch)

    def _outgoing(self, batch: list[dict[str, Any]]) -> Outgoing:
        first = batch[0]
        contacts = first.get("contacts") or {}
        endpoint = next((w for w in self.webhooks if w.id == contacts.get("webhook_id")), None)
        subject, text = first["subject"], first["text"]
        if len(batch) > 1:
            subject = f"{len(batch)} notifications: {first['subject']} …"
            text = "\n\n".join(f"• {item['subject']}\n{item['text']}" for item in batch)
        return Outgoing(
            notification_id=first["_id"],
            recipient=first["recipient"],
            subject=subject,
            text=text,
            email=contacts.get("email"),
            telegram_chat_id=contacts.get("telegram_chat_id"),
            webhook_url=endpoint.url if endpoint else None,
            webhook_secret=endpoint.secret if endpoint else None,
            payload=contacts.get("payload"),
        )

    async def _delivered(self, doc: dict[str, Any]) -> None:
        now = self.now()
        event_time = doc["event_time"] if isinstance(doc["event_time"], datetime) else datetime.fromisoformat(str(doc["event_time"]))
        if event_time.tzinfo is None:
            event_time = event_time.replace(tzinfo=UTC)
        latency = max(0.0, (now - event_time).total_seconds())
        delivered = NotificationDelivered(
            notification_id=doc["_id"],
            cause_event_id=doc["cause_event_id"],
            cause_event_type=doc["cause_event_type"],
            recipient=doc["recipient"],
            channel=doc["channel"],
            delivered_at=now,
            seconds_since_event=latency,
        )
        event = new_event(delivered, source=SOURCE, subject=doc["_id"], time=now)
        await self.store.update(doc, {"status": "delivered", "delivered_at": now, "attempts": doc["attempts"] + 1, "last_error": None}, [event])
        metrics.NOTIFICATIONS.labels(doc["channel"], "delivered").inc()
        metrics.DELIVERY_LATENCY.labels(doc["channel"]).observe(latency)

    async def _failed_attempt(self, doc: dict[str, Any], error: DeliveryError) -> None:
        now = self.now()
        attempts = doc["attempts"] + 1
        if error.retryable and attempts < self.policy.max_attempts:
            delay = error.retry_after if error.retry_after is not None else self.policy.backoff_seconds * 2 ** (attempts - 1)
            await self.store.update(
                doc, {"status": "pending", "attempts": attempts, "last_error": str(error), "next_attempt_at": now + timedelta(seconds=delay)}
            )
            metrics.NOTIFICATIONS.labels(doc["channel"], "retried").inc()
            log.warning("delivery %s failed (attempt %d), next in %.1fs: %s", doc["_id"], attempts, delay, error)
            return
        failed = NotificationFailed(
            notification_id=doc["_id"],
            cause_event_id=doc["cause_event_id"],
            cause_event_type=doc["cause_event_type"],
            recipient=doc["recipient"],
            channel=doc["channel"],
            attempts=attempts,
            last_error=str(error),
            failed_at=now,
        )
        event = new_event(failed, source=SOURCE, subject=doc["_id"], time=now)
        await self.store.update(doc, {"status": "failed", "attempts": attempts, "last_error": str(error)}, [event])
        metrics.NOTIFICATIONS.labels(doc["channel"], "failed").inc()
        log.error("delivery %s failed for good after %d attempt(s): %s", doc["_id"], attempts, error)

    async def retry(self, notification_id: str) -> dict[str, Any] | None:
        doc = await self.store.get(notification_id)
        if doc is None or doc["status"] != "failed":
            return doc
        return await self.store.update(doc, {"status": "pending", "attempts": 0, "next_attempt_at": self.now(), "last_error": doc.get("last_error")})
