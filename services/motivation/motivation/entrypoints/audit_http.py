"""The audit log over HTTP (administrators: everything; heads: their department)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from crmhub.access import Policy
from crmhub.auth import Principal
from crmhub.moments import Moment
from crmhub.schemas.team import ENTITY_ID_PATTERN
from crmhub.web import from_app_state
from motivation.adapters.audit_store import AuditLog
from motivation.service_layer import audit

Auditor = Annotated[Principal, Depends(Policy("admin", "head"))]


AuditDep = Annotated[AuditLog, Depends(from_app_state("audit", AuditLog))]


def audit_router() -> APIRouter:
    router = APIRouter(tags=["audit"])

    @router.get("/v1/audit", summary="Who changed what, when, from where, before and after; newest first")
    async def list_records(
        log: AuditDep,
        principal: Auditor,
        actor: Annotated[str | None, Query(max_length=100, pattern=r"^(manager|token):[A-Za-z0-9_.-]+$")] = None,
        entity: Annotated[str | None, Query(max_length=200, pattern=r"^[a-z_]+:[A-Za-z0-9_.:-]+$")] = None,
        action: Annotated[str | None, Query(max_length=100, pattern=r"^[a-z_.]+$")] = None,
        department_id: Annotated[str | None, Query(pattern=ENTITY_ID_PATTERN)] = None,
        start: Annotated[Moment | None, Query(alias="from")] = None,
        end: Annotated[Moment | None, Query(alias="to")] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    ) -> dict[str, Any]:
        filters = {"actor": actor, "entity": entity, "action": action, "department_id": department_id}
        docs, total = await audit.records(log, principal, filters, start=start, end=end, limit=limit, offset=offset)
        items = [{"id": d["_id"], **{k: v for k, v in d.items() if k != "_id"}} for d in docs]
        return {"items": items, "total": total, "limit": limit, "offset": offset}

    return router
