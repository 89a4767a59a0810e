"""HTTP of the telephony service: provider webhooks, call queries and figures."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import AwareDatetime

from crmhub.schemas.calls import Direction, Outcome
from crmhub.schemas.team import ENTITY_ID_PATTERN
from crmhub.web import ApiError
from telephony import metrics
from telephony.adapters.formats import FORMATS, Received, Rejected
from telephony.domain.stats import GroupBy, call_figures
from telephony.handlers import TelephonyHandlers

log = logging.getLogger("telephony.http")
IdPath = Annotated[str, Path(pattern=ENTITY_ID_PATTERN)]


def _handlers(request: Request) -> TelephonyHandlers:
    handlers: TelephonyHandlers = request.app.state.handlers
    return handlers


async def _take_in(request: Request, provider_id: str) -> Response:
    handlers = _handlers(request)
    provider = handlers.providers.by_id(provider_id)
    if provider is None:
        raise ApiError(404, "unknown_provider", f"no telephony provider {provider_id!r} is configured")
    client_ip = request.client.host if request.client else ""
    if provider.allowed_ips and client_ip not in provider.allowed_ips:
        metrics.CALL_REFUSED.labels(provider.id, "403").inc()
        raise ApiError(403, "forbidden", f"{client_ip} is not an allowed address for provider {provider.id}")
    received = Received(
        method=request.method,
        url=str(request.url),
        headers={k.lower(): v for k, v in request.headers.items()},
        query=dict(request.query_params),
        body=await request.body(),
        client_ip=client_ip,
    )
    module = FORMATS[provider.format]
    try:
        module.verify(provider, received)
        parsed = module.parse(provider, received)
    except Rejected as exc:
        metrics.CALL_REFUSED.labels(provider.id, str(exc.status)).inc()
        if exc.status == 401:
            log.warning("request refused for provider %s: %s", provider.id, exc)
        raise ApiError(exc.status, exc.code, str(exc)) from None
    if parsed.reply is not None:
        return PlainTextResponse(parsed.reply[0], media_type=parsed.reply[1])
    call_ids = await handlers.receive(provider, parsed.facts)
    return JSONResponse({"status": "ok", "calls": call_ids})


def telephony_router() -> APIRouter:
    router = APIRouter(tags=["telephony"])

    @router.post("/v1/telephony/{provider_id}/events", summary="Events from a configured provider (json, asterisk, zadarma, mango, twilio, bitrix24)")
    async def provider_events(request: Request, provider_id: IdPath) -> Response:
        return await _take_in(request, provider_id)

    @router.get("/v1/telephony/{provider_id}/events", summary="A provider's URL check (Zadarma's zd_echo)")
    async def provider_check(request: Request, provider_id: IdPath) -> Response:
        return await _take_in(request, provider_id)

    @router.get("/v1/calls/{call_id}", summary="One call: the merged record, and its call-back when it was missed")
    async def get_call(request: Request, call_id: Annotated[str, Path(pattern=r"^[A-Za-z0-9-]{1,64}$")]) -> dict[str, Any]:
        store = _handlers(request).store
        found = await store.get_call(call_id)
        if found is None:
            raise ApiError(404, "not_found", f"no call {call_id!r}")
        callback = await store.get_callback(call_id)
        return {"call": found[0]["record"], "callback": _callback_view(callback[2]) if callback else None}

    @router.get("/v1/calls", summary="Calls, newest first")
    async def list_calls(
        request: Request,
        number: Annotated[str | None, Query(max_length=32, pattern=r"^\+?[0-9]{3,20}$")] = None,
        manager: Annotated[str | None, Query(pattern=ENTITY_ID_PATTERN)] = None,
        line: Annotated[str | None, Query(max_length=32, pattern=r"^\+?[0-9]{3,20}$")] = None,
        outcome: Outcome | None = None,
        direction: Direction | None = None,
        start: Annotated[AwareDatetime | None, Query(alias="from")] = None,
        end: Annotated[AwareDatetime | None, Query(alias="to")] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    ) -> dict[str, Any]:
        filters = {"number": number, "manager_id": manager, "line": line, "outcome": outcome, "direction": direction, "from": start, "to": end}
        docs, total = await _handlers(request).store.search(filters, limit=limit, offset=offset)
        return {"items": [d["record"] for d in docs], "total": total, "limit": limit, "offset": offset}

    @router.get("/v1/callbacks", summary="Missed calls to call back: open, made (with the delay) or overdue")
    async def list_callbacks(
        request: Request,
        status: Annotated[str | None, Query(pattern="^(open|made|overdue)$")] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    ) -> dict[str, Any]:
        docs, total = await _handlers(request).store.list_callbacks(status, limit=limit, offset=offset)
        return {"items": [_callback_view(d) for d in docs], "total": total, "limit": limit, "offset": offset}

    @router.get("/v1/stats/calls", summary="Incoming, outgoing, missed, answered-in-time share, average talk, call-back delay p50/p90, overdue call-backs")
    async def stats(
        request: Request,
        group_by: GroupBy = "manager",
        start: Annotated[AwareDatetime | None, Query(alias="from")] = None,
        end: Annotated[AwareDatetime | None, Query(alias="to")] = None,
    ) -> dict[str, Any]:
        handlers = _handlers(request)
        calls = await handlers.store.records_between(start, end)
        callbacks = await handlers.store.callbacks_between(start, end)
        standard = max((p.answer_standard_seconds for p in handlers.providers.providers), default=15.0)

        def department_of(manager_id: str | None) -> str | None:
            manager = handlers.directory.manager(manager_id) if manager_id else None
            return manager.department_id if manager else None

        groups = call_figures(calls, callbacks, group_by=group_by, answer_standard_seconds=standard, department_of=department_of)
        return {"group_by": group_by, "from": start, "to": end, "answer_standard_seconds": standard, "generated_at": datetime.now(UTC), "groups": groups}

    return router


def _callback_view(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k not in ("_id", "version", "outbox")} | {"missed_call_id": doc["_id"]}
