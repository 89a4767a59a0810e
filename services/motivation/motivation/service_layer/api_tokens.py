"""API tokens for integrations: an administrator issues one with scopes (`leads:read`,
`leads:write`, `calls:read`, `reports:read`), sees it once, and can revoke it. The token is a
JWT signed like people's access tokens, so every service verifies it locally; its id, scopes and
whether it still works travel on crm.team (every service's read model), and the motivation
service keeps only its SHA-256."""

from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta
from typing import Any

from crmhub.aggregate import ConcurrentChange, NotFound
from crmhub.audit import Caller, audit_record
from crmhub.events import new_event
from crmhub.schemas.team import ApiToken, ApiTokenUpserted, Scope
from crmhub.team_directory import api_token_key
from motivation.adapters.credentials import ApiTokenStore
from motivation.service_layer.auth import Auth


async def issue(
    deps: Auth, store: ApiTokenStore, caller: Caller, *, name: str, scopes: list[Scope], days: int
) -> tuple[ApiToken, str]:
    now = deps.now()
    token_id = uuid.uuid4().hex[:16]
    record = ApiToken(id=token_id, name=name, scopes=sorted(set(scopes)), expires_at=now + timedelta(days=days))
    claims: dict[str, Any] = {
        "iss": deps.issuer,
        "aud": deps.audience,
        "sub": token_id,
        "iat": int(now.timestamp()),
        "nbf": int(now.timestamp()),
        "exp": int(record.expires_at.timestamp()),
        "jti": token_id,
        "kind": "integration",
        "scope": " ".join(record.scopes),
    }
    token = await deps.keys.sign(claims, now)
    await store.add(record, hashlib.sha256(token.encode()).hexdigest(), _events(deps, caller, record, None, version=1))
    return record, token


async def revoke(deps: Auth, store: ApiTokenStore, caller: Caller, token_id: str) -> ApiToken:
    found = await store.get(token_id)
    if found is None:
        raise NotFound(f"no API token {token_id!r}")
    current, version = found
    if not current.active:
        return current
    revoked = current.model_copy(update={"active": False})
    if not await store.replace(
        revoked, expected_version=version, events=_events(deps, caller, revoked, current, version=version + 1)
    ):
        raise ConcurrentChange(f"API token {token_id} is being changed concurrently; retry")
    return revoked


def _events(deps: Auth, caller: Caller, token: ApiToken, before: ApiToken | None, *, version: int) -> list[Any]:
    now = deps.now()
    key = api_token_key(token.id)
    upserted = new_event(
        ApiTokenUpserted(version=version, api_token=token),
        source=deps.team.source,
        subject=key,
        time=now,
        actor=caller.actor,
    )
    action = "api_token.issued" if before is None else "api_token.revoked"
    shown = token.model_dump(mode="json")
    record = audit_record(
        caller,
        action=action,
        entity=key,
        at=now,
        before=before.model_dump(mode="json") if before else None,
        after=shown,
    )
    return [upserted, new_event(record, source=deps.team.source, subject=key, time=now, actor=caller.actor)]
