"""The notification log, retries and the routing table over HTTP."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query

from crmhub.access import CallerDep, Policy
from crmhub.aggregate import NotFound
from crmhub.web import ApiError
from notifier.domain.delivery import Delivery
from notifier.entrypoints.dependencies import NotifierDep
from notifier.service_layer import queries

NotificationPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9:._@-]{1,200}$")]


def notification_view(delivery: Delivery) -> dict[str, Any]:
    """What the log shows: everything but the recipient's contacts."""
    return delivery.model_dump(exclude={"contacts", "lease_until"})


def notifications_router() -> APIRouter:
    router = APIRouter(tags=["notifications"], dependencies=[Depends(Policy("admin"))])

    @router.get("/v1/notifications", summary="Notifications, newest first")
    async def list_notifications(
        deps: NotifierDep,
        recipient: Annotated[str | None, Query(max_length=100, pattern=r"^[A-Za-z0-9:._-]+$")] = None,
        status: Annotated[str | None, Query(pattern="^(pending|sending|delivered|failed)$")] = None,
        event_type: Annotated[str | None, Query(max_length=100, pattern=r"^[a-z._]+$")] = None,
        channel: Annotated[str | None, Query(pattern="^(email|telegram|webhook|inbox|log)$")] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    ) -> dict[str, Any]:
        filters = {"recipient": recipient, "status": status, "cause_event_type": event_type, "channel": channel}
        items, total = await queries.notifications(deps, filters, limit=limit, offset=offset)
        return {"items": [notification_view(d) for d in items], "total": total, "limit": limit, "offset": offset}

    @router.post("/v1/notifications/{notification_id}/retry", summary="Send a failed notification again")
    async def retry(deps: NotifierDep, caller: CallerDep, notification_id: NotificationPath) -> dict[str, Any]:
        try:
            delivery, queued = await queries.retry(deps, caller, notification_id)
        except NotFound:
            raise ApiError(404, "not_found", f"no notification {notification_id!r}") from None
        if not queued:
            raise ApiError(
                409, "conflict", f"notification {notification_id} is {delivery.status}; only failed ones are retried"
            )
        return notification_view(delivery)

    @router.get("/v1/routing", summary="Which event reaches whom, how, with which template")
    async def routing(deps: NotifierDep) -> dict[str, Any]:
        return {
            "routes": [
                {
                    "event_type": r.event_type,
                    "recipients": list(r.recipients),
                    "template": r.template,
                    "urgent": r.urgent,
                    "description": r.description,
                    "match": {name: list(values) for name, values in r.match},
                    "skip_actor": r.skip_actor,
                    "not_to": list(r.not_to),
                }
                for r in deps.routes
            ],
            "default_channels": list(deps.default_channels),
            "webhooks": [
                {"id": w.id, "url": w.url, "event_types": list(w.event_types), "active": w.active, "source": w.source}
                for w in await deps.webhooks.endpoints()
            ],
        }

    return router
