"""Per-source and per-client-address token buckets (per process): 429 with Retry-After."""

from __future__ import annotations

from crmhub.intake import IntakeError
from crmhub.rate_limit import RateLimiter
from leads import metrics
from leads.adapters.sources import Source


class RateLimited(IntakeError):
    def __init__(self, source_id: str, retry_after: int) -> None:
        super().__init__(
            429,
            "rate_limited",
            f"too many submissions for source {source_id}; retry in {retry_after}s",
            retry_after=retry_after,
        )


class Limits:
    def __init__(self) -> None:
        self._by_source: dict[str, RateLimiter] = {}
        self._by_address: dict[str, RateLimiter] = {}

    def check(self, source: Source, address: str) -> None:
        source_limiter = self._by_source.setdefault(source.id, RateLimiter(per_minute=source.rate_limit_per_minute))
        address_limiter = self._by_address.setdefault(
            source.id, RateLimiter(per_minute=source.ip_rate_limit_per_minute)
        )
        wait = max(address_limiter.acquire(address), source_limiter.acquire(source.id))
        if wait > 0:
            metrics.LEADS_REFUSED.labels(source.id, "429").inc()
            raise RateLimited(source.id, max(1, round(wait)))
