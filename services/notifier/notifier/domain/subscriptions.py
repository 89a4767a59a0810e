"""Outgoing webhook subscriptions managed over the API: which events go to which URL, paused or
not, and which signing secret is current. No I/O.

No secret is stored: a subscription's signing secret is derived from the service's signing key
(NOTIFIER_WEBHOOK_SIGNING_KEY) and the subscription's id and `secret_version`, shown once when
it is created or rotated. Rotating bumps the version; for `ROTATION_GRACE` the previous secret
still signs too (two `v1=` signatures), so a receiver can switch without losing a delivery.
Every change records `audit.recorded` in the same write.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar, Literal

from crmhub.aggregate import Aggregate
from crmhub.audit import Caller, audit_record

SOURCE = "/crm/notifier"
ROTATION_GRACE = timedelta(hours=24)
Status = Literal["active", "paused", "deleted"]


@dataclass(frozen=True)
class WebhookEndpoint:
    """Where deliveries go, as the dispatcher sees it: from the API (a subscription) or the file."""

    id: str
    url: str
    secrets: tuple[str, ...]
    event_types: tuple[str, ...]
    active: bool = True
    # only events that happened from this moment: a new subscription gets no history
    since: datetime | None = None
    source: Literal["api", "file"] = "file"

    def wants(self, event_type: str, at: datetime) -> bool:
        return (
            self.active
            and (event_type in self.event_types or "*" in self.event_types)
            and (self.since is None or at >= self.since)
        )


def derived_secret(signing_key: str, subscription_id: str, version: int) -> str:
    digest = hmac.new(signing_key.encode(), f"webhook:{subscription_id}:{version}".encode(), hashlib.sha256).digest()
    return "whsec_" + base64.urlsafe_b64encode(digest).decode().rstrip("=")


class WebhookSubscription(Aggregate):
    """`id` is the subscription's id (`wh_…`)."""

    event_source: ClassVar[str] = SOURCE

    url: str
    event_types: list[str]
    description: str | None = None
    status: Status = "active"
    secret_version: int = 1
    previous_secret_until: datetime | None = None
    created_at: datetime
    updated_at: datetime

    def view(self) -> dict[str, Any]:
        """What the API shows: never a secret."""
        return self.model_dump(mode="json")

    def endpoint(self, signing_key: str, now: datetime) -> WebhookEndpoint:
        return WebhookEndpoint(
            id=self.id,
            url=self.url,
            secrets=self.secrets(signing_key, now),
            event_types=tuple(self.event_types),
            active=self.status == "active",
            since=self.created_at,
            source="api",
        )

    def secrets(self, signing_key: str, now: datetime) -> tuple[str, ...]:
        """The secrets that sign a delivery now: the current one, and the previous within its grace."""
        current = derived_secret(signing_key, self.id, self.secret_version)
        if self.previous_secret_until is not None and now < self.previous_secret_until:
            return current, derived_secret(signing_key, self.id, self.secret_version - 1)
        return (current,)

    def _audit(self, caller: Caller, action: str, before: dict[str, Any] | None, now: datetime) -> None:
        self.acting(caller.actor)
        record = audit_record(
            caller, action=action, entity=f"webhook:{self.id}", at=now, before=before, after=self.view()
        )
        self.record_event(record, at=now, subject=f"webhook:{self.id}")

    def created(self, caller: Caller, now: datetime) -> None:
        self._audit(caller, "webhook.created", None, now)

    def change(
        self,
        caller: Caller,
        now: datetime,
        *,
        url: str | None = None,
        event_types: list[str] | None = None,
        status: Status | None = None,
        description: str | None = None,
    ) -> bool:
        before = self.view()
        if url is not None:
            self.url = url
        if event_types is not None:
            self.event_types = event_types
        if status is not None:
            self.status = status
        if description is not None:
            self.description = description
        if self.view() == before:
            return False
        self.updated_at = now
        self._audit(caller, "webhook.changed", before, now)
        return True

    def delete(self, caller: Caller, now: datetime) -> None:
        before = self.view()
        self.status = "deleted"
        self.updated_at = now
        self._audit(caller, "webhook.deleted", before, now)

    def rotate(self, caller: Caller, now: datetime) -> None:
        before = self.view()
        self.secret_version += 1
        self.previous_secret_until = now + ROTATION_GRACE
        self.updated_at = now
        self._audit(caller, "webhook.secret_rotated", before, now)
