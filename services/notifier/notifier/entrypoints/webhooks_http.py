"""Outgoing webhook subscriptions over HTTP (admins, and integrations with `webhooks:manage`)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from crmhub.access import CallerDep, Policy
from crmhub.aggregate import NotFound
from crmhub.web import ApiError
from notifier.domain.subscriptions import ROTATION_GRACE, WebhookSubscription
from notifier.entrypoints.dependencies import NotifierDep
from notifier.entrypoints.notifications_http import notification_view
from notifier.service_layer import subscriptions
from notifier.service_layer.events import WEBHOOK_EVENT_TYPES

SubscriptionPath = Annotated[str, Path(pattern=r"^wh_[0-9a-f]{16}$")]
EventTypes = Annotated[list[Annotated[str, StringConstraints(max_length=100)]], Field(min_length=1, max_length=100)]


def _url(value: str, *, production: bool) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError("must be an http(s) URL")
    if production and parts.scheme != "https":
        raise ValueError("must be https")
    if parts.username or parts.password:
        raise ValueError("must not carry credentials (the deliveries are signed instead)")
    return value


class SubscriptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: Annotated[str, StringConstraints(max_length=2000)]
    event_types: EventTypes = Field(description='event types, or ["*"] for every one a webhook can take')
    description: Annotated[str | None, StringConstraints(max_length=500)] = None

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        return _url(value, production=False)


class SubscriptionChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: Annotated[str | None, StringConstraints(max_length=2000)] = None
    event_types: EventTypes | None = None
    status: subscriptions.Status | None = Field(default=None, description="active or paused")
    description: Annotated[str | None, StringConstraints(max_length=500)] = None

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        return None if value is None else _url(value, production=False)

    @field_validator("status")
    @classmethod
    def _not_deleted(cls, value: str | None) -> str | None:
        if value == "deleted":
            raise ValueError("delete with DELETE /v1/webhooks/{id}")
        return value


def _refused(exc: Exception) -> ApiError:
    if isinstance(exc, subscriptions.SubscriptionRefused):
        return ApiError(422, "validation_failed", str(exc), field=exc.field)
    return ApiError(409, "not_configured", str(exc))  # the deployment's setting, not a server fault


def webhooks_router(*, production: bool) -> APIRouter:
    router = APIRouter(tags=["webhooks"], dependencies=[Depends(Policy("admin", scopes=("webhooks:manage",)))])

    def view(subscription: WebhookSubscription) -> dict[str, Any]:
        return subscription.view()

    def require_https(url: str | None) -> None:
        """In production a delivery goes only over https (the body's model takes http for tests and demos)."""
        if production and url is not None:
            try:
                _url(url, production=True)
            except ValueError as exc:
                raise ApiError(422, "validation_failed", f"url {exc}", field="url") from None

    @router.get("/v1/webhooks/event-types", summary="The event types a webhook can subscribe to")
    async def event_types() -> dict[str, Any]:
        return {"event_types": sorted(WEBHOOK_EVENT_TYPES)}

    @router.get("/v1/webhooks", summary="Webhook subscriptions (and those of NOTIFIER_WEBHOOKS_FILE, read-only)")
    async def list_subscriptions(deps: NotifierDep) -> dict[str, Any]:
        managed = [view(s) for s in await deps.webhooks.subscriptions()]
        from_file = [
            {"id": e.id, "url": e.url, "event_types": list(e.event_types), "source": "file"}
            for e in deps.webhooks.from_file
        ]
        return {"items": managed, "from_file": from_file}

    @router.post(
        "/v1/webhooks", status_code=201, summary="Subscribe a URL to events; the signing secret is shown this once"
    )
    async def create(deps: NotifierDep, caller: CallerDep, body: SubscriptionIn) -> JSONResponse:
        require_https(body.url)
        try:
            issued = await subscriptions.create(
                deps, caller, url=body.url, event_types=body.event_types, description=body.description
            )
        except (subscriptions.SubscriptionRefused, subscriptions.SigningKeyMissing) as exc:
            raise _refused(exc) from None
        return JSONResponse({**view(issued.subscription), "secret": issued.secret}, status_code=201)

    @router.get("/v1/webhooks/{subscription_id}", summary="One subscription")
    async def get(deps: NotifierDep, subscription_id: SubscriptionPath) -> dict[str, Any]:
        try:
            return view(await subscriptions.get(deps, subscription_id))
        except NotFound:
            raise ApiError(404, "not_found", f"no webhook subscription {subscription_id!r}") from None

    @router.patch("/v1/webhooks/{subscription_id}", summary="Change the URL or event types, pause or resume")
    async def change(
        deps: NotifierDep, caller: CallerDep, subscription_id: SubscriptionPath, body: SubscriptionChange
    ) -> dict[str, Any]:
        require_https(body.url)
        try:
            changed = await subscriptions.change(
                deps,
                caller,
                subscription_id,
                url=body.url,
                event_types=body.event_types,
                status=body.status,
                description=body.description,
            )
        except NotFound:
            raise ApiError(404, "not_found", f"no webhook subscription {subscription_id!r}") from None
        except (subscriptions.SubscriptionRefused, subscriptions.SigningKeyMissing) as exc:
            raise _refused(exc) from None
        return view(changed)

    @router.post(
        "/v1/webhooks/{subscription_id}/rotate-secret",
        summary=f"A new signing secret, shown this once; the old one keeps signing too for {ROTATION_GRACE}",
    )
    async def rotate(deps: NotifierDep, caller: CallerDep, subscription_id: SubscriptionPath) -> dict[str, Any]:
        try:
            issued = await subscriptions.rotate(deps, caller, subscription_id)
        except NotFound:
            raise ApiError(404, "not_found", f"no webhook subscription {subscription_id!r}") from None
        except subscriptions.SigningKeyMissing as exc:
            raise _refused(exc) from None
        return {**view(issued.subscription), "secret": issued.secret}

    @router.delete("/v1/webhooks/{subscription_id}", status_code=204, summary="Stop and remove a subscription")
    async def delete(deps: NotifierDep, caller: CallerDep, subscription_id: SubscriptionPath) -> None:
        try:
            await subscriptions.delete(deps, caller, subscription_id)
        except NotFound:
            raise ApiError(404, "not_found", f"no webhook subscription {subscription_id!r}") from None

    @router.get("/v1/webhooks/{subscription_id}/deliveries", summary="The subscription's delivery log, newest first")
    async def deliveries(
        deps: NotifierDep,
        subscription_id: SubscriptionPath,
        status: Annotated[str | None, Query(pattern="^(pending|sending|delivered|failed)$")] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    ) -> dict[str, Any]:
        try:
            items, total = await subscriptions.deliveries(
                deps, subscription_id, status=status, limit=limit, offset=offset
            )
        except NotFound:
            raise ApiError(404, "not_found", f"no webhook subscription {subscription_id!r}") from None
        return {"items": [notification_view(d) for d in items], "total": total, "limit": limit, "offset": offset}

    return router
