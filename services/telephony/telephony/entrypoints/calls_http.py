"""Calls, call-backs and their figures, as people and clients read them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import RedirectResponse

from crmhub.access import Policy
from crmhub.aggregate import NotFound
from crmhub.auth import Principal
from crmhub.moments import Moment
from crmhub.schemas.calls import Direction, Outcome
from crmhub.schemas.team import ENTITY_ID_PATTERN
from crmhub.web import ApiError
from telephony.adapters.provider_api import RecordingUnavailable
from telephony.domain.callbacks import Callback
from telephony.domain.stats import GroupBy
from telephony.entrypoints.dependencies import TelephonyDep
from telephony.service_layer import queries

From = Annotated[Moment | None, Query(alias="from")]
To = Annotated[Moment | None, Query(alias="to")]
Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]
Reader = Annotated[Principal, Depends(Policy("admin", "head", "manager", scopes=("calls:read",)))]
Analyst = Annotated[Principal, Depends(Policy("admin", "head", scopes=("reports:read",)))]
CallIdPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9-]{1,64}$")]
Number = Annotated[str | None, Query(max_length=32, pattern=r"^\+?[0-9]{3,20}$")]


def callback_view(callback: Callback) -> dict[str, Any]:
    return {**callback.model_dump(exclude={"id"}), "missed_call_id": callback.id}


def calls_router() -> APIRouter:
    router = APIRouter(tags=["calls"])

    @router.get("/v1/calls/{call_id}", summary="One call: the merged record, and its call-back when it was missed")
    async def get_call(deps: TelephonyDep, principal: Reader, call_id: CallIdPath) -> dict[str, Any]:
        try:
            record, callback = await queries.call_with_callback(deps, principal, call_id)
        except NotFound:
            raise ApiError(404, "not_found", f"no call {call_id!r}") from None
        return {"call": record.model_dump(mode="json"), "callback": callback_view(callback) if callback else None}

    @router.get(
        "/v1/calls/{call_id}/recording",
        summary="The call's recording: a redirect to the provider's file (a fresh link for Zadarma and Mango)",
        status_code=307,
        responses={307: {"description": "Location: the recording"}, 404: {}, 502: {}},
    )
    async def get_recording(deps: TelephonyDep, principal: Reader, call_id: CallIdPath) -> RedirectResponse:
        try:
            link = await queries.recording_link(deps, principal, call_id)
        except NotFound as exc:
            raise ApiError(404, "not_found", str(exc)) from None
        except RecordingUnavailable as exc:
            raise ApiError(502, "recording_unavailable", str(exc)) from None
        return RedirectResponse(link, status_code=307)

    @router.get("/v1/calls", summary="Calls, newest first")
    async def list_calls(
        deps: TelephonyDep,
        principal: Reader,
        number: Number = None,
        manager: Annotated[str | None, Query(pattern=ENTITY_ID_PATTERN)] = None,
        line: Number = None,
        outcome: Outcome | None = None,
        direction: Direction | None = None,
        start: From = None,
        end: To = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> dict[str, Any]:
        filters = {
            "number": number,
            "manager_id": manager,
            "line": line,
            "outcome": outcome,
            "direction": direction,
            "from": start,
            "to": end,
        }
        records, total = await queries.calls(deps, principal, filters, limit=limit, offset=offset)
        return {"items": records, "total": total, "limit": limit, "offset": offset}

    @router.get("/v1/callbacks", summary="Missed calls to call back: open, made (with the delay) or overdue")
    async def list_callbacks(
        deps: TelephonyDep,
        principal: Reader,
        status: Annotated[str | None, Query(pattern="^(open|made|overdue)$")] = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> dict[str, Any]:
        callbacks, total = await queries.callbacks(deps, principal, status, limit=limit, offset=offset)
        return {"items": [callback_view(c) for c in callbacks], "total": total, "limit": limit, "offset": offset}

    @router.get(
        "/v1/stats/calls",
        summary="Incoming, outgoing, missed, answered-in-time share, average talk, call-back delay p50/p90, overdue call-backs",
    )
    async def stats(
        deps: TelephonyDep, principal: Analyst, group_by: GroupBy = "manager", start: From = None, end: To = None
    ) -> dict[str, Any]:
        standard, groups = await queries.figures(deps, group_by=group_by, start=start, end=end)
        return {
            "group_by": group_by,
            "from": start,
            "to": end,
            "answer_standard_seconds": standard,
            "generated_at": datetime.now(UTC),
            "groups": groups,
        }

    return router
