"""Feeds a `TeamDirectory` from the compacted topic `crm.team`.

Every instance of every service reads the whole topic from the beginning at start (no consumer
group: each one needs the entire directory, and compaction keeps that small), reports when it
has caught up, and then follows new changes.
"""

from __future__ import annotations

import asyncio
import logging
from typing import cast

from aiokafka import ConsumerRecord
from faststream.kafka import KafkaBroker, KafkaMessage

from crmhub import metrics, topics
from crmhub.events import PoisonMessage, from_record
from crmhub.kafka import NO_LOGIN, KafkaLogin, end_offsets
from crmhub.team_directory import TeamDirectory

log = logging.getLogger("crmhub.team_follower")


class TeamDirectoryFollower:
    def __init__(
        self,
        broker: KafkaBroker,
        bootstrap_servers: str,
        directory: TeamDirectory | None = None,
        *,
        login: KafkaLogin = NO_LOGIN,
    ) -> None:
        self.directory = directory or TeamDirectory()
        self._bootstrap = bootstrap_servers
        self._login = login
        self._positions: dict[int, int] = {}
        self._end_offsets: dict[int, int] | None = None
        self._caught_up = asyncio.Event()
        subscriber = broker.subscriber(
            topics.TEAM.name,
            auto_offset_reset="earliest",
            title=f"{topics.TEAM.name}:read-model",
            description="Local copy of the team directory (no consumer group: every instance reads the whole compacted topic).",
        )
        subscriber(self._on_message)

    @property
    def caught_up(self) -> bool:
        return self._caught_up.is_set()

    @property
    def ready_event(self) -> asyncio.Event:
        """Set once the copy has caught up; work that needs the whole directory waits for it."""
        return self._caught_up

    async def start(self) -> None:
        """Learn where the topic ends now; the copy is caught up once it has read that far."""
        self._end_offsets = await end_offsets(self._bootstrap, topics.TEAM.name, login=self._login)
        self._check_caught_up()

    async def _on_message(self, msg: KafkaMessage) -> None:
        record = cast("ConsumerRecord[bytes, bytes]", msg.raw_message)
        self._positions[record.partition] = record.offset + 1
        try:
            _, payload = from_record(dict(record.headers), record.value or b"", record.key)
        except PoisonMessage as exc:
            metrics.READ_MODEL_EVENTS.labels(topics.TEAM.name, "invalid").inc()
            log.error("ignoring an invalid message on %s at offset %s: %s", record.topic, record.offset, exc)
        else:
            changed = self.directory.apply(payload)
            metrics.READ_MODEL_EVENTS.labels(topics.TEAM.name, "applied" if changed else "stale").inc()
        self._check_caught_up()

    def _check_caught_up(self) -> None:
        if self._caught_up.is_set() or self._end_offsets is None:
            return
        if all(self._positions.get(p, 0) >= end for p, end in self._end_offsets.items()):
            self._caught_up.set()
            metrics.READ_MODEL_READY.labels(topics.TEAM.name).set(1)
            log.info(
                "team directory caught up: %d departments, %d managers",
                len(self.directory.departments),
                len(self.directory.managers),
            )
