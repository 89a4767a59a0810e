"""HTTP of the process as configured: the pipelines (stages, transitions, lost reasons) and the
active rule set."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from crmhub.access import EVERYONE, Policy
from crmhub.auth import Principal
from deals.entrypoints.dependencies import DealsDep

Anyone = Annotated[Principal, Depends(Policy(*EVERYONE, scopes=("deals:read",)))]


def process_router() -> APIRouter:
    router = APIRouter(tags=["process"])

    @router.get("/v1/pipelines", summary="The pipelines: stages (ru/en), allowed transitions, lost reasons")
    async def pipelines(deps: DealsDep, principal: Anyone) -> dict[str, Any]:
        process = deps.playbook.process
        return {
            "default_pipeline": process.default_pipeline,
            "pipelines": [
                {
                    **p.model_dump(),
                    "allowed_moves": {s.id: p.allowed_from(s.id) for s in p.stages},
                }
                for p in process.pipelines
            ],
            "lost_reasons": [r.model_dump() for r in process.lost_reasons],
        }

    @router.get("/v1/rules", summary="The active business-process rules, as loaded and checked at start")
    async def rules(deps: DealsDep, principal: Anyone) -> dict[str, Any]:
        team = deps.team
        return {
            "rule_seconds_per_day": team.seconds_per_day,
            "task_overdue_grace_seconds": team.overdue_grace.total_seconds(),
            "rules": [r.model_dump(mode="json", exclude_none=True) for r in deps.playbook.rules],
        }

    return router
