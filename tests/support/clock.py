"""A clock the test moves by hand, for the use cases and timers that take `now`."""

from __future__ import annotations

from datetime import UTC, datetime


class Clock:
    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime(2026, 11, 26, 9, 0, tzinfo=UTC)  # Thursday, 12:00 in Moscow

    def __call__(self) -> datetime:
        return self.now
