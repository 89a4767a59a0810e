"""Watching the service's dependencies (MongoDB, Kafka) as states, not as streams of errors.

Every few seconds the service pings each dependency. An outage is reported once when it starts
(a warning), once when it ends (how long it lasted), and as a gauge meanwhile
(`crmhub_dependency_up{dependency}`); the error lines of the code that meets the outage are
rate-limited by crmhub.logs. For MongoDB the watch also tells a wedged process from a database
that is down: when a fresh connection reaches the database but the service's own client has
not, for `wedged_after`, the process is wedged and `/health` fails, so a liveness probe
restarts it (it cannot heal itself; a database outage it can). No I/O here: the pings are the
caller's.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from crmhub import metrics

log = logging.getLogger("crmhub.dependencies")


@dataclass
class DependencyWatch:
    name: str
    wedged_after: timedelta = timedelta(seconds=30)
    up: bool = True
    down_since: datetime | None = None
    # since when a fresh client reached the dependency while ours did not
    stuck_since: datetime | None = None
    failures: int = 0

    def observe(self, *, ours: bool, fresh: bool | None, now: datetime, detail: str = "") -> None:
        """One round of pings: ours (the service's own client), fresh (a new connection, or None
        when not tried)."""
        metrics.DEPENDENCY_UP.labels(self.name).set(1 if ours else 0)
        if ours:
            if not self.up and self.down_since is not None:
                lasted = (now - self.down_since).total_seconds()
                log.warning(
                    "%s is back after %.0f s unavailable (%d failed checks)",
                    self.name,
                    lasted,
                    self.failures,
                    extra={"dependency": self.name, "outage_seconds": round(lasted, 1)},
                )
            self.up, self.down_since, self.stuck_since, self.failures = True, None, None, 0
            return
        self.failures += 1
        if self.up:
            self.up, self.down_since = False, now
            log.warning("%s unavailable: %s", self.name, detail[:300], extra={"dependency": self.name})
        if fresh:
            self.stuck_since = self.stuck_since or now
        else:
            self.stuck_since = None

    def wedged(self, now: datetime) -> bool:
        return self.stuck_since is not None and now - self.stuck_since >= self.wedged_after
