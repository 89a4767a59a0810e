"""The notification log, a failed notification sent again, and the in-app inbox."""

from __future__ import annotations

from typing import Any

from crmhub.aggregate import NotFound
from crmhub.mongo import Document
from notifier.domain.delivery import Delivery
from notifier.service_layer.context import Notifier


async def notifications(
    deps: Notifier, filters: dict[str, Any], *, limit: int, offset: int
) -> tuple[list[Delivery], int]:
    return await deps.store.search(filters, limit=limit, offset=offset)


async def retry(deps: Notifier, notification_id: str) -> tuple[Delivery, bool]:
    """(the delivery, whether it was failed and is now queued again). NotFound when there is none."""
    queued = False

    def again(delivery: Delivery) -> None:
        nonlocal queued
        queued = delivery.retry(now=deps.now())

    return await deps.store.deliveries.change(notification_id, again), queued


async def inbox(
    deps: Notifier, manager_id: str, *, unread_only: bool, limit: int, offset: int
) -> tuple[list[Document], int]:
    return await deps.store.inbox_of(manager_id, unread_only=unread_only, limit=limit, offset=offset)


async def mark_read(deps: Notifier, manager_id: str, message_id: str) -> None:
    if not await deps.store.mark_read(manager_id, message_id, deps.now()):
        raise NotFound(f"no message {message_id!r} for {manager_id}")
