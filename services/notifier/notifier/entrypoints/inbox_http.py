"""The in-app inbox over HTTP: what a mobile client or UI shows a manager."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query

from crmhub.access import EVERYONE, Policy
from crmhub.aggregate import NotFound
from crmhub.auth import Principal
from crmhub.schemas.team import ENTITY_ID_PATTERN
from crmhub.web import ApiError
from notifier.entrypoints.dependencies import NotifierDep
from notifier.service_layer import queries

ManagerPath = Annotated[str, Path(pattern=ENTITY_ID_PATTERN)]
Person = Annotated[Principal, Depends(Policy(*EVERYONE))]
MessagePath = Annotated[str, Path(pattern=r"^[A-Za-z0-9:._@-]{1,200}$")]


def _own(principal: Principal, manager_id: str) -> None:
    """An inbox is personal: only its owner reads it (another person's gets 403)."""
    if principal.subject != manager_id:
        raise ApiError(403, "forbidden", f"{principal.actor} may read only their own inbox")


def inbox_router() -> APIRouter:
    router = APIRouter(tags=["inbox"])

    @router.get("/v1/inbox/{manager_id}", summary="A manager's in-app messages, newest first")
    async def inbox(
        deps: NotifierDep,
        principal: Person,
        manager_id: ManagerPath,
        unread: bool = False,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    ) -> dict[str, Any]:
        _own(principal, manager_id)
        docs, total = await queries.inbox(deps, manager_id, unread_only=unread, limit=limit, offset=offset)
        return {"items": [{"id": d["_id"], **{k: v for k, v in d.items() if k != "_id"}} for d in docs], "total": total}

    @router.post("/v1/inbox/{manager_id}/{message_id}/read", summary="Mark an in-app message read")
    async def mark_read(
        deps: NotifierDep, principal: Person, manager_id: ManagerPath, message_id: MessagePath
    ) -> dict[str, str]:
        _own(principal, manager_id)
        try:
            await queries.mark_read(deps, manager_id, message_id)
        except NotFound as exc:
            raise ApiError(404, "not_found", str(exc)) from None
        return {"status": "read"}

    return router
