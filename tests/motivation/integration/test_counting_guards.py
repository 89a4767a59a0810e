"""The counting use case against the real MongoDB-wire server, handed events as the consumer
hands them (each with where it was read): an event parked for an unknown manager comes again
from Kafka after the manager appeared (its poll was not committed: the service died) and is
counted once, by the parked-events loop alone, however many events for that manager came
before the loop counted it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from crmhub.events import CloudEvent, Position, new_event
from crmhub.schemas.calls import CallCompleted, CallRecord
from crmhub.schemas.team import Department, DepartmentUpserted, Manager, ManagerUpserted
from crmhub.team_directory import TeamDirectory
from motivation.adapters.pay_store import PayStore, month_key
from motivation.service_layer.pay import Pay, count_events, count_parked

pytestmark = pytest.mark.integration


def _call(manager_id: str, offset: int) -> CloudEvent:
    record = CallRecord(
        call_id=f"c-{uuid.uuid4().hex[:8]}",
        provider_id="pbx",
        provider_call_id=str(offset),
        direction="outbound",
        caller="+74950000000",
        callee="+79160000000",
        manager_id=manager_id,
        started_at=datetime(2026, 11, 10, 9, 0, tzinfo=UTC),
        outcome="answered",
    )
    event = new_event(CallCompleted(call=record), source="/test", subject=record.call_id)
    return event.read_at(Position("crm.calls", 0, offset))


async def test_a_parked_event_read_again_after_its_manager_appeared_counts_once(mongo_client, unique):
    store = PayStore(mongo_client[f"t_counting_{unique}"])
    directory = TeamDirectory()
    deps = Pay(store=store, directory=directory, now=lambda: datetime.now(UTC))
    parked = _call("late", 100)
    assert await count_events(deps, [parked]) == 0  # parked: nobody knows "late" yet
    directory.apply(
        DepartmentUpserted(change="created", version=1, department=Department(id="s", name="S", region="Moscow"))
    )
    manager = Manager(id="late", name="Late", department_id="s", email="late@example.com")
    directory.apply(ManagerUpserted(change="created", version=1, manager=manager))
    # the parked event read again (its poll was not committed): left to the parked-events loop
    assert await count_events(deps, [_again(parked)]) == 0
    # more of the manager's calls than the ids a counter keeps, then the loop counts the parked one
    assert await count_events(deps, [_call("late", 101 + i) for i in range(60)]) == 60
    assert await count_parked(deps) == 1
    assert await count_events(deps, [_again(parked)]) == 0
    counters = await store.counters.find_one({"_id": month_key("2026-11", "late")})
    assert counters["kpis"]["outgoing_calls"] == 1 + 60


def _again(event: CloudEvent) -> CloudEvent:
    """The same record decoded again, as a consumer does after a restart."""
    assert event.position is not None
    return event.model_copy().read_at(event.position)
