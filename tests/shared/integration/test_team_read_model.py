"""The team-directory read model reports itself caught up only once it holds everything that
was on crm.team when it started: /ready of leads and notifier depends on that."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from crmhub.events import new_event, to_record
from crmhub.kafka import make_broker
from crmhub.schemas.team import Manager, ManagerUpserted
from crmhub.team_directory import manager_key
from crmhub.team_follower import TeamDirectoryFollower
from support.kafka import produce

pytestmark = pytest.mark.integration


async def test_caught_up_means_everything_present_at_start_has_been_applied(infra, unique):
    ids = [f"m-{unique}-{i}" for i in range(2000)]
    messages = []
    for manager_id in ids:
        manager = Manager(id=manager_id, name="Bench", department_id=f"d-{unique}", email=f"{manager_id}@example.com")
        record = to_record(
            new_event(
                ManagerUpserted(change="created", version=1, manager=manager),
                source="/test",
                subject=manager_key(manager_id),
                time=datetime.now(UTC),
            )
        )
        messages.append((record.key, record.value, record.headers))
    await produce(infra.kafka, "crm.team", messages)

    broker = make_broker(infra.kafka, client_id=f"test-{unique}")
    follower = TeamDirectoryFollower(broker, infra.kafka)
    await broker.start()
    try:
        await follower.start()
        async with asyncio.timeout(60):
            while not follower.caught_up:
                await asyncio.sleep(0.005)
        missing = [i for i in ids if follower.directory.manager(i) is None]
        assert not missing, f"caught up while {len(missing)} of {len(ids)} managers were still unread"
    finally:
        await broker.stop()
