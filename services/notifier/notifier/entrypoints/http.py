"""HTTP of the notifier: the notification log, retries, routing, and the in-app inbox."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request

from crmhub.schemas.team import ENTITY_ID_PATTERN
from crmhub.web import ApiError
from notifier.handlers import NotifierHandlers

ManagerPath = Annotated[str, Path(pattern=ENTITY_ID_PATTERN)]
NotificationPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9:._@-]{1,200}$")]


def _handlers(request: Request) -> NotifierHandlers:
    handlers: NotifierHandlers = request.app.state.handlers
    return handlers


def _view(doc: dict[str, Any]) -> dict[str, Any]:
    shown = {k: v for k, v in doc.items() if k not in ("_id", "version", "outbox", "contacts")}
    return {"id": doc["_id"], **shown}


def notifier_router() -> APIRouter:
    router = APIRouter(tags=["notifications"])

    @router.get("/v1/notifications", summary="Notifications, newest first")
    async def list_notifications(
        request: Request,
        recipient: Annotated[str | None, Query(max_length=100, pattern=r"^[A-Za-z0-9:._-]+$")] = None,
        status: Annotated[str | None, Query(pattern="^(pending|sending|delivered|failed)$")] = None,
        event_type: Annotated[str | None, Query(max_length=100, pattern=r"^[a-z._]+$")] = None,
        channel: Annotated[str | None, Query(pattern="^(email|telegram|webhook|inbox|log)$")] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    ) -> dict[str, Any]:
        filters = {"recipient": recipient, "status": status, "cause_event_type": event_type, "channel": channel}
        docs, total = await _handlers(request).store.search(filters, limit=limit, offset=offset)
        return {"items": [_view(d) for d in docs], "total": total, "limit": limit, "offset": offset}

    @router.post("/v1/notifications/{notification_id}/retry", summary="Send a failed notification again")
    async def retry(request: Request, notification_id: NotificationPath) -> dict[str, Any]:
        doc = await _handlers(request).retry(notification_id)
        if doc is None:
            raise ApiError(404, "not_found", f"no notification {notification_id!r}")
        if doc["status"] != "pending":
            raise ApiError(409, "conflict", f"notification {notification_id} is {doc['status']}; only failed ones are retried")
        return _view(doc)

    @router.get("/v1/routing", summary="Which event reaches whom, how, with which template")
    async def routing(request: Request) -> dict[str, Any]:
        handlers = _handlers(request)
        return {
            "routes": [
                {"event_type": r.event_type, "recipients": list(r.recipients), "template": r.template, "urgent": r.urgent, "description": r.description}
                for r in handlers.routes.values()
            ],
            "default_channels": list(handlers.policy.default_channels),
            "webhooks": [{"id": w.id, "url": w.url, "event_types": list(w.event_types)} for w in handlers.webhooks],
        }

    @router.get("/v1/inbox/{manager_id}", summary="A manager's in-app messages, newest first")
    async def inbox(
        request: Request,
        manager_id: ManagerPath,
        unread: bool = False,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    ) -> dict[str, Any]:
        docs, total = await _handlers(request).store.inbox_of(manager_id, unread_only=unread, limit=limit, offset=offset)
        return {"items": [{"id": d["_id"], **{k: v for k, v in d.items() if k != "_id"}} for d in docs], "total": total}

    @router.post("/v1/inbox/{manager_id}/{message_id}/read", summary="Mark an in-app message read")
    async def mark_read(request: Request, manager_id: ManagerPath, message_id: NotificationPath) -> dict[str, str]:
        if not await _handlers(request).store.mark_read(manager_id, message_id, datetime.now(UTC)):
            raise ApiError(404, "not_found", f"no message {message_id!r} for {manager_id}")
        return {"status": "read"}

    return router
