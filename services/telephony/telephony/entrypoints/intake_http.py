"""Provider webhooks: translate the request, hand it to the use case, translate the outcome."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

from fastapi import APIRouter, Depends, Path
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from crmhub.access import SIGNED_INTAKE
from crmhub.intake import Received
from crmhub.schemas.team import ENTITY_ID_PATTERN
from telephony.entrypoints.dependencies import ReceivedDep, TelephonyDep
from telephony.service_layer import calls
from telephony.service_layer.context import Telephony

IdPath = Annotated[str, Path(pattern=ENTITY_ID_PATTERN)]
EventPath = Annotated[str, Path(pattern=r"^[a-z0-9_/]{1,64}$")]


async def _take_in(deps: Telephony, provider_id: str, received: Received) -> Response:
    provider = calls.provider_by_id(deps, provider_id)
    parsed = calls.read_request(provider, received)
    if parsed.reply is not None:
        return PlainTextResponse(parsed.reply[0], media_type=parsed.reply[1])
    call_ids = await calls.receive(deps, provider, parsed.facts)
    body: dict[str, object] = {"status": "ok", "calls": call_ids}
    if parsed.result is not None:
        body["result"] = parsed.result
    return JSONResponse(body)


def intake_router() -> APIRouter:
    router = APIRouter(tags=["telephony"], dependencies=[Depends(SIGNED_INTAKE)])

    @router.post(
        "/v1/telephony/{provider_id}/events",
        summary="Events from a configured provider (json, asterisk, freeswitch, zadarma, mango, twilio, bitrix24)",
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

    @router.get("/v1/telephony/{provider_id}/events", summary="A provider's URL check (Zadarma's zd_echo)")
    async def provider_check(deps: TelephonyDep, received: ReceivedDep, provider_id: IdPath) -> Response:
        return await _take_in(deps, provider_id, received)

    return router
