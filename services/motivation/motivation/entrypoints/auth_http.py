"""Sign-in over HTTP: tokens, the published keys, and accounts (roles, passwords)."""

# No `from __future__ import annotations`: FastAPI reads these models at route definition.

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, StringConstraints

from crmhub.access import EVERYONE, CallerDep, Policy, Public
from crmhub.aggregate import NotFound
from crmhub.auth import Principal, Role
from crmhub.schemas.team import ENTITY_ID_PATTERN
from crmhub.web import ApiError, from_app_state, require_json_body
from motivation.service_layer import auth
from motivation.service_layer.auth import Auth, SignInRefused

Password = Annotated[str, StringConstraints(min_length=10, max_length=200)]
Secret = Annotated[str, StringConstraints(min_length=1, max_length=500)]
SIGN_IN = Public("sign-in: the body carries the credentials")
Anyone = Annotated[Principal, Depends(Policy(*EVERYONE))]
Admin = Annotated[Principal, Depends(Policy("admin"))]


class SignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    login: Annotated[str, StringConstraints(min_length=1, max_length=254)]
    password: Secret


class Refresh(BaseModel):
    model_config = ConfigDict(extra="forbid")
    refresh_token: Secret


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    current_password: Secret
    new_password: Password


class AccountIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    roles: list[Role]
    password: Password | None = None


class AccountOut(BaseModel):
    manager_id: str
    roles: list[Role]
    has_password: bool
    locked_until: Any = None


AuthDep = Annotated[Auth, Depends(from_app_state("auth", Auth))]


def _refused(exc: SignInRefused) -> ApiError:
    if exc.retry_after is not None:
        return ApiError(429, "rate_limited", str(exc), headers={"Retry-After": str(exc.retry_after)})
    return ApiError(401, "unauthenticated", str(exc))


def auth_router() -> APIRouter:
    router = APIRouter(tags=["sign-in"], dependencies=[Depends(require_json_body)])

    @router.post(
        "/v1/auth/login", dependencies=[Depends(SIGN_IN)], summary="Sign in with a manager id or e-mail and a password"
    )
    async def login(deps: AuthDep, body: SignIn, request: Request) -> dict[str, Any]:
        try:
            tokens = await auth.sign_in(
                deps, body.login, body.password, address=request.client.host if request.client else "unknown"
            )
        except SignInRefused as exc:
            raise _refused(exc) from None
        return asdict(tokens)

    @router.post(
        "/v1/auth/refresh",
        dependencies=[Depends(SIGN_IN)],
        summary="A new access token for a refresh token (which is used up)",
    )
    async def refresh(deps: AuthDep, body: Refresh) -> dict[str, Any]:
        try:
            return asdict(await auth.refresh(deps, body.refresh_token))
        except SignInRefused as exc:
            raise _refused(exc) from None

    @router.post(
        "/v1/auth/logout",
        status_code=204,
        dependencies=[Depends(SIGN_IN)],
        summary="End the session of a refresh token",
    )
    async def logout(deps: AuthDep, body: Refresh) -> Response:
        await auth.sign_out(deps, body.refresh_token)
        return Response(status_code=204)

    @router.get("/v1/auth/me", summary="Who the access token says you are")
    async def me(principal: Anyone) -> dict[str, Any]:
        return {
            "subject": principal.subject,
            "roles": sorted(principal.roles),
            "department_id": principal.department_id,
            "heads": sorted(principal.heads),
            "actor": principal.actor,
        }

    @router.post("/v1/auth/password", status_code=204, summary="Change your own password (ends your other sessions)")
    async def change_password(deps: AuthDep, body: PasswordChange, principal: Anyone) -> Response:
        try:
            await auth.change_password(deps, principal, current=body.current_password, new=body.new_password)
        except SignInRefused as exc:
            raise ApiError(403, "forbidden", str(exc)) from None
        return Response(status_code=204)

    @router.put(
        "/v1/accounts/{manager_id}",
        response_model=AccountOut,
        summary="Give a manager roles and (optionally) a password",
    )
    async def put_account(
        deps: AuthDep,
        body: AccountIn,
        principal: Admin,
        caller: CallerDep,
        manager_id: Annotated[str, Path(pattern=ENTITY_ID_PATTERN)],
    ) -> AccountOut:
        try:
            account = await auth.set_account(deps, manager_id, roles=body.roles, password=body.password, caller=caller)
        except NotFound as exc:
            raise ApiError(404, "not_found", str(exc)) from None
        return AccountOut(
            manager_id=account.id,
            roles=account.roles,
            has_password=account.password_hash is not None,
            locked_until=account.locked_until,
        )

    @router.get(
        "/.well-known/jwks.json",
        dependencies=[Depends(SIGN_IN)],
        summary="The public keys that sign the hub's access tokens",
    )
    async def jwks(deps: AuthDep) -> dict[str, Any]:
        return await deps.keys.jwks(deps.now())

    return router
