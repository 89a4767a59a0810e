"""Who may see and act on which lead: an administrator or an integration (by scope) any; a head
the leads of their own department and of those they head; anyone the leads assigned to them.
Someone else's lead is "not found" (its existence is not revealed)."""

from __future__ import annotations

from typing import Any

from crmhub.access import department_scope
from crmhub.aggregate import NotFound
from crmhub.auth import Principal
from leads.domain.lead import Lead


def can_see(principal: Principal, lead: Lead) -> bool:
    if principal.kind == "integration" or principal.has("admin"):
        return True
    if principal.answers_for(lead.department_id):
        return True
    return principal.kind == "person" and lead.manager_id == principal.subject  # theirs, whatever their role


def check(principal: Principal, lead: Lead) -> Lead:
    if not can_see(principal, lead):
        raise NotFound(f"no lead {lead.id!r}")
    return lead


def visible_filters(principal: Principal, filters: dict[str, Any]) -> dict[str, Any]:
    """A listing narrowed to what the caller may see."""
    if principal.kind == "integration" or principal.has("admin"):
        return filters
    if principal.departments:  # a head
        return {**filters, "department_id": department_scope(principal, filters.get("department_id"))}
    return {**filters, "manager_id": principal.subject}
