"""The audit trail: one event per change made through a management API, written in the same
document update as the change (so there is no change without its record, nor the reverse) and
kept append-only by the motivation service (`GET /v1/audit`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from crmhub import topics
from crmhub.events import EventData


class AuditRecorded(EventData):
    """Who (a person or an integration token), did what, to which entity, when, from where, and
    the entity before and after (secrets are never part of it)."""

    event_type: ClassVar[str] = "audit.recorded"
    topic: ClassVar[topics.Topic] = topics.AUDIT

    actor: str
    action: str
    entity: str
    department_id: str | None = None
    at: datetime
    address: str | None = None
    request_id: str | None = None
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None


class ApiTokenUsed(EventData):
    """An integration's API token was used at a service (each service says so at most once a
    minute per token): the motivation service keeps the last time (`GET /v1/api-tokens`)."""

    event_type: ClassVar[str] = "api_token.used"
    topic: ClassVar[topics.Topic] = topics.AUDIT

    token_id: str
    service: str
    at: datetime
