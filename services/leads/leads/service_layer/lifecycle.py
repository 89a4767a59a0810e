"""The manager's actions on a lead: take it into work, convert it into a deal, reject it."""

from __future__ import annotations

from crmhub.auth import Principal
from crmhub.schemas.leads import RejectReason
from leads import metrics
from leads.domain.lead import Lead
from leads.service_layer.access import acting_manager, check
from leads.service_layer.context import Leads


async def take(deps: Leads, principal: Principal, lead_id: str, named: str | None) -> Lead:
    now = deps.now()
    manager_id = acting_manager(principal, named)
    lead = await deps.store.leads.change(lead_id, lambda lead: check(principal, lead).take(manager_id, now=now))
    metrics.LEADS_TAKEN.labels(lead.source_id, "yes" if lead.taken_within_sla else "no").inc()
    return lead


async def convert(deps: Leads, principal: Principal, lead_id: str, named: str | None, comment: str | None) -> Lead:
    manager_id = acting_manager(principal, named)
    lead = await deps.store.leads.change(
        lead_id, lambda lead: check(principal, lead).convert(manager_id=manager_id, now=deps.now(), comment=comment)
    )
    deps.assigner.change_load(manager_id, -1)
    return lead


async def reject(deps: Leads, principal: Principal, lead_id: str, reason: RejectReason, comment: str | None) -> Lead:
    was_active: list[str] = []

    def reject(lead: Lead) -> None:
        check(principal, lead)
        was_active[:] = [lead.manager_id] if lead.manager_id and lead.status in ("assigned", "in_work") else []
        lead.reject(reason=reason, comment=comment, now=deps.now())

    lead = await deps.store.leads.change(lead_id, reject)
    for manager_id in was_active:
        deps.assigner.change_load(manager_id, -1)
    return lead
