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

INBOUND_LEADS = Topic(
    "crm.inbound.leads",
    description="Leads published by outside systems (CloudEvents `lead.submitted`, the canonical lead); "
    "taken in like POST /v1/leads; an invalid one goes to crm.inbound.leads.dlq with the reason. Key: any (the submission id is best).",
)
INBOUND_CALLS = Topic(
    "crm.inbound.calls",
    description="Call events published by outside systems (CloudEvents `call.reported`, the canonical call "
    "event); taken in like the `json` provider webhook; an invalid one goes to crm.inbound.calls.dlq. Key: the call id.",
)

ALL: tuple[Topic, ...] = (TEAM, LEADS, CALLS, DEALS, MOTIVATION, NOTIFICATIONS, AUDIT, INBOUND_LEADS, INBOUND_CALLS)
