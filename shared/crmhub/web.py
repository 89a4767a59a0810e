"""The HTTP face every service shares: body limits, errors that name the problem, request
metrics and ids, and the operational endpoints (/health, /ready, /metrics, /asyncapi)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from faststream.specification import Specification, get_asyncapi_html
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import ValidationError
from pymongo.errors import ConnectionFailure
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from crmhub import metrics
from crmhub.aggregate import ConcurrentChange
from crmhub.intake import IntakeError, Received
from crmhub.logs import current_request_id

log = logging.getLogger("crmhub.web")

T = TypeVar("T")
ReadinessCheck = Callable[[], Awaitable[tuple[bool, str]]]


class ApiError(Exception):
    """An answer for the client: HTTP status, a stable error code and a message naming the problem."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        field: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers or {}
        self.extra = extra or {}


async def received_request(request: Request) -> Received:
    """An intake request as the intake kit sees it (crmhub.intake)."""
    return Received(
        method=request.method,
        url=str(request.url),
        headers={k.lower(): v for k, v in request.headers.items()},
        query=dict(request.query_params),
        body=await request.body(),
        client_ip=request.client.host if request.client else "",
    )


ReceivedDep = Annotated[Received, Depends(received_request)]

_VERSION = re.compile(r'^(?:W/)?"?(\d{1,12})"?$')


def from_app_state(name: str, kind: type[T]) -> Callable[[Request], Awaitable[T]]:
    """A route dependency handing over what the service's app was built with (`app.state.<name>`).
    A coroutine, as every dependency here is: FastAPI runs a plain function on its thread pool,
    one thread hop per request for an attribute read."""

    async def dependency(request: Request) -> T:
        found: T = getattr(request.app.state, name)
        return found

    return dependency


async def expected_version(if_match: Annotated[str | None, Header(alias="If-Match")] = None) -> int | None:
    """`If-Match: "<version>"` (the ETag a GET gave): the change applies only to that version."""
    if if_match is None or if_match.strip() == "*":
        return None
    match = _VERSION.match(if_match.strip())
    if match is None:
        raise ApiError(400, "bad_if_match", 'If-Match is the version its ETag gives, e.g. "3"')
    return int(match.group(1))


ExpectedVersion = Annotated[int | None, Depends(expected_version)]


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": code, "message": message, **extra}


