"""The audit log as a head reads it: the records of the departments they answer for, found by an
index on real MongoDB."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from crmhub.auth import Principal
from crmhub.events import new_event
from crmhub.schemas.audit import AuditRecorded
from motivation.adapters.audit_store import AuditLog
from motivation.service_layer import audit

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


async def test_a_head_reads_the_records_of_every_department_they_answer_for_and_no_other(mongo_client):
    log = AuditLog(mongo_client[f"audit_{uuid.uuid4().hex[:8]}"])
    await log.ensure_indexes()
    for i, department in enumerate(("board", "moscow", "kazan", None)):
        record = AuditRecorded(
            actor="manager:admin",
            action="team.manager.updated",
            entity=f"manager:m{i}",
            department_id=department,
            at=T0,
        )
        await audit.keep(log, new_event(record, source="/tests", subject=record.entity), record)
    olga = Principal("olga", "person", frozenset({"head"}), department_id="board", heads=frozenset({"moscow"}))
    window = {"start": T0 - timedelta(days=1), "end": T0 + timedelta(days=1), "limit": 50, "offset": 0}

    docs, total = await audit.records(log, olga, {}, **window)
    assert (sorted(d["department_id"] for d in docs), total) == (["board", "moscow"], 2)
    docs, _ = await audit.records(log, olga, {"department_id": "moscow"}, **window)
    assert [d["department_id"] for d in docs] == ["moscow"]
    assert await audit.records(log, olga, {"department_id": "kazan"}, **window) == ([], 0)

    keys = [index["key"] for index in (await log.records.index_information()).values()]
    assert [("department_id", 1), ("at", -1)] in keys  # what real MongoDB answers a head's log with
