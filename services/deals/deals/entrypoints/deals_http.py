"""HTTP of a deal's life and the pipeline's figures: open, read, list, move, record an
activity, change, stats. Routes translate and hand on; the service layer decides."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Response

from crmhub.access import CallerDep, Policy
from crmhub.auth import Principal
from crmhub.moments import Moment
from crmhub.schemas.team import ENTITY_ID_PATTERN
from crmhub.web import ApiError, require_json_body
from deals.domain.deal import Deal
from deals.entrypoints.dependencies import DealsDep, ExpectedVersion, answer, etag
from deals.entrypoints.schemas import ChangeDeal, DealPage, DealView, MoveDeal, NewActivity, NewDeal
from deals.service_layer import deals as use_cases
from deals.service_layer import queries
from deals.service_layer.context import Deals

DealIdPath = Annotated[str, Path(pattern=r"^deal-[a-z0-9]{1,40}$")]
StageQuery = Annotated[str | None, Query(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
From = Annotated[Moment | None, Query(alias="from")]
To = Annotated[Moment | None, Query(alias="to")]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]
Reader = Annotated[Principal, Depends(Policy("admin", "head", "manager", scopes=("deals:read",)))]
Actor = Annotated[Principal, Depends(Policy("admin", "head", "manager", scopes=("deals:write",)))]
Analyst = Annotated[Principal, Depends(Policy("admin", "head", scopes=("reports:read",)))]


async def view(deps: Deals, deal: Deal, response: Response | None = None, *, with_timers: bool = True) -> DealView:
    pipeline = deps.playbook.pipeline(deal.pipeline_id)
    timers = await queries.deal_timers(deps, deal) if with_timers else []
    if response is not None:
        response.headers.update(etag(deal.version))
    return DealView.of(deal, allowed_moves=pipeline.allowed_from(deal.stage), now=deps.now(), timers=timers)


def deals_router() -> APIRouter:
    router = APIRouter(tags=["deals"], dependencies=[Depends(require_json_body)])

    @router.post("/v1/deals", response_model=DealView, status_code=201, summary="Open a deal")
    async def open_deal(
        deps: DealsDep,
        principal: Actor,
        caller: CallerDep,
        body: NewDeal,
        response: Response,
        idempotency_key: IdempotencyKey = None,
    ) -> DealView:
        deal, new = await answer(
            use_cases.open_deal(
                deps,
                caller,
                title=body.title,
                pipeline_id=body.pipeline_id,
                manager_id=body.manager_id,
                contact=body.client.contact(),
                region=body.region,
                product=body.product,
                products=[p.line() for p in body.products],
                amount=body.amount,
                currency=body.currency,
                idempotency_key=idempotency_key,
            )
        )
        if not new:
            response.status_code = 200
        return await view(deps, deal, response)

    @router.get("/v1/deals", response_model=DealPage, summary="Deals, newest first")
    async def list_deals(
        deps: DealsDep,
        principal: Reader,
        manager_id: Annotated[str | None, Query(pattern=ENTITY_ID_PATTERN)] = None,
        stage: StageQuery = None,
        pipeline: StageQuery = None,
        outcome: Annotated[str | None, Query(pattern=r"^(open|won|lost)$")] = None,
        start: From = None,
        end: To = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    ) -> DealPage:
        filters = {
            "manager_id": manager_id,
            "stage": stage,
            "pipeline_id": pipeline,
            "outcome": outcome,
            "from": start,
            "to": end,
        }
        items, total = await queries.list_deals(deps, principal, filters, limit=limit, offset=offset)
        views = [await view(deps, d, with_timers=False) for d in items]
        return DealPage(items=views, total=total, limit=limit, offset=offset)

    @router.get(
        "/v1/deals/{deal_id}",
        response_model=DealView,
        summary="A deal with its history, activities, open tasks and rule timers (ETag = version)",
    )
    async def get_deal(deps: DealsDep, principal: Reader, deal_id: DealIdPath, response: Response) -> DealView:
        return await view(deps, await answer(queries.get_deal(deps, principal, deal_id)), response)

    @router.post(
        "/v1/deals/{deal_id}/move",
        response_model=DealView,
        summary="Move the deal to a stage (409 names the allowed ones); `lost` needs a reason and a comment",
    )
    async def move(
        deps: DealsDep,
        principal: Actor,
        caller: CallerDep,
        deal_id: DealIdPath,
        body: MoveDeal,
        expected: ExpectedVersion,
        response: Response,
    ) -> DealView:
        deal = await answer(
            use_cases.move(
                deps, caller, deal_id, to=body.to, reason=body.reason, comment=body.comment, expected_version=expected
            )
        )
        return await view(deps, deal, response)

    @router.post(
        "/v1/deals/{deal_id}/activities",
        response_model=DealView,
        summary="Record what happened: a measurement, meeting, proposal, invoice, payment, delivery, note, feedback",
    )
    async def record_activity(
        deps: DealsDep,
        principal: Actor,
        caller: CallerDep,
        deal_id: DealIdPath,
        body: NewActivity,
        expected: ExpectedVersion,
        response: Response,
    ) -> DealView:
        if body.kind == "call_linked":
            raise ApiError(422, "validation_failed", "calls are linked by the telephony events", field="kind")
        deal = await answer(
            use_cases.record_activity(
                deps,
                caller,
                deal_id,
                kind=body.kind,
                happened_at=body.happened_at,
                text=body.text,
                amount=body.amount,
                sentiment=body.sentiment,
                details=body.details(),
                expected_version=expected,
            )
        )
        return await view(deps, deal, response)

    @router.patch(
        "/v1/deals/{deal_id}",
        response_model=DealView,
        summary="Change the title, products (the amount follows), amount, manager or fields",
    )
    async def change(
        deps: DealsDep,
        principal: Actor,
        caller: CallerDep,
        deal_id: DealIdPath,
        body: ChangeDeal,
        expected: ExpectedVersion,
        response: Response,
    ) -> DealView:
        deal = await answer(
            use_cases.update(
                deps,
                caller,
                deal_id,
                title=body.title,
                manager_id=body.manager_id,
                products=[p.line() for p in body.products] if body.products is not None else None,
                amount=body.amount,
                fields=body.fields,
                expected_version=expected,
            )
        )
        return await view(deps, deal, response)

    @router.get(
        "/v1/stats/pipeline",
        summary="Per pipeline: deals per stage, conversion between stages, average days in stage, lost reasons",
    )
    async def stats(
        deps: DealsDep, principal: Analyst, pipeline: StageQuery = None, start: From = None, end: To = None
    ) -> dict[str, Any]:
        if pipeline and not deps.playbook.process.has_pipeline(pipeline):
            raise ApiError(404, "not_found", f"no pipeline {pipeline!r}")
        figures = await queries.pipeline_stats(deps, pipeline_id=pipeline, start=start, end=end)
        return {"from": start, "to": end, "generated_at": datetime.now(UTC), "pipelines": figures}

    return router
