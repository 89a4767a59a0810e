"""Who may see and act on which lead: an administrator or an integration (by scope) any; a head
the leads of their own department and of those they head; anyone the leads assigned to them.
Someone else's lead is "not found" (its existence is not revealed)."""

from __future__ import annotations

from crmhub.access import sees_everything
from crmhub.aggregate import NotFound
from crmhub.auth import Principal
from leads.domain.lead import Lead


def can_see(principal: Principal, lead: Lead) -> bool:
    if sees_everything(principal):
        return True
    if principal.answers_for(lead.department_id):
        return True
    return principal.kind == "person" and lead.manager_id == principal.subject  # theirs, whatever their role


def check(principal: Principal, lead: Lead) -> Lead:
    if not can_see(principal, lead):
        raise NotFound(f"no lead {lead.id!r}")
    return lead
