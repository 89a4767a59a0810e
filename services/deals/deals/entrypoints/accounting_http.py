"""HTTP of accounting: the site side of the 1C exchange (CommerceML 2, `type=sale`), a JSON payment
webhook for other accounting systems, and the payments parked for a person."""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import secrets
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field

from crmhub.access import SIGNED_INTAKE, Policy, Public
from crmhub.auth import Principal
from crmhub.intake import check_api_key, require_media_type, verify_timestamped
from crmhub.moments import Moment
from crmhub.web import ApiError, ReceivedDep, from_app_state
from deals.adapters.commerceml import BadExchangeFile, orders_xml
from deals.service_layer import accounting
from deals.service_layer.accounting import Accounting

EXCHANGE = Public("1C proves itself with HTTP Basic at checkauth, then with the session cookie it got")
Bookkeeper = Annotated[Principal, Depends(Policy("admin", "accounting", scopes=("deals:read",)))]
COOKIE = "crmhub_1c"
SourcePath = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")]


class Payment(BaseModel):
    """A payment an accounting system reports for an order (a deal)."""

    model_config = ConfigDict(extra="forbid")
    payment_id: str = Field(min_length=1, max_length=200)
    deal_id: str = Field(pattern=r"^deal-[a-z0-9]{1,40}$")
    amount: Decimal = Field(gt=0, le=Decimal("1e12"), max_digits=16, decimal_places=2)
    currency: str = Field(default="RUB", pattern=r"^[A-Z]{3}$")
    paid_at: Moment | None = None
    invoice_number: str | None = Field(default=None, max_length=100)
    purpose: str | None = Field(default=None, max_length=1000)


AccountingDep = Annotated[Accounting, Depends(from_app_state("accounting", Accounting))]


def _text(lines: list[str], status: int = 200, cookie: tuple[str, str] | None = None) -> Response:
    answer = PlainTextResponse("\n".join(lines) + "\n", status_code=status)
    if cookie:
        answer.set_cookie(cookie[0], cookie[1], httponly=True, samesite="strict")
    return answer


def _failure(message: str, status: int) -> Response:
    return _text(["failure", message], status)


def _basic_ok(deps: Accounting, header: str) -> bool:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not deps.login or not deps.password:
        return False
    try:
        login, _, password = base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return False
    same_login = hmac.compare_digest(login.encode(), deps.login.encode())
    return hmac.compare_digest(password.encode(), deps.password.encode()) and same_login


def accounting_router() -> APIRouter:
    router = APIRouter(tags=["accounting"])

    @router.api_route(
        "/v1/accounting/1c/exchange",
        methods=["GET", "POST"],
        dependencies=[Depends(EXCHANGE)],
        summary="The 1C exchange (CommerceML 2, type=sale): checkauth, init, query, success, file",
        response_class=PlainTextResponse,
    )
    async def exchange(deps: AccountingDep, request: Request) -> Response:
        kind, mode = request.query_params.get("type"), request.query_params.get("mode")
        if not deps.login or not deps.password:
            # not a fault of the server: this hub has no 1C exchange until it is given its login
            return _failure("the 1C exchange is not configured (DEALS_ONEC_LOGIN, DEALS_ONEC_PASSWORD)", 404)
        if kind != "sale":
            return _failure(f"type={str(kind)[:20]} is not supported: the hub exchanges orders (type=sale)", 400)
        now = datetime.now(UTC)
        if mode == "checkauth":
            if not _basic_ok(deps, request.headers.get("authorization", "")):
                return _failure("wrong login or password (HTTP Basic)", 401)
            token = secrets.token_urlsafe(24)
            await deps.store.open_session(token, now + deps.session_lifetime)
            return _text(["success", COOKIE, token], cookie=(COOKIE, token))
        token = request.cookies.get(COOKIE, "")
        session = await deps.store.session(token, now) if token else None
        if session is None and not _basic_ok(deps, request.headers.get("authorization", "")):
            return _failure("no exchange session: start with mode=checkauth", 401)
        if mode == "init":
            return _text(["zip=no", f"file_limit={deps.file_limit}"])
        if mode == "query":
            orders = await accounting.new_orders(deps)
            if session is not None:
                await deps.store.remember_query(token, [o.deal_id for o in orders])
            body = orders_xml(orders, now.astimezone(deps.timezone), deps.encoding)
            return Response(body, media_type=f"application/xml; charset={deps.encoding.lower()}")
        if mode == "success":
            if session is not None:
                await deps.store.exported(session.get("last_query") or [], now)
            return _text(["success"])
        if mode == "file":
            if request.method != "POST":
                return _failure("mode=file takes the file as the body of a POST", 405)
            content = await request.body()
            if len(content) > deps.file_limit:
                return _failure(f"the file is larger than file_limit={deps.file_limit} bytes", 413)
            try:
                counts = await accounting.take_file(deps, content)
            except BadExchangeFile as exc:
                return _failure(str(exc), 400)
            return _text(["success", json.dumps(counts)])
        return _failure(f"mode={str(mode)[:20]} is not one of checkauth, init, query, success, file", 400)

    @router.post(
        "/v1/accounting/{source}/payments",
        dependencies=[Depends(SIGNED_INTAKE)],
        summary="A payment from an accounting system (X-Api-Key, or X-Signature: t=<unix time>,v1=<HMAC>)",
        status_code=202,
    )
    async def payment(
        deps: AccountingDep, source: SourcePath, received: ReceivedDep, response: Response
    ) -> dict[str, Any]:
        secret = (deps.keys or {}).get(source)
        if secret is None:
            raise ApiError(404, "not_found", f"no accounting source {source!r} (DEALS_ACCOUNTING_KEYS)")
        body = received.body  # an IntakeError is answered by crmhub.web as the 4xx it names
        if received.headers.get("x-signature"):
            verify_timestamped(
                received.headers["x-signature"],
                secret=secret,
                body=body,
                now=datetime.now(UTC),
                tolerance_seconds=300,
                header="X-Signature",
            )
        else:
            check_api_key(secret=secret, given=received.headers.get("x-api-key"), header="X-Api-Key")
        require_media_type(received, "application/json")
        item = Payment.model_validate_json(body)  # a bad field: 422 naming it (crmhub.web)
        outcome = await accounting.record_payment(
            deps,
            source=source,
            payment_key=item.payment_id,
            deal_id=item.deal_id,
            amount=item.amount,
            paid_at=item.paid_at or datetime.now(UTC),
            details={k: v for k, v in {"invoice_number": item.invoice_number, "purpose": item.purpose}.items() if v},
        )
        response.status_code = 200 if outcome == "duplicate" else 202
        return {"outcome": outcome, "payment_id": item.payment_id, "deal_id": item.deal_id}

    @router.get("/v1/accounting/parked", summary="Payments for orders the hub does not know, kept for a person")
    async def parked(deps: AccountingDep, principal: Bookkeeper) -> dict[str, Any]:
        return {"items": [{"id": d.pop("_id"), **d} for d in await deps.store.parked_payments()]}

    return router