class BodyLimitMiddleware:
    """Refuse bodies larger than the limit with 413 before the application reads them.

    Starlette has no limit of its own; a declared Content-Length is checked first, and a body
    sent without one (chunked) is counted as it arrives.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, timeout: float = 30.0) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._too_large(send)
            return
        body = bytearray()
        more = True
        try:
            async with asyncio.timeout(self.timeout):  # a body trickled in slowly holds nothing for long
                while more:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return
                    body.extend(message.get("body", b""))
                    if len(body) > self.max_bytes:
                        await self._too_large(send)
                        return
                    more = message.get("more_body", False)
        except TimeoutError:
            await self._answer(
                send, 408, "request_timeout", f"the request body did not arrive within {self.timeout:g} s"
            )
            return
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if delivered:
                return await receive()
            delivered = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        await self.app(scope, replay, send)

    async def _too_large(self, send: Send) -> None:
        await self._answer(send, 413, "body_too_large", f"request body exceeds {self.max_bytes} bytes")

    async def _answer(self, send: Send, status: int, code: str, message: str) -> None:
        payload = json.dumps(error_body(code, message)).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
        if status == 408:
            headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})


async def require_json_body(request: Request) -> None:
    """Dependency for JSON APIs: a request that carries a body must say it is JSON (else 415)."""
    if request.method in ("GET", "HEAD", "DELETE", "OPTIONS"):
        return
    length = request.headers.get("content-length")
    if length == "0" or (length is None and "transfer-encoding" not in request.headers):
        return
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise ApiError(
            415,
            "unsupported_media_type",
            f"expected a JSON body (Content-Type: application/json), got {media_type or 'none'!r}",
        )


def validation_problem(errors: list[Any], *, status: int = 422) -> ApiError:
    """pydantic's errors as the hub's one 422 body: the fields named, and each problem."""
    problems = [{"field": _field_name(e.get("loc", ())), "message": e.get("msg", "invalid")} for e in errors[:20]]
    fields = ", ".join(dict.fromkeys(p["field"] for p in problems))
    return ApiError(status, "validation_failed", f"invalid field(s): {fields}", extra={"problems": problems})


def _field_name(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:] if parts[0] == "body" else parts
    return ".".join(parts) or "body"


def render(exc: ApiError) -> JSONResponse:
    extra = {"field": exc.field} if exc.field else {}
    return JSONResponse(
        error_body(exc.code, exc.message, **extra, **exc.extra), status_code=exc.status, headers=exc.headers
    )


def install(app: FastAPI, *, max_body_bytes: int, body_timeout: float = 30.0) -> None:
    """Add the shared middleware and error handlers to a service's FastAPI app."""

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        if any(e.get("type") == "json_invalid" for e in errors):
            return JSONResponse(error_body("malformed_json", "request body is not valid JSON"), status_code=400)
        return render(validation_problem(errors))

    @app.exception_handler(ValidationError)
    async def on_invalid_model(request: Request, exc: ValidationError) -> JSONResponse:
        return render(validation_problem(list(exc.errors())))

    @app.exception_handler(ApiError)
    async def on_api_error(request: Request, exc: ApiError) -> JSONResponse:
        return render(exc)

    @app.exception_handler(IntakeError)
    async def on_intake_error(request: Request, exc: IntakeError) -> JSONResponse:
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else None
        return render(ApiError(exc.status, exc.code, str(exc), field=exc.field, headers=headers))

    @app.exception_handler(ConcurrentChange)
    async def on_concurrent_change(request: Request, exc: ConcurrentChange) -> JSONResponse:
        return render(ApiError(409, "conflict", str(exc)))

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(
            error_body(code, str(exc.detail)), status_code=exc.status_code, headers=getattr(exc, "headers", None)
        )

    @app.exception_handler(ConnectionFailure)
    async def on_database_down(request: Request, exc: ConnectionFailure) -> JSONResponse:
        log.error("database unavailable: %s", exc)
        return JSONResponse(
            error_body("unavailable", "the database is unavailable; nothing was stored, retry later"),
            status_code=503,
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(Exception)
    async def on_bug(request: Request, exc: Exception) -> JSONResponse:
        # a bug, not bad input: on record with its traceback and request id, answered as JSON
        log.error("unhandled error in %s %s", request.method, request.url.path, exc_info=exc)
        return JSONResponse(
            error_body("internal", "an unexpected error on our side; it is in the service's log with its traceback"),
            status_code=500,
        )

    @app.middleware("http")
    async def observe(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        request_id = request.headers.get("x-request-id", "")[:64] or uuid.uuid4().hex
        token = current_request_id.set(request_id)
        started = time.perf_counter()
        try:
            response = await call_next(request)
        finally:
            current_request_id.reset(token)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        metrics.HTTP_REQUESTS.labels(request.method, path, str(response.status_code)).inc()
        metrics.HTTP_LATENCY.labels(request.method, path).observe(time.perf_counter() - started)
        response.headers["X-Request-ID"] = request_id
        return response

    app.add_middleware(BodyLimitMiddleware, max_bytes=max_body_bytes, timeout=body_timeout)


def add_operational_routes(
    app: FastAPI,
    *,
    service: str,
    checks: dict[str, ReadinessCheck],
    asyncapi: Callable[[], Specification],
    public: Callable[[], Awaitable[None]],
    wedged: Callable[[], str | None] = lambda: None,
) -> None:
    router = APIRouter(tags=["operations"], dependencies=[Depends(public)])

    @router.get(
        "/health",
        summary="Liveness: the process is up and not wedged (503 when it cannot heal itself: restart it)",
        response_model=None,
    )
    async def health() -> JSONResponse:
        why = wedged()
        if why is not None:
            return JSONResponse({"status": "wedged", "service": service, "detail": why}, status_code=503)
        return JSONResponse({"status": "ok", "service": service})

    @router.get(
        "/ready",
        summary="Readiness: Kafka, MongoDB and read models are usable",
        response_model=None,
    )
    async def ready() -> JSONResponse:
        results = {}
        ok = True
        for name, check in checks.items():
            try:
                passed, detail = await check()
            except Exception as exc:
                passed, detail = False, f"{type(exc).__name__}: {exc}"
            results[name] = {"ok": passed, "detail": detail}
            ok = ok and passed
        return JSONResponse(
            {"status": "ready" if ok else "not_ready", "service": service, "checks": results},
            status_code=200 if ok else 503,
        )

    @router.get("/metrics", summary="Prometheus metrics", response_class=Response)
    async def prometheus_metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @router.get(
        "/asyncapi.json",
        summary="AsyncAPI 3.0 document of the events this service sends and receives",
    )
    async def asyncapi_json() -> Any:
        return asyncapi().to_jsonable()

    @router.get("/asyncapi", summary="AsyncAPI document, rendered", response_class=HTMLResponse)
    async def asyncapi_html(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        html = get_asyncapi_html(
            asyncapi(),
            try_it_out_path=None,
            asyncapi_js_url=f"{root}/static/asyncapi/browser/standalone/index.js",
            asyncapi_css_url=f"{root}/static/asyncapi/styles/default.min.css",
        )
        return HTMLResponse(_OUTSIDE_ICONS.sub("", html))

    @router.get("/docs", summary="OpenAPI document, rendered (Swagger UI)", response_class=HTMLResponse)
    async def swagger_html(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} — API",
            swagger_js_url=f"{root}/static/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url=f"{root}/static/swagger-ui/swagger-ui.css",
            swagger_favicon_url=f"{root}/static/swagger-ui/favicon-32x32.png",
        )

    app.include_router(router)
    assets = ui_assets()
    for path, package in (("/static/swagger-ui", "swagger-ui-dist"), ("/static/asyncapi", "@asyncapi/react-component")):
        folder = assets / package
        if folder.is_dir():
            app.mount(path, StaticFiles(directory=folder.resolve()), name=package)
        else:
            log.warning("%s is missing (%s): run `make provision`; %s will not render", package, folder, path)


# FastStream's AsyncAPI page links its icons from asyncapi.com; a closed network cannot reach it.
_OUTSIDE_ICONS = re.compile(r'\s*<link rel="icon"[^>]*href="https?://[^"]*">')


def ui_assets() -> Path:
    """Where the browser assets (npm packages installed by `make provision`, or by the image's
    build) are: CRMHUB_UI_ASSETS, else shared/crmhub/ui_assets/node_modules."""
    configured = os.environ.get("CRMHUB_UI_ASSETS")
    return Path(configured) if configured else Path(__file__).parent / "ui_assets" / "node_modules"


FORM_FIELDS: dict[str, Any] = {"type": "object", "additionalProperties": {"type": "string"}}


def request_body(description: str, content: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """An OpenAPI request body for a route that reads its raw body itself (the intake routes):
    `content` maps media types to schemas, so clients and fuzzers see what is accepted."""
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {media: {"schema": schema} for media, schema in content.items()},
        }
    }
