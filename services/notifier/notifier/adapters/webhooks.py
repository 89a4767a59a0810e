"""The outgoing webhooks the dispatcher sends to: the subscriptions managed over the API (MongoDB
`webhook_subscriptions`) and those of NOTIFIER_WEBHOOKS_FILE, read through a short cache so every
instance of the notifier sees a change within `refresh_seconds`."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime

from crmhub.aggregate_store import AggregateStore
from notifier.domain.subscriptions import WebhookEndpoint, WebhookSubscription

MAX_SUBSCRIPTIONS = 1000


class WebhookRegistry:
    def __init__(
        self,
        store: AggregateStore[WebhookSubscription] | None,
        *,
        from_file: Sequence[WebhookEndpoint] = (),
        signing_key: str | None = None,
        now: Callable[[], datetime],
        refresh_seconds: float = 2.0,
    ) -> None:
        self.store = store
        self.from_file = tuple(from_file)
        self.signing_key = signing_key
        self.now = now
        self.refresh_seconds = refresh_seconds
        self._cached: list[WebhookEndpoint] | None = None
        self._read_at = 0.0

    async def subscriptions(self) -> list[WebhookSubscription]:
        if self.store is None:
            return []
        found = await self.store.find({"status": {"$in": ["active", "paused"]}}, limit=MAX_SUBSCRIPTIONS)
        return sorted(found, key=lambda s: s.created_at)

    async def endpoints(self) -> list[WebhookEndpoint]:
        if self._cached is None or time.monotonic() - self._read_at > self.refresh_seconds:
            now = self.now()
            managed = (
                [s.endpoint(self.signing_key, now) for s in await self.subscriptions()] if self.signing_key else []
            )
            self._cached = [*self.from_file, *managed]
            self._read_at = time.monotonic()
        return self._cached

    async def endpoint(self, endpoint_id: str) -> WebhookEndpoint | None:
        return next((e for e in await self.endpoints() if e.id == endpoint_id), None)

    def changed(self) -> None:
        """A change made here: read again at once."""
        self._cached = None
