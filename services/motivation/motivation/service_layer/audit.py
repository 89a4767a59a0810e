"""The audit log's use cases: keep every record once, and show an administrator everything and a
head what happened in their own department and in those they head."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from crmhub.access import department_scope
from crmhub.auth import Principal
from crmhub.events import CloudEvent
from crmhub.mongo import Document
from crmhub.schemas.audit import AuditRecorded
from motivation.adapters.audit_store import AuditLog


async def keep(log: AuditLog, event: CloudEvent, record: AuditRecorded) -> None:
    await log.append(event, record)


async def records(
    log: AuditLog,
    principal: Principal,
    filters: dict[str, Any],
    *,
    start: datetime | None,
    end: datetime | None,
    limit: int,
    offset: int,
) -> tuple[list[Document], int]:
    if not principal.has("admin"):
        filters = {**filters, "department_id": department_scope(principal, filters.get("department_id"))}
    return await log.search(filters, start=start, end=end, limit=limit, offset=offset)
