"""Sending: a delivery's timer fires, the message goes out on its channel, and the outcome is
recorded: delivered, another attempt later (exponential backoff, or the channel's own
Retry-After), or failed after the last attempt (with `notification.failed`). The timer's lease
keeps two instances from sending one delivery at once; a digest first claims every held message
of its recipient, so each one goes out in exactly one digest."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TypeVar

from pymongo.errors import ConnectionFailure

from crmhub.timers import NotYet, Timer
from notifier import metrics
from notifier.adapters.channels import DeliveryError, Outgoing
from notifier.domain.delivery import Delivery
from notifier.service_layer.context import Notifier

log = logging.getLogger("notifier.dispatch")
# How long a sent message's "delivered" is retried while the database is unreachable, before the
# timer is left to fire again (and send again). Below the timer's 30 s lease, so no other
# instance takes the delivery meanwhile.
RECORD_PATIENCE_SECONDS = 25.0
T = TypeVar("T")


async def send(deps: Notifier, timer: Timer) -> None:
    store = deps.store.deliveries
    delivery = await store.get(timer.subject)
    now = deps.now()
    if delivery is None:
        raise NotYet(timer.subject)  # its first write is a moment away
    if not delivery.open or delivery.held_by_another(now):
        return  # sent, failed for good, or in a digest another sender holds (its timer stays)
    batch = [delivery]
    if delivery.digest:
        batch = await _claim_digest(deps, delivery, now)
        if delivery.id not in {d.id for d in batch}:
            # another sender is folding this recipient's digest: look again shortly (if it took
            # this one along, there is nothing to do then; if it died, this one goes out)
            assert store.timers is not None
            await store.timers.schedule(timer.key, timer.kind, now + timedelta(seconds=1))
            if not batch:
                return
    try:
        await deps.channels.send(batch[0].channel, await _outgoing(deps, batch))
    except DeliveryError as exc:
        for item in batch:
            await _failed_attempt(deps, item, exc)
        return
    for item in batch:

        async def mark_delivered(item: Delivery = item) -> Delivery:
            # as loaded (one read fewer); if it changed meanwhile, or an earlier try was written
            # and only its answer lost, read it again and decide on what is stored
            if item.open and item.version is not None:
                loaded = item.model_copy(deep=True)
                loaded.delivered(now=deps.now())
                if await store.save(loaded):
                    return loaded
            return await store.change(item.id, lambda d: d.delivered(now=deps.now()))

        sent = await _after_sending(mark_delivered)
        metrics.NOTIFICATIONS.labels(item.channel, "delivered").inc()
        if sent.delivered_at is not None:
            metrics.DELIVERY_LATENCY.labels(item.channel).observe(
                max(0.0, (sent.delivered_at - sent.event_time).total_seconds())
            )


async def _after_sending(write: Callable[[], Awaitable[T]]) -> T:
    """Record what was sent, waiting out a database outage: a message that went out must not go
    out again because the database was down at the moment it was to be marked delivered (SMTP
    and Telegram cannot take a message back or recognise it twice)."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + RECORD_PATIENCE_SECONDS
    pause = 0.1
    while True:
        try:
            return await write()
        except ConnectionFailure:
            if loop.time() + pause > give_up:
                raise
            log.warning("sent, but the database is unreachable; recording it again in %.1f s", pause)
            await asyncio.sleep(pause)
            pause = min(pause * 2, 2.0)


async def _failed_attempt(deps: Notifier, item: Delivery, exc: DeliveryError) -> None:
    def fail(delivery: Delivery) -> None:
        delivery.attempt_failed(
            str(exc), retryable=exc.retryable, retry_after=exc.retry_after, now=deps.now(), policy=deps.policy
        )

    after = await deps.store.deliveries.change(item.id, fail)
    if after.status == "failed":
        metrics.NOTIFICATIONS.labels(item.channel, "failed").inc()
        log.error("delivery %s failed for good after %d attempt(s): %s", item.id, after.attempts, exc)
    else:
        metrics.NOTIFICATIONS.labels(item.channel, "retried").inc()
        log.warning(
            "delivery %s failed (attempt %d), next at %s: %s",
            item.id,
            after.attempts,
            after.next_attempt_at.isoformat(),
            exc,
        )


async def _claim_digest(deps: Notifier, delivery: Delivery, now: datetime) -> list[Delivery]:
    """Claim the recipient's held messages oldest first; stop at the first one another sender
    holds, so two senders never split one digest between them."""
    batch: list[Delivery] = []
    for held in await deps.store.held_for(delivery.recipient, delivery.channel):
        if held.held_by_another(now):  # another sender is folding this digest: leave it the rest
            break
        held.claim(now=now, lease=deps.lease)
        if not await deps.store.deliveries.save(held):
            break
        batch.append(held)
    return batch


async def _outgoing(deps: Notifier, batch: list[Delivery]) -> Outgoing:
    first = batch[0]
    contacts = first.contacts or {}
    endpoint = await deps.webhooks.endpoint(str(contacts["webhook_id"])) if contacts.get("webhook_id") else None
    subject, text = first.subject, first.text
    if len(batch) > 1:
        subject = f"{len(batch)} notifications: {first.subject} …"
        text = "\n\n".join(f"• {item.subject}\n{item.text}" for item in batch)
    return Outgoing(
        notification_id=first.id,
        recipient=first.recipient,
        subject=subject,
        text=text,
        email=contacts.get("email"),
        telegram_chat_id=contacts.get("telegram_chat_id"),
        webhook_url=endpoint.url if endpoint else None,
        webhook_secrets=endpoint.secrets if endpoint else (),
        payload=contacts.get("payload"),
        attachments=tuple(contacts.get("attachments") or ()) if len(batch) == 1 else (),
    )
