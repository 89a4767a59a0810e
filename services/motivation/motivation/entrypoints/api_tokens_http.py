"""API tokens for integrations over HTTP (administrators only): issue (shown once), list, revoke."""

# No `from __future__ import annotations`: FastAPI reads these models at route definition.

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, ConfigDict, Field

from crmhub.access import CallerDep, Policy
from crmhub.aggregate import NotFound
from crmhub.schemas.team import ApiToken, Name, Scope
from crmhub.web import ApiError, from_app_state, require_json_body
from motivation.adapters.credentials import ApiTokenStore
from motivation.entrypoints.auth_http import AuthDep
from motivation.service_layer import api_tokens


class TokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    scopes: Annotated[list[Scope], Field(min_length=1)]
    days: Annotated[int, Field(ge=1, le=730)] = 365


class IssuedToken(BaseModel):
    api_token: ApiToken
    token: str = Field(description="Shown this once: the hub keeps only its SHA-256")


StoreDep = Annotated[ApiTokenStore, Depends(from_app_state("api_tokens", ApiTokenStore))]


def api_tokens_router() -> APIRouter:
    router = APIRouter(tags=["API tokens"], dependencies=[Depends(Policy("admin")), Depends(require_json_body)])

    @router.post(
        "/v1/api-tokens",
        status_code=201,
        response_model=IssuedToken,
        summary="Issue an integration's token (shown once)",
    )
    async def issue(deps: AuthDep, store: StoreDep, caller: CallerDep, body: TokenRequest) -> IssuedToken:
        record, token = await api_tokens.issue(deps, store, caller, name=body.name, scopes=body.scopes, days=body.days)
        return IssuedToken(api_token=record, token=token)

    @router.get(
        "/v1/api-tokens", summary="Issued tokens: names, scopes, expiry, whether they still work (never the tokens)"
    )
    async def list_tokens(store: StoreDep) -> dict[str, Any]:
        return {"items": [{**t.model_dump(mode="json"), "last_used_at": used} for t, used in await store.all()]}

    @router.post(
        "/v1/api-tokens/{token_id}/revoke",
        response_model=ApiToken,
        summary="Revoke a token: every service refuses it once it reads crm.team",
    )
    async def revoke(
        deps: AuthDep, store: StoreDep, caller: CallerDep, token_id: Annotated[str, Path(pattern=r"^[a-f0-9]{16}$")]
    ) -> ApiToken:
        try:
            return await api_tokens.revoke(deps, store, caller, token_id)
        except NotFound as exc:
            raise ApiError(404, "not_found", str(exc)) from None

    return router
