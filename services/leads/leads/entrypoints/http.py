"""HTTP of the leads service: intake (canonical and per source), the lead's lifecycle, queries
and figures. Routes translate; the handlers decide.

Intake checks, in this order, each answering before anything is stored: unknown source (404),
rate limits (429 with Retry-After), authentication (401), the body's format (400/415/422), the
canonical fields (422 naming them), spam (discarded or 403). Only then is the lead stored, and
only after it is stored does the client get 202 with the lead id.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, StringConstraints, ValidationError

from crmhub.rate_limit import RateLimiter
from crmhub.schemas.leads import LeadStatus, RejectReason
from crmhub.schemas.team import ENTITY_ID_PATTERN
from crmhub.web import ApiError, require_json_body
from leads import metrics
from leads.adapters.auth import Unauthorized, verify
from leads.adapters.formats import PARSERS, FormatError
from leads.adapters.sources import Source, SourcesConfig
from leads.domain.lead import Lead, LeadConflict
from leads.domain.stats import GroupBy, lead_figures
from leads.domain.submission import InvalidSubmission, LeadInput, normalize, spam_reason
from leads.handlers import LeadHandlers, LeadNotFound

log = logging.getLogger("leads.http")

IdPath = Annotated[str, Path(pattern=ENTITY_ID_PATTERN)]
LeadIdPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9-]{1,64}$")]
ManagerId = Annotated[str, StringConstraints(pattern=ENTITY_ID_PATTERN)]


class IntakeAccepted(BaseModel):
    lead_id: str | None
    status: Literal["created", "merged", "repeated", "discarded"]


class TakeLead(BaseModel):
    model_config = ConfigDict(extra="forbid")
    manager_id: ManagerId


class ConvertLead(BaseModel):
    model_config = ConfigDict(extra="forbid")
    manager_id: ManagerId
    comment: Annotated[str, StringConstraints(max_length=2000)] | None = None


class RejectLead(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: RejectReason
    comment: Annotated[str, StringConstraints(max_length=2000)] | None = None


class LeadPage(BaseModel):
    items: list[Lead]
    total: int
    limit: int
    offset: int


class Limits:
    """Per-source and per-client-address token buckets (per process)."""

    def __init__(self) -> None:
        self._by_source: dict[str, RateLimiter] = {}
        self._by_address: dict[str, RateLimiter] = {}

    def check(self, source: Source, address: str) -> None:
        source_limiter = self._by_source.setdefault(source.id, RateLimiter(per_minute=source.rate_limit_per_minute))
        address_limiter = self._by_address.setdefault(source.id, RateLimiter(per_minute=source.ip_rate_limit_per_minute))
        wait = max(address_limiter.acquire(address), source_limiter.acquire(source.id))
        if wait > 0:
            metrics.LEADS_REFUSED.labels(source.id, "429").inc()
            retry_after = str(max(1, round(wait)))
            raise ApiError(429, "rate_limited", f"too many submissions for source {source.id}; retry in {retry_after}s", headers={"Retry-After": retry_after})


def _handlers(request: Request) -> LeadHandlers:
    handlers: LeadHandlers = request.app.state.handlers
    return handlers


def _sources(request: Request) -> SourcesConfig:
    return _handlers(request).sources


def _validation_error(exc: ValidationError) -> ApiError:
    problems = [{"field": ".".join(str(p) for p in e["loc"]) or "body", "message": e["msg"]} for e in exc.errors()[:20]]
    fields = ", ".join(dict.fromkeys(p["field"] for p in problems))
    return ApiError(422, "validation_failed", f"invalid field(s): {fields}", extra={"problems": problems})


async def _take_in(request: Request, source: Source) -> Response:
    handlers = _handlers(request)
    limits: Limits = request.app.state.limits
    limits.check(source, request.client.host if request.client else "unknown")
    body = await request.body()
    headers = {k.lower(): v for k, v in request.headers.items()}
    now = handlers.now()
    try:
        verify(source, headers=headers, query=dict(request.query_params), body=body, now=now)
    except Unauthorized as exc:
        metrics.LEADS_REFUSED.labels(source.id, "401").inc()
        log.warning("intake refused for %s: %s", source.id, exc)
        raise ApiError(401, "unauthorized", str(exc)) from None
    try:
        parsed = PARSERS[source.format](body, headers.get("content-type", ""), source)
    except FormatError as exc:
        metrics.LEADS_REFUSED.labels(source.id, str(exc.status)).inc()
        raise ApiError(exc.status, exc.code, str(exc)) from None
    if parsed.probe:
        return JSONResponse({"status": "ok", "probe": True})
    try:
        lead_input = LeadInput.model_validate(parsed.fields)
        idempotency_key = headers.get("idempotency-key", "")[:200] or None
        submission = normalize(
            lead_input,
            source_id=source.id,
            channel="api" if source.format == "json" else "form",
            received_at=now,
            phone_region=source.phone_region,
            default_product=source.default_product,
            default_region=source.default_region,
            submission_key=f"idem:{idempotency_key}" if idempotency_key else parsed.submission_key,
        )
    except ValidationError as exc:
        metrics.LEADS_REFUSED.labels(source.id, "422").inc()
        raise _validation_error(exc) from None
    except InvalidSubmission as exc:
        metrics.LEADS_REFUSED.labels(source.id, "422").inc()
        raise ApiError(422, "validation_failed", str(exc), field=",".join(exc.fields)) from None
    spam = spam_reason(submission, honeypot_value=parsed.honeypot, blocklist=request.app.state.blocklist)
    if spam is not None:
        metrics.LEADS_SPAM.labels(source.id, spam).inc()
        log.info("spam from %s discarded (%s): %s", source.id, spam, submission.contact.phone or submission.contact.email)
        if spam == "honeypot":  # do not teach bots what gave them away
            return JSONResponse(IntakeAccepted(lead_id=None, status="discarded").model_dump(), status_code=202)
        raise ApiError(403, "blocked", "this contact is blocked")
    received = await handlers.receive(submission, source)
    if source.thank_you_url and source.format == "form":
        separator = "&" if "?" in source.thank_you_url else "?"
        return RedirectResponse(f"{source.thank_you_url}{separator}{urlencode({'lead_id': received.lead_id})}", status_code=303)
    return JSONResponse(IntakeAccepted(lead_id=received.lead_id, status=received.outcome).model_dump(), status_code=202)


def intake_router() -> APIRouter:
    router = APIRouter(tags=["intake"])

    @router.post("/v1/leads", status_code=202, response_model=IntakeAccepted, summary="Submit a lead in the canonical JSON form (X-Api-Key of a `json` source)")
    async def submit_lead(request: Request) -> Response:
        key = request.headers.get("x-api-key", "")
        candidates = [s for s in _sources(request).sources if s.format == "json" and s.auth.type == "api_key"]
        source = next((s for s in candidates if key and s.auth.resolved_secret() == key), None)
        if source is None:
            raise ApiError(401, "unauthorized", "missing or unknown API key: send the key of a `json` source in X-Api-Key")
        return await _take_in(request, source)

    @router.post(
        "/v1/intake/{source_id}",
        status_code=202,
        response_model=IntakeAccepted,
        summary="Take in a submission from a configured source (json, form, tilda, bitrix24, typeform, amocrm)",
    )
    async def intake(request: Request, source_id: IdPath) -> Response:
        source = _sources(request).by_id(source_id)
        if source is None:
            raise ApiError(404, "unknown_source", f"no intake source {source_id!r} is configured")
        return await _take_in(request, source)

    @router.get("/v1/sources", summary="The configured intake sources (without secrets)")
    async def list_sources(request: Request) -> list[dict[str, Any]]:
        return [
            {"id": s.id, "format": s.format, "auth": s.auth.type, "sla_minutes": s.sla_minutes, "assignment": s.assignment.model_dump(mode="json")}
            for s in _sources(request).sources
        ]

    return router


def leads_router() -> APIRouter:
    router = APIRouter(tags=["leads"], dependencies=[Depends(require_json_body)])

    async def act(action: Any) -> Lead:
        try:
            lead: Lead = await action
        except LeadNotFound:
            raise ApiError(404, "not_found", "no such lead") from None
        except LeadConflict as exc:
            raise ApiError(409, "conflict", str(exc)) from None
        return lead

    @router.get("/v1/leads/{lead_id}", response_model=Lead, summary="A lead with its touches and assignment history")
    async def get_lead(request: Request, lead_id: LeadIdPath) -> Lead:
        found = await _handlers(request).store.get(lead_id)
        if found is None:
            raise ApiError(404, "not_found", f"no lead {lead_id!r}")
        return found[0]

    @router.get("/v1/leads", response_model=LeadPage, summary="Leads, newest first")
    async def list_leads(
        request: Request,
        status: LeadStatus | None = None,
        manager: Annotated[str | None, Query(pattern=ENTITY_ID_PATTERN)] = None,
        source: Annotated[str | None, Query(pattern=ENTITY_ID_PATTERN)] = None,
        start: Annotated[AwareDatetime | None, Query(alias="from")] = None,
        end: Annotated[AwareDatetime | None, Query(alias="to")] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    ) -> LeadPage:
        filters = {"status": status, "manager_id": manager, "source_id": source, "from": start, "to": end}
        items, total = await _handlers(request).store.search(filters, limit=limit, offset=offset)
        return LeadPage(items=items, total=total, limit=limit, offset=offset)

    @router.post("/v1/leads/{lead_id}/take", response_model=Lead, summary="The assigned manager takes the lead into work")
    async def take(request: Request, lead_id: LeadIdPath, body: TakeLead) -> Lead:
        return await act(_handlers(request).take(lead_id, body.manager_id))

    @router.post("/v1/leads/{lead_id}/convert", response_model=Lead, summary="The lead becomes a deal (lead.converted carries what the deal needs)")
    async def convert(request: Request, lead_id: LeadIdPath, body: ConvertLead) -> Lead:
        return await act(_handlers(request).convert(lead_id, body.manager_id, body.comment))

    @router.post("/v1/leads/{lead_id}/reject", response_model=Lead, summary="Close the lead without a deal, with a reason from the list")
    async def reject(request: Request, lead_id: LeadIdPath, body: RejectLead) -> Lead:
        return await act(_handlers(request).reject(lead_id, body.reason, body.comment))

    @router.get("/v1/stats/leads", summary="Leads, taken, taken within SLA (and the share), converted, rejected, per source, manager or campaign")
    async def stats(
        request: Request,
        group_by: GroupBy = "source",
        start: Annotated[AwareDatetime | None, Query(alias="from")] = None,
        end: Annotated[AwareDatetime | None, Query(alias="to")] = None,
    ) -> dict[str, Any]:
        rows = await _handlers(request).store.stats_rows(start=start, end=end)
        return {
            "group_by": group_by,
            "from": start,
            "to": end,
            "generated_at": datetime.now(UTC),
            "groups": [f.as_dict() for f in lead_figures(rows, group_by)],
        }

    return router
