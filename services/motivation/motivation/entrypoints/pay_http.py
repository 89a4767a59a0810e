"""HTTP of plans, pay rules, payouts, month close and the funnel. Routes translate and hand on;
`motivation.service_layer.pay` decides."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BaseModel, ConfigDict, StringConstraints

from crmhub.access import CallerDep, Policy
from crmhub.auth import Principal
from crmhub.schemas.team import ENTITY_ID_PATTERN, Manager
from crmhub.web import ApiError, ExpectedVersion, from_app_state, require_json_body
from motivation.domain.activity import PERIOD_FORMAT
from motivation.domain.pay import Money, PayRules, Plan
from motivation.service_layer import pay
from motivation.service_layer.pay import Pay, PeriodClosedError, StalePlan, UnknownEntity

PeriodPath = Annotated[str, Path(pattern=PERIOD_FORMAT, description="YYYY-MM")]
IdPath = Annotated[str, Path(pattern=ENTITY_ID_PATTERN)]
Planner = Annotated[Principal, Depends(Policy("admin", "head"))]
Reader = Annotated[Principal, Depends(Policy("admin", "head", "manager", "accounting", scopes=("reports:read",)))]
Payroll = Annotated[Principal, Depends(Policy("admin", "accounting"))]
PayReader = Annotated[Principal, Depends(Policy("admin", "head", "manager", "accounting", scopes=("reports:read",)))]
Reopener = Annotated[Principal, Depends(Policy("admin", "head"))]
RulesReader = Annotated[Principal, Depends(Policy("admin", "head", "accounting"))]


PayDep = Annotated[Pay, Depends(from_app_state("pay", Pay))]


class PayProfile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    base_salary: Money


class Reopen(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]


def _department_of(deps: Pay, principal: Principal, department_id: str) -> None:
    """Managers read their own department's plan; heads plan and read their own department and
    those they head."""
    if principal.has("admin") or principal.has("accounting") or principal.kind == "integration":
        return
    if principal.department_id != department_id and not principal.answers_for(department_id):
        raise ApiError(403, "forbidden", f"{principal.actor} is not the head of {department_id}")


def _manager_seen(deps: Pay, principal: Principal, manager_id: str) -> Manager:
    """The manager whose figures the caller asks for, if the caller may see them (404 otherwise)."""
    manager = deps.directory.manager(manager_id)
    sees_all = principal.has("admin") or principal.has("accounting") or principal.kind == "integration"
    their_head = manager is not None and principal.answers_for(manager.department_id)
    if not (sees_all or their_head or principal.subject == manager_id):
        raise ApiError(404, "not_found", f"no payout for {manager_id!r}")
    if manager is None:
        raise ApiError(404, "not_found", f"no manager {manager_id!r}")
    return manager


async def _answer(action: Any) -> Any:
    try:
        return await action
    except UnknownEntity as exc:
        raise ApiError(422, "validation_failed", str(exc), field=exc.field) from None
    except PeriodClosedError as exc:
        raise ApiError(409, "period_closed", str(exc)) from None
    except StalePlan as exc:
        raise ApiError(409, "stale_version", str(exc)) from None


def pay_router() -> APIRouter:
    router = APIRouter(tags=["plans and pay"], dependencies=[Depends(require_json_body)])

    async def put_plan(
        deps: Pay,
        principal: Principal,
        caller: Any,
        period: str,
        scope: str,
        scope_id: str,
        body: Plan,
        expected: int | None,
        response: Response,
    ) -> dict[str, Any]:
        stored, created = await _answer(pay.set_plan(deps, caller, period, scope, scope_id, body, expected))
        response.status_code = 201 if created else 200
        response.headers["ETag"] = f'"{stored["version"]}"'
        return dict(stored)

    @router.put("/v1/plans/{period}/departments/{department_id}", summary="Set a department's plan for a period")
    async def put_department_plan(
        deps: PayDep,
        principal: Planner,
        caller: CallerDep,
        period: PeriodPath,
        department_id: IdPath,
        body: Plan,
        response: Response,
        expected: ExpectedVersion,
    ) -> dict[str, Any]:
        _department_of(deps, principal, department_id)
        return await put_plan(deps, principal, caller, period, "department", department_id, body, expected, response)

    @router.put(
        "/v1/plans/{period}/managers/{manager_id}", summary="Set a manager's own plan (overrides the department's)"
    )
    async def put_manager_plan(
        deps: PayDep,
        principal: Planner,
        caller: CallerDep,
        period: PeriodPath,
        manager_id: IdPath,
        body: Plan,
        response: Response,
        expected: ExpectedVersion,
    ) -> dict[str, Any]:
        manager = deps.directory.manager(manager_id)
        if manager is None:
            raise ApiError(422, "validation_failed", f"no manager {manager_id!r}", field="manager_id")
        _department_of(deps, principal, manager.department_id)
        return await put_plan(deps, principal, caller, period, "manager", manager_id, body, expected, response)

    @router.get("/v1/plans/{period}/departments/{department_id}", summary="A department's plan in force, and its facts")
    async def get_department_plan(
        deps: PayDep, principal: Reader, period: PeriodPath, department_id: IdPath
    ) -> dict[str, Any]:
        if deps.directory.department(department_id) is None:
            raise ApiError(404, "not_found", f"no department {department_id!r}")
        _department_of(deps, principal, department_id)
        found = await pay.effective_plan(deps, period, "department", department_id)
        if found is None:
            raise ApiError(404, "not_found", f"no plan for {department_id} in or before {period}")
        plan, set_for = found
        members = [m.id for m in deps.directory.managers_of(department_id)]
        counters = await deps.store.months(period, members)
        counts: dict[str, int] = {}
        revenue = 0
        for doc in counters.values():
            for kpi, n in (doc.get("kpis") or {}).items():
                counts[kpi] = counts.get(kpi, 0) + int(n)
            revenue += int((doc.get("revenue") or {}).get(plan.currency, 0))
        return {
            "period": period,
            "department_id": department_id,
            "set_for": set_for,
            "plan": plan.model_dump(mode="json"),
            "facts": {
                "kpis": {t.kpi: {"fact": counts.get(t.kpi, 0), "target": str(t.target)} for t in plan.activity},
                "revenue": str(Decimal(revenue) / 100),
                "sales_target": str(plan.sales_target),
            },
        }

    @router.get(
        "/v1/plans/{period}/managers/{manager_id}",
        summary="A manager's plan in force (their own, or their department's)",
    )
    async def get_manager_plan(
        deps: PayDep, principal: Reader, period: PeriodPath, manager_id: IdPath
    ) -> dict[str, Any]:
        manager = _manager_seen(deps, principal, manager_id)
        found = await pay.manager_plan(deps, period, manager)
        if found is None:
            raise ApiError(404, "not_found", f"no plan for {manager_id} or their department in or before {period}")
        plan, source, set_for = found
        return {
            "period": period,
            "manager_id": manager_id,
            "source": source,
            "set_for": set_for,
            "plan": plan.model_dump(mode="json"),
        }

    @router.put("/v1/pay-rules/departments/{department_id}", summary="A department's salary and commission tier tables")
    async def put_rules(
        deps: PayDep, principal: Payroll, caller: CallerDep, department_id: IdPath, body: PayRules
    ) -> dict[str, Any]:
        if deps.directory.department(department_id) is None:
            raise ApiError(422, "validation_failed", f"no department {department_id!r}", field="department_id")
        await deps.store.put_pay_rules(department_id, body.model_dump(mode="json"))
        return {"department_id": department_id, **body.model_dump(mode="json")}

    @router.get(
        "/v1/pay-rules/departments/{department_id}",
        summary="The tier tables in force (the example defaults when none are set)",
    )
    async def get_rules(deps: PayDep, principal: RulesReader, department_id: IdPath) -> dict[str, Any]:
        rules, source = await pay.rules_for(deps, department_id)
        return {"department_id": department_id, "source": source, **rules.model_dump(mode="json")}

    @router.put("/v1/pay-profiles/{manager_id}", summary="A manager's base salary (pay data stays off crm.team)")
    async def put_profile(
        deps: PayDep, principal: Payroll, caller: CallerDep, manager_id: IdPath, body: PayProfile
    ) -> dict[str, Any]:
        if deps.directory.manager(manager_id) is None:
            raise ApiError(422, "validation_failed", f"no manager {manager_id!r}", field="manager_id")
        await deps.store.put_profile(manager_id, {"base_salary": str(body.base_salary)})
        return {"manager_id": manager_id, "base_salary": str(body.base_salary)}

    @router.get("/v1/payouts/{period}", summary="Every payout of a period: frozen when closed, provisional before")
    async def payouts(deps: PayDep, principal: PayReader, period: PeriodPath) -> dict[str, Any]:
        visible = []
        for manager in sorted(deps.directory.managers.values(), key=lambda m: m.id):
            try:
                _manager_seen(deps, principal, manager.id)
            except ApiError:
                continue
            visible.append(manager)
        items = await pay.payouts_list(deps, period, visible)
        state = await deps.store.period(period)
        return {"period": period, "state": (state or {}).get("state", "open"), "items": items}

    @router.get("/v1/payouts/{period}/{manager_id}", summary="One payout with its explanation, line by line")
    async def payout(deps: PayDep, principal: PayReader, period: PeriodPath, manager_id: IdPath) -> dict[str, Any]:
        manager = _manager_seen(deps, principal, manager_id)
        found = await pay.payout_of(deps, period, manager)
        if found is None:
            raise ApiError(404, "not_found", f"no plan for {manager_id} in {period}: nothing to pay by")
        return found

    @router.get("/v1/periods/{period}", summary="A period's state: open or closed, its revision, its flags")
    async def period_state(deps: PayDep, principal: Reader, period: PeriodPath) -> dict[str, Any]:
        state = await deps.store.period(period) or {"state": "open", "revision": 0}
        return {"period": period, **{k: v for k, v in state.items() if k not in ("_id", "snapshot", "adjusted_to")}}

    @router.post(
        "/v1/periods/{period}/close", summary="Freeze the period's figures and calculate every payout (idempotent)"
    )
    async def close(deps: PayDep, principal: Payroll, caller: CallerDep, period: PeriodPath) -> dict[str, Any]:
        return {"period": period, **await pay.close(deps, caller, period)}

    @router.post(
        "/v1/periods/{period}/reopen", summary="Reopen a closed period (audited); its next close supersedes the payouts"
    )
    async def reopen(
        deps: PayDep, principal: Reopener, caller: CallerDep, period: PeriodPath, body: Reopen
    ) -> dict[str, Any]:
        return dict(await _answer(pay.reopen(deps, caller, period, body.reason)))

    @router.get("/v1/periods/{period}/payouts.csv", summary="A closed period's payouts as CSV for accounting")
    async def export(deps: PayDep, principal: Payroll, period: PeriodPath) -> Response:
        text = await _answer(pay.export_csv(deps, period))
        return Response(
            text,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="payouts-{period}.csv"'},
        )

    @router.get("/v1/counters/parked", summary="Events held for a manager the directory does not know yet")
    async def parked(deps: PayDep, principal: Payroll) -> dict[str, Any]:
        docs = await deps.store.parked_events()
        return {
            "items": [
                {
                    "event_id": d["_id"],
                    "manager_id": d["manager_id"],
                    "type": d["event"]["type"],
                    "parked_at": d["parked_at"],
                }
                for d in docs
            ]
        }

    @router.get("/v1/funnel", summary="Calls, meetings, proposals, invoices, deals won, revenue and conversions")
    async def funnel(
        deps: PayDep,
        principal: Reader,
        start: Annotated[date, Query(alias="from")],
        end: Annotated[date, Query(alias="to")],
        department_id: Annotated[str | None, Query(pattern=ENTITY_ID_PATTERN)] = None,
        manager_id: Annotated[str | None, Query(pattern=ENTITY_ID_PATTERN)] = None,
    ) -> dict[str, Any]:
        if end < start or (end - start).days > 366:
            raise ApiError(422, "validation_failed", "from..to is at most a year, from before to", field="to")
        departments = frozenset({department_id}) if department_id else None
        if principal.kind == "person" and not (principal.has("admin") or principal.has("accounting")):
            if not principal.departments:
                manager_id = principal.subject
            elif department_id is None:
                departments = principal.departments
            elif not principal.answers_for(department_id):
                raise ApiError(403, "forbidden", f"{principal.actor} is not the head of {department_id}")
        return await pay.funnel(deps, departments=departments, manager_id=manager_id, start=start, end=end)

    return router


__all__ = ["pay_router"]
