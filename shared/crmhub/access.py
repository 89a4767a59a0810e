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
from typing import Annotated

from fastapi import Depends, Request

from crmhub.audit import Caller
from crmhub.auth import Principal, Role, TokenVerifier, Unauthenticated
from crmhub.logs import current_request_id
from crmhub.web import ApiError

log = logging.getLogger("crmhub.access")


class Policy:
    def __init__(self, *roles: Role, scopes: tuple[str, ...] = ()) -> None:
        self.roles = frozenset(roles)
        self.scopes = frozenset(scopes)

    def __repr__(self) -> str:
        return f"Policy(roles={sorted(self.roles)}, scopes={sorted(self.scopes)})"

    def admits(self, principal: Principal) -> bool:
        if principal.kind == "integration":
            return bool(principal.scopes & self.scopes)
        return bool(principal.roles & self.roles)

    async def __call__(self, request: Request) -> Principal:
        principal = await authenticate(request)
        if not self.admits(principal):
            raise ApiError(
                403,
                "forbidden",
                f"{principal.actor} may not do this (allowed: {', '.join(sorted(self.roles | self.scopes))})",
            )
        request.state.principal = principal
        return principal


class Public:
    """Marks a route that needs no bearer token (operational endpoints, signed intakes)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    async def __call__(self) -> None:
        return None


async def authenticate(request: Request) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
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


def current_caller(request: Request) -> Caller:
    """The caller a route's policy admitted (declare the policy first), with where the request came from."""
    principal = getattr(request.state, "principal", None)
    if principal is None:
        raise ApiError(401, "unauthenticated", "sign in: send `Authorization: Bearer <access token>`")
    return Caller(principal, request.client.host if request.client else None, current_request_id.get())


CallerDep = Annotated[Caller, Depends(current_caller)]
