"""Provider webhooks: translate the request, hand it to the use case, translate the outcome."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

from fastapi import APIRouter, Depends, Path
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict, StringConstraints

from crmhub.access import SIGNED_INTAKE
from crmhub.intake import Received
from crmhub.kafka import inlined_schema
from crmhub.schemas.team import ENTITY_ID_PATTERN
from crmhub.web import FORM_FIELDS, request_body
from telephony.adapters.formats.canonical_json import CallEventInput
from telephony.adapters.formats.common import RouteAsk, check_api_key
from telephony.domain.routing import Route
from telephony.entrypoints.dependencies import ReceivedDep, TelephonyDep
from telephony.service_layer import calls, routing
from telephony.service_layer.context import Telephony

IdPath = Annotated[str, Path(pattern=ENTITY_ID_PATTERN)]


class RouteQuestion(BaseModel):
    """What a PBX knows when a call starts."""

    model_config = ConfigDict(extra="forbid")

    call_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._:@-]{1,128}$")]
    caller: Annotated[str | None, StringConstraints(max_length=32, pattern=r"^\+?[0-9 ()-]{3,32}$")] = None
    line: Annotated[str | None, StringConstraints(max_length=32, pattern=r"^\+?[0-9 ()-]{3,32}$")] = None


class RouteAnswer(Route):
    """Ring `extension` first; unanswered after `ring_seconds` (three rings), ring `next_extension`."""

    ring_seconds: float


EventPath = Annotated[str, Path(pattern=r"^[a-z0-9_/]{1,64}$")]


async def _take_in(deps: Telephony, provider_id: str, received: Received) -> Response:
    provider = calls.provider_by_id(deps, provider_id)
    parsed = calls.read_request(provider, received)
    if parsed.reply is not None:
        return PlainTextResponse(parsed.reply[0], media_type=parsed.reply[1])
    call_ids = await calls.receive(deps, provider, parsed.facts)
    body: dict[str, object] = {"status": "ok", "calls": call_ids, **(parsed.result or {})}
    if parsed.route is not None and provider.route_calls:
        body |= await routing.answer_pbx(deps, provider, parsed.route)
    return JSONResponse(body)


def intake_router() -> APIRouter:
    router = APIRouter(tags=["telephony"], dependencies=[Depends(SIGNED_INTAKE)])

    @router.post(
        "/v1/telephony/{provider_id}/events",
        summary="Events from a configured provider (json, asterisk, freeswitch, zadarma, mango, twilio, bitrix24)",
        openapi_extra=request_body(
            "As the provider's format takes it (docs/telephony.md): the canonical call event for `json`, a "
            "provider's own JSON (Asterisk and FreeSWITCH CDRs, Bitrix24) or form fields (Zadarma, Mango, Twilio)",
            {"application/json": inlined_schema(CallEventInput), "application/x-www-form-urlencoded": FORM_FIELDS},
        ),
    )
    async def provider_events(deps: TelephonyDep, received: ReceivedDep, provider_id: IdPath) -> Response:
        return await _take_in(deps, provider_id, received)

    @router.post(
        "/v1/telephony/{provider_id}/events/{event:path}",
        summary="Events at a path the provider appends (Mango: …/events/call, …/events/summary, …)",
    )
    async def provider_event_path(
        deps: TelephonyDep, received: ReceivedDep, provider_id: IdPath, event: EventPath
    ) -> Response:
        kind = event.removeprefix("events/").strip("/")
        return await _take_in(deps, provider_id, replace(received, query={**received.query, "event": kind}))

    @router.post(
        "/v1/telephony/{provider_id}/route",
        summary="Who takes this call: the caller's lead owner, else the next on duty in rotation, and who after three rings",
        response_model=RouteAnswer,
    )
    async def route_call(
        deps: TelephonyDep, provider_id: IdPath, ask: RouteQuestion, received: ReceivedDep
    ) -> RouteAnswer:
        provider = calls.provider_by_id(deps, provider_id)
        check_api_key(provider, received)
        route = await routing.route_call(
            deps, provider, RouteAsk(call_id=ask.call_id, caller=ask.caller, line=ask.line)
        )
        return RouteAnswer(**route.model_dump(), ring_seconds=provider.answer_standard_seconds)

    @router.get("/v1/telephony/{provider_id}/events", summary="A provider's URL check (Zadarma's zd_echo)")
    async def provider_check(deps: TelephonyDep, received: ReceivedDep, provider_id: IdPath) -> Response:
        return await _take_in(deps, provider_id, received)

    return router
