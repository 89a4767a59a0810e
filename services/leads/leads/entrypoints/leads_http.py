"""HTTP of a lead's life and the figures: read, list, take, convert, reject, stats. Routes
translate and hand on; the service layer decides."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query

from crmhub.access import CallerDep, Policy
from crmhub.aggregate import NotFound
from crmhub.auth import Principal
from crmhub.moments import Moment
from crmhub.schemas.leads import LeadStatus
from crmhub.schemas.team import ENTITY_ID_PATTERN
from crmhub.web import ApiError, require_json_body
from leads.domain.lead import Lead, LeadConflict
from leads.domain.stats import GroupBy
from leads.entrypoints.dependencies import LeadsDep
from leads.entrypoints.schemas import ConvertLead, LeadPage, LeadView, RejectLead, TakeLead
from leads.service_layer import lifecycle, queries

LeadIdPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9-]{1,64}$")]
From = Annotated[Moment | None, Query(alias="from")]
To = Annotated[Moment | None, Query(alias="to")]
Reader = Annotated[Principal, Depends(Policy("admin", "head", "manager", scopes=("leads:read",)))]
Actor = Annotated[Principal, Depends(Policy("admin", "head", "manager", scopes=("leads:write",)))]
Analyst = Annotated[Principal, Depends(Policy("admin", "head", scopes=("reports:read",)))]


async def _view(action: Any) -> LeadView:
    try:
        lead: Lead = await action
    except NotFound:
        raise ApiError(404, "not_found", "no such lead") from None
    except LeadConflict as exc:
        raise ApiError(409, "conflict", str(exc)) from None
    except PermissionError as exc:
        raise ApiError(403, "forbidden", str(exc)) from None
    except ValueError as exc:
        raise ApiError(422, "validation_failed", str(exc), field="manager_id") from None
    return LeadView.of(lead)


def leads_router() -> APIRouter:
    router = APIRouter(tags=["leads"], dependencies=[Depends(require_json_body)])

    @router.get(
        "/v1/leads/{lead_id}", response_model=LeadView, summary="A lead with its touches and assignment history"
    )
    async def get_lead(deps: LeadsDep, principal: Reader, lead_id: LeadIdPath) -> LeadView:
        try:
            return LeadView.of(await queries.get_lead(deps, principal, lead_id))
        except NotFound:
            raise ApiError(404, "not_found", f"no lead {lead_id!r}") from None

    @router.get("/v1/leads", response_model=LeadPage, summary="Leads, newest first")
    async def list_leads(
        deps: LeadsDep,
        principal: Reader,
        status: LeadStatus | None = None,
        manager: Annotated[str | None, Query(pattern=ENTITY_ID_PATTERN)] = None,
        source: Annotated[str | None, Query(pattern=ENTITY_ID_PATTERN)] = None,
        start: From = None,
        end: To = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    ) -> LeadPage:
        filters = {"status": status, "manager_id": manager, "source_id": source, "from": start, "to": end}
        items, total = await queries.list_leads(deps, principal, filters, limit=limit, offset=offset)
        return LeadPage(items=[LeadView.of(lead) for lead in items], total=total, limit=limit, offset=offset)

    @router.post(
        "/v1/leads/{lead_id}/take", response_model=LeadView, summary="The assigned manager takes the lead into work"
    )
    async def take(
        deps: LeadsDep, principal: Actor, caller: CallerDep, lead_id: LeadIdPath, body: TakeLead
    ) -> LeadView:
        return await _view(lifecycle.take(deps, caller, lead_id, body.manager_id))

    @router.post(
        "/v1/leads/{lead_id}/convert",
        response_model=LeadView,
        summary="The lead becomes a deal (lead.converted carries what the deal needs)",
    )
    async def convert(
        deps: LeadsDep, principal: Actor, caller: CallerDep, lead_id: LeadIdPath, body: ConvertLead
    ) -> LeadView:
        return await _view(lifecycle.convert(deps, caller, lead_id, body.manager_id, body.comment))

    @router.post(
        "/v1/leads/{lead_id}/reject",
        response_model=LeadView,
        summary="Close the lead without a deal, with a reason from the list",
    )
    async def reject(
        deps: LeadsDep, principal: Actor, caller: CallerDep, lead_id: LeadIdPath, body: RejectLead
    ) -> LeadView:
        return await _view(lifecycle.reject(deps, caller, lead_id, body.reason, body.comment))

    @router.get(
        "/v1/stats/leads",
        summary="Leads, taken, taken within SLA (and the share), converted, rejected, per source, manager or campaign",
    )
    async def stats(
        deps: LeadsDep, principal: Analyst, group_by: GroupBy = "source", start: From = None, end: To = None
    ) -> dict[str, Any]:
        groups = await queries.figures(deps, group_by=group_by, start=start, end=end)
        return {
            "group_by": group_by,
            "from": start,
            "to": end,
            "generated_at": datetime.now(UTC),
            "groups": [f.as_dict() for f in groups],
        }

    return router
