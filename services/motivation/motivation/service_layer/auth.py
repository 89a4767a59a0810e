"""Signing in: passwords checked against Argon2 hashes, repeated failures lock the account, each
client address is rate limited; a success gives a short-lived access token (a JWT every service
verifies itself from the published keys) and a refresh token that is used once and can be
revoked. Deactivating a manager revokes their sessions; the other services refuse their access
tokens as soon as they read the deactivation from crm.team."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from crmhub.audit import Caller, audit_record
from crmhub.auth import Principal, Role
from crmhub.events import new_event
from crmhub.rate_limit import RateLimiter
from crmhub.schemas.team import Department, Manager
from motivation.adapters.credentials import AccountStore, KeyRing, hash_password, password_matches
from motivation.domain.accounts import Account, SignInPolicy
from motivation.service_layer.team import DEPARTMENTS, MANAGERS, Team, add, get


class SignInRefused(Exception):
    """Wrong login or password, a locked account, or too many attempts (HTTP 401 / 429)."""

    def __init__(self, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass
class Auth:
    team: Team
    accounts: AccountStore
    keys: KeyRing
    issuer: str
    audience: str
    access_ttl: timedelta
    refresh_ttl: timedelta
    policy: SignInPolicy
    limiter: RateLimiter
    now: Callable[[], datetime]


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str
    expires_in: int
    token_type: str = "Bearer"  # noqa: S105 - the OAuth 2.0 token type, not a secret


async def manager_for(deps: Auth, login: str) -> Manager | None:
    found = await deps.team.managers.get(login)
    if found is None and "@" in login:
        entries, _ = await deps.team.managers.list(filters={"email": login.strip().lower()}, limit=1, offset=0)
        found = entries[0] if entries else None
    return found[0] if found else None


async def sign_in(deps: Auth, login: str, password: str, *, address: str) -> Tokens:
    wait = deps.limiter.acquire(address)
    if wait > 0:
        raise SignInRefused("too many sign-in attempts from this address", retry_after=max(1, round(wait)))
    now = deps.now()
    manager = await manager_for(deps, login)
    account = await deps.accounts.get(manager.id) if manager else None
    if manager is None or account is None or not manager.active:
        password_matches(None, password)
        raise SignInRefused("wrong login or password")
    if account.locked(now):
        raise SignInRefused("the account is locked after repeated failures; try again later")
    if not password_matches(account.password_hash, password):
        account.failed(now, deps.policy)
        await deps.accounts.put(account)
        raise SignInRefused("wrong login or password")
    account.signed_in()
    await deps.accounts.put(account)
    return await _tokens(deps, manager, account, now)


async def refresh(deps: Auth, refresh_token: str) -> Tokens:
    now = deps.now()
    session = await deps.accounts.use_session(refresh_token, now)
    if session is None:
        raise SignInRefused("the refresh token is unknown, used, revoked or expired")
    manager = await manager_for(deps, session["manager_id"])
    account = await deps.accounts.get(session["manager_id"])
    if manager is None or account is None or not manager.active:
        raise SignInRefused("the person is no longer active")
    return await _tokens(deps, manager, account, now)


async def sign_out(deps: Auth, refresh_token: str) -> None:
    await deps.accounts.revoke(refresh_token)


async def _tokens(deps: Auth, manager: Manager, account: Account, now: datetime) -> Tokens:
    claims: dict[str, Any] = {
        "iss": deps.issuer,
        "aud": deps.audience,
        "sub": manager.id,
        "iat": int(now.timestamp()),
        "nbf": int(now.timestamp()),
        "exp": int((now + deps.access_ttl).timestamp()),
        "jti": uuid.uuid4().hex,
        "kind": "person",
        "roles": list(account.roles),
        "department_id": manager.department_id,
    }
    access = await deps.keys.sign(claims, now)
    refresh_token = await deps.accounts.open_session(manager.id, expires_at=now + deps.refresh_ttl)
    return Tokens(access, refresh_token, int(deps.access_ttl.total_seconds()))


def _shown(account: Account | None) -> dict[str, Any] | None:
    """An account as the audit log keeps it: never the password hash."""
    return (
        None if account is None else {"roles": list(account.roles), "has_password": account.password_hash is not None}
    )


async def set_account(
    deps: Auth, manager_id: str, *, roles: list[Role], password: str | None, caller: Caller | None = None
) -> Account:
    """An administrator gives a manager roles (and a password)."""
    manager, _ = await get(deps.team, MANAGERS, manager_id)
    current = await deps.accounts.get(manager_id)
    now = deps.now()
    account = Account(
        id=manager_id,
        roles=sorted(set(roles)),
        password_hash=hash_password(password) if password else (current.password_hash if current else None),
        changed_at=now,
    )
    events = []
    if caller is not None:
        after = {**(_shown(account) or {}), "password_changed": password is not None}
        record = audit_record(
            caller,
            action="account.set",
            entity=f"account:{manager_id}",
            at=now,
            before=_shown(current),
            after=after,
            department_id=manager.department_id,
        )
        events.append(
            new_event(record, source=deps.team.source, subject=f"account:{manager_id}", time=now, actor=caller.actor)
        )
    await deps.accounts.put(account, events)
    if password:
        await deps.accounts.revoke_all(manager_id)
    return account


async def change_password(deps: Auth, principal: Principal, *, current: str, new: str) -> None:
    account = await deps.accounts.get(principal.subject)
    if account is None or not password_matches(account.password_hash, current):
        raise SignInRefused("the current password is wrong")
    account.password_hash = hash_password(new)
    account.changed_at = deps.now()
    await deps.accounts.put(account)
    await deps.accounts.revoke_all(principal.subject)


async def ensure_first_admin(deps: Auth, *, manager_id: str, email: str, password: str | None) -> None:
    """Make the first administrator (and its department) when no account exists yet."""
    if not password or await deps.accounts.any():
        return
    if await deps.team.departments.get("hq") is None:
        await add(deps.team, DEPARTMENTS, Department(id="hq", name="Head office", region="HQ"))
    if await deps.team.managers.get(manager_id) is None:
        await add(
            deps.team,
            MANAGERS,
            Manager(id=manager_id, name="Administrator", department_id="hq", email=email, working_hours={}),
        )
    await set_account(deps, manager_id, roles=["admin"], password=password)
