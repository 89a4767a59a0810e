"""One-time links over HTTP: asking for a password reset, and the pages the links in e-mails
open (a form that resets the password; a button that confirms a new address). A link is acted
on only by the POST of its page, so mail scanners that open links change nothing."""

# No `from __future__ import annotations`: FastAPI reads these models at route definition.

import html
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, StringConstraints

from crmhub.access import Public
from crmhub.aggregate import NotFound
from crmhub.intake import IntakeError, form_fields
from crmhub.web import ApiError, ReceivedDep, from_app_state
from motivation.service_layer import links
from motivation.service_layer.auth import SignInRefused
from motivation.service_layer.links import Links

LINK = Public("one-time links: the link itself is the credential")
Token = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{20,100}$")]
NewPassword = Annotated[str, StringConstraints(min_length=10, max_length=200)]


class ResetRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    login: Annotated[str, StringConstraints(min_length=1, max_length=254)]


class ResetConfirm(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{20,100}$")]
    new_password: NewPassword


LinksDep = Annotated[Links, Depends(from_app_state("links", Links))]


def _page(title: str, body: str) -> HTMLResponse:
    return HTMLResponse(
        f"<!doctype html><html lang='ru'><head><meta charset='utf-8'><title>{html.escape(title)}</title></head>"
        f"<body style='font-family:sans-serif;max-width:32em;margin:3em auto'><h1>{html.escape(title)}</h1>{body}</body></html>"
    )


def links_router() -> APIRouter:
    router = APIRouter(tags=["sign-in"], dependencies=[Depends(LINK)])

    @router.post(
        "/v1/auth/password-reset",
        status_code=202,
        summary="E-mail a one-time password-reset link (if the account exists)",
    )
    async def ask(deps: LinksDep, body: ResetRequest, request: Request) -> dict[str, Any]:
        try:
            await links.request_password_reset(
                deps, body.login, address=request.client.host if request.client else "unknown"
            )
        except SignInRefused as exc:
            raise ApiError(429, "rate_limited", str(exc), headers={"Retry-After": str(exc.retry_after or 60)}) from None
        return {"status": "if the account exists, a link is on its way to its e-mail"}

    @router.post(
        "/v1/auth/password-reset/confirm", status_code=204, summary="Set a new password with the token from the link"
    )
    async def confirm(deps: LinksDep, body: ResetConfirm) -> None:
        try:
            await links.reset_password(deps, body.token, body.new_password)
        except SignInRefused as exc:
            raise ApiError(400, "invalid_link", str(exc)) from None

    @router.get("/v1/auth/links/{token}", response_class=HTMLResponse, summary="The page a one-time link opens")
    async def page(deps: LinksDep, token: Token) -> HTMLResponse:
        link = await deps.links.peek(token, deps.auth.now())
        if link is None:
            return _page("Ссылка недействительна", "<p>The link is unknown, used or expired.</p>")
        if link["purpose"] == "password_reset":
            return _page(
                "Новый пароль",
                "<form method='post'><label>New password (10+ characters) "
                "<input type='password' name='new_password' minlength='10' required></label> <button>Save</button></form>",
            )
        shown = html.escape(str(link["address"]))
        return _page(
            "Подтвердите адрес",
            f"<form method='post'><p>Send CRM notifications to <b>{shown}</b>?</p><button>Confirm</button></form>",
        )

    @router.post(
        "/v1/auth/links/{token}", response_class=HTMLResponse, summary="Act on a one-time link (its page's form)"
    )
    async def act(deps: LinksDep, token: Token, received: ReceivedDep) -> HTMLResponse:
        link = await deps.links.peek(token, deps.auth.now())
        try:
            if link is not None and link["purpose"] == "password_reset":
                new_password = form_fields(received.body).get("new_password", "") if received.body else ""
                if not 10 <= len(new_password) <= 200:
                    raise SignInRefused("the new password needs 10 to 200 characters")
                await links.reset_password(deps, token, new_password)
                return _page("Пароль изменён", "<p>Sign in with the new password.</p>")
            await links.confirm_address(deps, token)
        except (SignInRefused, NotFound, IntakeError) as exc:
            return _page("Ссылка недействительна", f"<p>{html.escape(str(exc))}</p>")
        return _page("Адрес подтверждён", "<p>Notifications will go there from now on.</p>")

    return router
