"""What people read: one lead, a page of leads, the figures."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from crmhub.access import visible_filters
from crmhub.aggregate import NotFound
from crmhub.auth import Principal
from leads.domain.lead import Lead
from leads.domain.stats import GroupBy, LeadFigures
from leads.service_layer.access import check
from leads.service_layer.context import Leads


async def get_lead(deps: Leads, principal: Principal, lead_id: str) -> Lead:
    lead = await deps.store.leads.get(lead_id)
    if lead is None:
        raise NotFound(f"no lead {lead_id!r}")
    return check(principal, lead)


async def list_leads(
    deps: Leads, principal: Principal, filters: dict[str, Any], *, limit: int, offset: int
) -> tuple[list[Lead], int]:
    return await deps.store.search(visible_filters(principal, filters), limit=limit, offset=offset)


async def figures(deps: Leads, *, group_by: GroupBy, start: datetime | None, end: datetime | None) -> list[LeadFigures]:
    return await deps.store.figures(group_by, start=start, end=end)
