"""Every route's access policy, as a FastAPI dependency.

`Policy("admin", "head", scopes=("leads:write",))` lets in a person holding any of the roles, or
an integration token holding any of the scopes; anybody else gets 403, a request without a
usable token 401 (logged without the token). A route takes `Annotated[Principal, Depends(Policy(...))]` and does the
object-level check (a manager's own leads, a head's own department) in its use case. Routes
that authenticate otherwise (intake signatures) or not at all (health, docs) are marked with
`PUBLIC`, so a route with no policy is a mistake the authorization matrix test finds.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import Depends, Request

from crmhub.audit import Caller
from crmhub.auth import Principal, Role, TokenVerifier, Unauthenticated
from crmhub.logs import current_request_id
from crmhub.web import ApiError

log = logging.getLogger("crmhub.access")


SESSION_COOKIE = "crmhub_session"


class Policy:
    """`cookie=True` also takes the access token from the HttpOnly, SameSite=Strict session
    cookie a page's sign-in form sets: only for pages that read (GET), never for changes."""

    def __init__(self, *roles: Role, scopes: tuple[str, ...] = (), cookie: bool = False) -> None:
        self.roles = frozenset(roles)
        self.scopes = frozenset(scopes)
        self.cookie = cookie

    def __repr__(self) -> str:
        return f"Policy(roles={sorted(self.roles)}, scopes={sorted(self.scopes)})"

    def admits(self, principal: Principal) -> bool:
        if principal.kind == "integration":
            return bool(principal.scopes & self.scopes)
        return bool(principal.roles & self.roles)

    async def __call__(self, request: Request) -> Principal:
        principal = await authenticate(request, cookie=self.cookie)
        if not self.admits(principal):
            raise ApiError(
                403,
                "forbidden",
                f"{principal.actor} may not do this (allowed: {', '.join(sorted(self.roles | self.scopes))})",
            )
        request.state.principal = principal
        return principal


class PagePolicy(Policy):
    """The policy of a page people open in a browser: the token may come from the session
    cookie, and a refusal is handed to the page (to show its sign-in form with the status)
    instead of being answered as JSON."""

    def __init__(self, *roles: Role, scopes: tuple[str, ...] = ()) -> None:
        super().__init__(*roles, scopes=scopes, cookie=True)

    async def __call__(self, request: Request) -> Principal | ApiError:  # type: ignore[override]
        try:
            return await super().__call__(request)
        except ApiError as refused:
            return refused


class Public:
    """Marks a route that needs no bearer token (operational endpoints, signed intakes)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    async def __call__(self) -> None:
        return None


async def authenticate(request: Request, *, cookie: bool = False) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if cookie and not header and request.method == "GET" and request.cookies.get(SESSION_COOKIE):
        scheme, token = "bearer", request.cookies[SESSION_COOKIE]
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(
            401,
            "unauthenticated",
            "sign in: send `Authorization: Bearer <access token>`",
            headers={"WWW-Authenticate": "Bearer"},
        )
    verifier: TokenVerifier = request.app.state.verifier
    try:
        return await verifier.verify(token.strip())
    except Unauthenticated as exc:
        log.warning("token refused: %s", exc)
        raise ApiError(
            401, "unauthenticated", str(exc), headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
        ) from None


EVERYONE: tuple[Role, ...] = ("admin", "head", "manager", "accounting")
PUBLIC_OPERATIONS = Public("operational endpoints: health, readiness, metrics, documents")
SIGNED_INTAKE = Public("intake: the sender proves itself with its own key or signature")


async def current_caller(request: Request) -> Caller:
    """The caller a route's policy admitted (declare the policy first), with where the request came from."""
    principal = getattr(request.state, "principal", None)
    if principal is None:
        raise ApiError(401, "unauthenticated", "sign in: send `Authorization: Bearer <access token>`")
    return Caller(principal, request.client.host if request.client else None, current_request_id.get())


CallerDep = Annotated[Caller, Depends(current_caller)]


def sees_everything(principal: Principal) -> bool:
    """An administrator, or an integration (within its token's scopes)."""
    return principal.kind == "integration" or principal.has("admin")


def visible_filters(principal: Principal, filters: dict[str, Any]) -> dict[str, Any]:
    """A listing's filters narrowed to what the caller may see: everything; a head's departments
    (`department_scope`); or a person's own (`manager_id`)."""
    if sees_everything(principal):
        return filters
    if principal.departments:  # a head
        return {**filters, "department_id": department_scope(principal, filters.get("department_id"))}
    return {**filters, "manager_id": principal.subject}


def department_scope(principal: Principal, asked: str | None = None) -> list[str]:
    """A head's listing narrowed to the departments they answer for, or to the one they asked for
    if they answer for it (an empty list, which matches nothing, if not)."""
    mine = principal.departments
    if asked is not None:
        return [asked] if asked in mine else []
    return sorted(mine)


def acting_manager(principal: Principal, named: str | None) -> str:
    """Whom an action (take a lead, open a deal, set a task) is done as. A person who names nobody
    acts as themselves: a manager always, a head or an administrator unless they name a manager
    they act for. An integration is nobody, so it names the manager (ValueError: a 422 naming
    `manager_id`); a manager naming someone else is refused (PermissionError: a 403)."""
    if principal.kind == "person" and not (principal.has("admin") or principal.has("head")):
        if named not in (None, principal.subject):
            raise PermissionError(f"{principal.actor} acts as themselves, not as {named}")
        return principal.subject
    if named is not None:
        return named
    if principal.kind == "person":
        return principal.subject
    raise ValueError("manager_id: an integration names the manager who acts")
