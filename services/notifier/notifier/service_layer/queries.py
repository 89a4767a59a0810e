"""The notification log, a failed notification sent again, and the in-app inbox."""

from __future__ import annotations

from typing import Any

from crmhub.aggregate import NotFound
from crmhub.audit import Caller, audit_record
from crmhub.mongo import Document
from notifier.domain.delivery import Delivery
from notifier.service_layer.context import Notifier


async def notifications(
    deps: Notifier, filters: dict[str, Any], *, limit: int, offset: int
) -> tuple[list[Delivery], int]:
    return await deps.store.search(filters, limit=limit, offset=offset)


async def retry(deps: Notifier, caller: Caller, notification_id: str) -> tuple[Delivery, bool]:
    """(the delivery, whether it was failed and is now queued again). NotFound when there is none."""
    queued = False

    def again(delivery: Delivery) -> None:
        nonlocal queued
        before = {"status": delivery.status, "attempts": delivery.attempts}
        delivery.acting(caller.actor)
        queued = delivery.retry(now=deps.now())
        if queued:
            after = {"status": delivery.status, "attempts": delivery.attempts}
            record = audit_record(
                caller,
                action="notification.retried",
                entity=f"notification:{delivery.id}",
                at=deps.now(),
                before=before,
                after=after,
            )
            delivery.record_event(record, at=deps.now())

    return await deps.store.deliveries.change(notification_id, again), queued


async def inbox(
    deps: Notifier, manager_id: str, *, unread_only: bool, limit: int, offset: int
) -> tuple[list[Document], int]:
    return await deps.store.inbox_of(manager_id, unread_only=unread_only, limit=limit, offset=offset)


async def mark_read(deps: Notifier, manager_id: str, message_id: str) -> None:
    if not await deps.store.mark_read(manager_id, message_id, deps.now()):
        raise NotFound(f"no message {message_id!r} for {manager_id}")
