"""A local copy of the team directory, kept from the compacted topic `crm.team`.

`TeamDirectory` is plain state with a version guard: applying an event twice, or an older
version after a newer one, changes nothing. `TeamDirectoryFollower` feeds it: every instance
of every service reads the whole topic from the beginning at start (no consumer group: each one
needs the entire directory, and compaction keeps that small), reports when it has caught up,
and then follows new changes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import cast

from aiokafka import ConsumerRecord
from faststream.kafka import KafkaBroker, KafkaMessage

from crmhub import metrics, topics
from crmhub.events import EventData, PoisonMessage, from_record
from crmhub.kafka import end_offsets
from crmhub.schemas.team import Department, DepartmentUpserted, Manager, ManagerUpserted

log = logging.getLogger("crmhub.team_directory")


def department_key(department_id: str) -> str:
    return f"department:{department_id}"


def manager_key(manager_id: str) -> str:
    return f"manager:{manager_id}"


class TeamDirectory:
    def __init__(self) -> None:
        self.departments: dict[str, Department] = {}
        self.managers: dict[str, Manager] = {}
        self._versions: dict[str, int] = {}

    def apply(self, payload: EventData) -> bool:
        """Apply a directory event; True when it changed the copy."""
        if isinstance(payload, DepartmentUpserted):
            key = department_key(payload.department.id)
            if payload.version <= self._versions.get(key, 0):
                return False
            self.departments[payload.department.id] = payload.department
        elif isinstance(payload, ManagerUpserted):
            key = manager_key(payload.manager.id)
            if payload.version <= self._versions.get(key, 0):
                return False
            self.managers[payload.manager.id] = payload.manager
        else:
            return False
        self._versions[key] = payload.version
        return True

    def version_of(self, key: str) -> int:
        return self._versions.get(key, 0)

    def manager(self, manager_id: str) -> Manager | None:
        return self.managers.get(manager_id)

    def department(self, department_id: str) -> Department | None:
        return self.departments.get(department_id)

    def managers_of(self, department_id: str, *, active_only: bool = True) -> list[Manager]:
        return sorted(
            (m for m in self.managers.values() if m.department_id == department_id and (m.active or not active_only)),
            key=lambda m: m.id,
        )


class TeamDirectoryFollower:
    def __init__(
        self,
        broker: KafkaBroker,
        bootstrap_servers: str,
        directory: TeamDirectory | None = None,
        *,
        on_change: Callable[[EventData], None] | None = None,
    ) -> None:
        self.directory = directory or TeamDirectory()
        self._bootstrap = bootstrap_servers
        self._on_change = on_change
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
        self._end_offsets = await end_offsets(self._bootstrap, topics.TEAM.name)
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
            if changed and self._on_change is not None:
                self._on_change(payload)
        self._check_caught_up()

    def _check_caught_up(self) -> None:
        if self._caught_up.is_set() or self._end_offsets is None:
            return
        if all(self._positions.get(p, 0) >= end for p, end in self._end_offsets.items()):
            self._caught_up.set()
            metrics.READ_MODEL_READY.labels(topics.TEAM.name).set(1)
            log.info("team directory caught up: %d departments, %d managers", len(self.directory.departments), len(self.directory.managers))
