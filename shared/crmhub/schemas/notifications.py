"""Notification outcomes on `crm.notifications` (key = notification id), from the notifier."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from crmhub import topics
from crmhub.events import EventData


class NotificationDelivered(EventData):
    event_type: ClassVar[str] = "notification.delivered"
    topic: ClassVar[topics.Topic] = topics.NOTIFICATIONS

    notification_id: str
    cause_event_id: str
    cause_event_type: str
    recipient: str
    channel: str
    delivered_at: datetime
    seconds_since_event: float


class NotificationFailed(EventData):
    """Every attempt failed (or the channel refused for good): somebody must look."""

    event_type: ClassVar[str] = "notification.failed"
    topic: ClassVar[topics.Topic] = topics.NOTIFICATIONS

    notification_id: str
    cause_event_id: str
    cause_event_type: str
    recipient: str
    channel: str
    attempts: int
    last_error: str
    failed_at: datetime
