"""One-time links a person receives by e-mail (through the notifier): resetting a forgotten
password, and confirming a new e-mail address or Telegram chat before any client data is sent
there. A link works once, for `link_minutes`, and only its SHA-256 is kept."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from crmhub.audit import Caller, audit_record
from crmhub.auth import Principal
from crmhub.events import CloudEvent, new_event
from crmhub.schemas.accounts import AddressConfirmationRequested, PasswordResetRequested
from crmhub.schemas.team import Manager
from motivation.adapters.credentials import OneTimeLinks, hash_password
from motivation.service_layer.auth import Auth, SignInRefused, manager_for
from motivation.service_layer.team import MANAGERS, confirm_address_change


@dataclass
class Links:
    auth: Auth
    links: OneTimeLinks
    public_url: str
    lifetime: timedelta

    def url(self, token: str) -> str:
        return f"{self.public_url.rstrip('/')}/v1/auth/links/{token}"


async def request_password_reset(deps: Links, login: str, *, address: str) -> None:
    """Sends a link if the person exists and may sign in; the answer never tells whether they do."""
    if deps.auth.limiter.acquire(address) > 0:
        raise SignInRefused("too many requests from this address", retry_after=60)
    manager = await manager_for(deps.auth, login)
    account = await deps.auth.accounts.get(manager.id) if manager else None
    if manager is None or account is None or not manager.active:
        return
    now = deps.auth.now()
    token = await deps.links.issue(purpose="password_reset", manager_id=manager.id, now=now, lifetime=deps.lifetime)
    requested = PasswordResetRequested(manager_id=manager.id, link=deps.url(token), expires_at=now + deps.lifetime)
    await deps.auth.accounts.put(
        account, [new_event(requested, source=deps.auth.team.source, subject=f"manager:{manager.id}", time=now)]
    )


async def reset_password(deps: Links, token: str, new_password: str) -> str:
    now = deps.auth.now()
    link = await deps.links.use(token, purpose="password_reset", now=now)
    if link is None:
        raise SignInRefused("the link is unknown, used or expired: ask for a new one")
    account = await deps.auth.accounts.get(link["manager_id"])
    if account is None:
        raise SignInRefused("the account no longer exists")
    account.password_hash = hash_password(new_password)
    account.changed_at = now
    account.signed_in()  # a reset also lifts a lockout
    principal = Principal(link["manager_id"], "person", frozenset())
    record = audit_record(
        Caller(principal),
        action="account.password_reset",
        entity=f"account:{account.id}",
        at=now,
        after={"password_changed": True},
    )
    await deps.auth.accounts.put(
        account,
        [
            new_event(
                record, source=deps.auth.team.source, subject=f"account:{account.id}", time=now, actor=principal.actor
            )
        ],
    )
    await deps.auth.accounts.revoke_all(account.id)
    return account.id


async def confirmation_request(
    deps: Links, manager: Manager, channel: Literal["email", "telegram"], address: str
) -> CloudEvent:
    """The link for a new address, as the event the manager's change stores with itself."""
    now = deps.auth.now()
    token = await deps.links.issue(
        purpose="confirm_address",
        manager_id=manager.id,
        now=now,
        lifetime=deps.lifetime,
        address=address,
        channel=channel,
    )
    requested = AddressConfirmationRequested(
        manager_id=manager.id, channel=channel, address=address, link=deps.url(token), expires_at=now + deps.lifetime
    )
    return new_event(requested, source=deps.auth.team.source, subject=f"manager:{manager.id}", time=now)


async def confirm_address(deps: Links, token: str) -> Manager:
    link = await deps.links.use(token, purpose="confirm_address", now=deps.auth.now())
    if link is None:
        raise SignInRefused("the link is unknown, used or expired: ask an administrator to change the address again")
    state, _ = await confirm_address_change(
        deps.auth.team, MANAGERS, link["manager_id"], channel=link["channel"], address=link["address"]
    )
    return state
