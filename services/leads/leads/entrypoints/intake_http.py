"""HTTP intake of the leads service: the canonical JSON endpoint and one endpoint per configured
source. Translate the request, hand it to `take_in`, translate the outcome; the client gets 202
only after the lead is stored."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Path
from fastapi.responses import JSONResponse, RedirectResponse, Response

from crmhub.access import SIGNED_INTAKE, Policy
from crmhub.kafka import inlined_schema
from crmhub.schemas.team import ENTITY_ID_PATTERN
from crmhub.web import FORM_FIELDS, request_body
from leads.adapters.formats.canonical import LeadInput
from leads.adapters.sources import Source
from leads.entrypoints.dependencies import LeadsDep, ReceivedDep
from leads.entrypoints.schemas import IntakeAccepted
from leads.service_layer.context import Leads
from leads.service_layer.intake import source_by_id, source_for_api_key, take_in

IdPath = Annotated[str, Path(pattern=ENTITY_ID_PATTERN)]
CANONICAL = inlined_schema(LeadInput)


async def _answer(deps: Leads, source: Source, received: ReceivedDep) -> Response:
    taken = await take_in(
        deps, source, received
    )  # a refusal is an IntakeError: crmhub.web renders it, Retry-After included
    if taken.outcome == "probe":
        return JSONResponse({"status": "ok", "probe": True})
    if taken.outcome != "discarded" and source.thank_you_url and source.format == "form":
        separator = "&" if "?" in source.thank_you_url else "?"
        return RedirectResponse(
            f"{source.thank_you_url}{separator}{urlencode({'lead_id': taken.lead_id})}", status_code=303
        )
    return JSONResponse(IntakeAccepted(lead_id=taken.lead_id, status=taken.outcome).model_dump(), status_code=202)


def intake_router() -> APIRouter:
    router = APIRouter(tags=["intake"])
    signed = [Depends(SIGNED_INTAKE)]

    @router.post(
        "/v1/leads",
        dependencies=signed,
        status_code=202,
        response_model=IntakeAccepted,
        summary="Submit a lead in the canonical JSON form (X-Api-Key of a `json` source)",
        openapi_extra=request_body("The canonical lead (docs/leads.md)", {"application/json": CANONICAL}),
    )
    async def submit_lead(deps: LeadsDep, received: ReceivedDep) -> Response:
        return await _answer(deps, source_for_api_key(deps, received.headers.get("x-api-key", "")), received)

    @router.post(
        "/v1/intake/{source_id}",
        dependencies=signed,
        status_code=202,
        response_model=IntakeAccepted,
        summary="Take in a submission from a configured source (json, form, tilda, bitrix24, bitrix24_events, typeform, amocrm, cf7)",
        openapi_extra=request_body(
            "As the source's format takes it (docs/leads.md, 'Formats'): the canonical lead for `json`, a "
            "provider's own JSON body (Bitrix24, Typeform, amoCRM, Contact Form 7, Tilda), or form fields",
            {"application/json": CANONICAL, "application/x-www-form-urlencoded": FORM_FIELDS},
        ),
    )
    async def intake(deps: LeadsDep, received: ReceivedDep, source_id: IdPath) -> Response:
        return await _answer(deps, source_by_id(deps, source_id), received)

    @router.get(
        "/v1/sources",
        dependencies=[Depends(Policy("admin"))],
        summary="The configured intake sources (without secrets)",
    )
    async def list_sources(deps: LeadsDep) -> list[dict[str, Any]]:
        return [
            {
                "id": s.id,
                "format": s.format,
                "auth": s.auth.type,
                "sla_minutes": s.sla_minutes,
                "assignment": s.assignment.model_dump(mode="json"),
            }
            for s in deps.sources.sources
        ]

    return router
