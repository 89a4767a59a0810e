"""The manager's actions on a lead: take it into work, convert it into a deal, reject it. Each is
recorded with who did it: the lead's events name the caller, and an `audit.recorded` event with
the lead before and after is stored in the same update."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from crmhub.access import acting_manager
from crmhub.audit import Caller, audit_record
from crmhub.schemas.leads import RejectReason
from leads import metrics
from leads.domain.lead import Lead
from leads.service_layer.access import check
from leads.service_layer.context import Leads


def _state(lead: Lead) -> dict[str, Any]:
    return {"status": lead.status, "manager_id": lead.manager_id, "reject_reason": lead.reject_reason}


def _audited(deps: Leads, caller: Caller, action: str, change: Callable[[Lead], None]) -> Callable[[Lead], None]:
    def apply(lead: Lead) -> None:
        check(caller.principal, lead)
        before = _state(lead)
        lead.acting(caller.actor)
        change(lead)
        if lead.events:  # something happened: on record
            now = deps.now()
            record = audit_record(
                caller,
                action=action,
                entity=f"lead:{lead.id}",
                at=now,
                before=before,
                after=_state(lead),
                department_id=lead.department_id,
            )
            lead.record_event(record, at=now)

    return apply


async def take(deps: Leads, caller: Caller, lead_id: str, named: str | None) -> Lead:
    manager_id = acting_manager(caller.principal, named)
    lead = await deps.store.leads.change(
        lead_id, _audited(deps, caller, "lead.taken", lambda lead: lead.take(manager_id, now=deps.now()))
    )
    metrics.LEADS_TAKEN.labels(lead.source_id, "yes" if lead.taken_within_sla else "no").inc()
    return lead


async def convert(deps: Leads, caller: Caller, lead_id: str, named: str | None, comment: str | None) -> Lead:
    manager_id = acting_manager(caller.principal, named)

    def convert(lead: Lead) -> None:
        lead.convert(manager_id=manager_id, now=deps.now(), comment=comment)

    lead = await deps.store.leads.change(lead_id, _audited(deps, caller, "lead.converted", convert))
    deps.assigner.change_load(manager_id, -1)
    return lead


async def reject(deps: Leads, caller: Caller, lead_id: str, reason: RejectReason, comment: str | None) -> Lead:
    was_active: list[str] = []

    def reject(lead: Lead) -> None:
        was_active[:] = [lead.manager_id] if lead.manager_id and lead.status in ("assigned", "in_work") else []
        lead.reject(reason=reason, comment=comment, now=deps.now())

    lead = await deps.store.leads.change(lead_id, _audited(deps, caller, "lead.rejected", reject))
    for manager_id in was_active:
        deps.assigner.change_load(manager_id, -1)
    return lead
