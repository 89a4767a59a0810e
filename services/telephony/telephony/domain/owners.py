"""Whose client a phone number is: the manager of its open lead, followed from `lead.assigned`
(and let go on `lead.converted` / `lead.rejected`). One missed call is one obligation with one
owner: the call-back belongs to that manager when the number has an open lead, and the PBX
routing answer starts with them. No I/O."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from crmhub.aggregate import Aggregate

SOURCE = "/crm/telephony"


class ClientOwner(Aggregate):
    """`id` is the client's number (E.164)."""

    event_source: ClassVar[str] = SOURCE

    lead_id: str | None = None
    manager_id: str | None = None
    assigned_at: datetime | None = None
    open: bool = False

    def follow(self, *, lead_id: str, manager_id: str, at: datetime) -> bool:
        """The lead's manager is now this one; an older assignment arriving late changes nothing."""
        if self.assigned_at is not None and at < self.assigned_at:
            return False
        self.lead_id, self.manager_id, self.assigned_at, self.open = lead_id, manager_id, at, True
        return True

    def let_go(self, lead_id: str) -> None:
        """The lead was converted or rejected: nobody owns the number through it any more."""
        if self.lead_id == lead_id:
            self.open = False

    @property
    def owner(self) -> str | None:
        return self.manager_id if self.open else None
