"""Recording who changed what: the `audit.recorded` event a use case adds to the aggregate it
changes, and the request details (address, request id) the routes hand to the use cases."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from crmhub.auth import Principal
from crmhub.schemas.audit import AuditRecorded


@dataclass(frozen=True)
class Caller:
    """The signed-in caller of a management API and where the request came from."""

    principal: Principal
    address: str | None = None
    request_id: str | None = None

    @property
    def actor(self) -> str:
        return self.principal.actor


def audit_record(
    caller: Caller,
    *,
    action: str,
    entity: str,
    at: datetime,
    before: Any = None,
    after: Any = None,
    department_id: str | None = None,
) -> AuditRecorded:
    return AuditRecorded(
        actor=caller.actor,
        action=action,
        entity=entity,
        department_id=department_id,
        at=at,
        address=caller.address,
        request_id=caller.request_id,
        before=before,
        after=after,
    )
