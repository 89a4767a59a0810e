"""The in-app inbox over HTTP: what a mobile client or UI shows a manager."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from crmhub.aggregate import NotFound
from crmhub.schemas.team import ENTITY_ID_PATTERN
from crmhub.web import ApiError
from notifier.entrypoints.dependencies import NotifierDep
from notifier.service_layer import queries

ManagerPath = Annotated[str, Path(pattern=ENTITY_ID_PATTERN)]
MessagePath = Annotated[str, Path(pattern=r"^[A-Za-z0-9:._@-]{1,200}$")]


def inbox_router() -> APIRouter:
    router = APIRouter(tags=["inbox"])

    @router.get("/v1/inbox/{manager_id}", summary="A manager's in-app messages, newest first")
    async def inbox(
        deps: NotifierDep,
        manager_id: ManagerPath,
        unread: bool = False,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    ) -> dict[str, Any]:
        docs, total = await queries.inbox(deps, manager_id, unread_only=unread, limit=limit, offset=offset)
        return {"items": [{"id": d["_id"], **{k: v for k, v in d.items() if k != "_id"}} for d in docs], "total": total}

    @router.post("/v1/inbox/{manager_id}/{message_id}/read", summary="Mark an in-app message read")
    async def mark_read(deps: NotifierDep, manager_id: ManagerPath, message_id: MessagePath) -> dict[str, str]:
        try:
            await queries.mark_read(deps, manager_id, message_id)
        except NotFound as exc:
            raise ApiError(404, "not_found", str(exc)) from None
        return {"status": "read"}

    return router
