"""Topic names and their settings, in one place. Producers create missing topics at start."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Topic:
    name: str
    partitions: int = 3
    config: dict[str, str] = field(default_factory=dict)
    description: str = ""

    @property
    def dlq(self) -> str:
        return dead_letter_topic(self.name)


def dead_letter_topic(topic: str) -> str:
    return f"{topic}.dlq"


TEAM = Topic(
    "crm.team",
    config={"cleanup.policy": "compact", "min.compaction.lag.ms": "0", "segment.ms": "3600000"},
    description="The team directory: the latest state of every department and manager (compacted, key = id).",
)
LEADS = Topic("crm.leads", description="Lead lifecycle events, key = lead id.")
CALLS = Topic("crm.calls", description="Call events from the telephony service, key = call id.")
DEALS = Topic("crm.deals", description="Deal and task events, key = deal id.")
MOTIVATION = Topic("crm.motivation", description="Plans, payouts and performance flags, key = manager id.")
NOTIFICATIONS = Topic("crm.notifications", description="Notification delivery outcomes, key = notification id.")
AUDIT = Topic(
    "crm.audit",
    description="Every change made through a management API: who, what, when, before and after; key = the changed entity.",
)

ALL: tuple[Topic, ...] = (TEAM, LEADS, CALLS, DEALS, MOTIVATION, NOTIFICATIONS, AUDIT)
