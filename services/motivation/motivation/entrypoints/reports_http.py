"""HTTP of management reports: the JSON API (with CSV and XLSX) for integrators, and the printable
page `/reports` for people, which signs in with a form and keeps the access token in an HttpOnly
cookie. Routes translate and hand on; `motivation.service_layer.reports` decides."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal
from pathlib import Path as FilePath
from typing import Annotated, Any
from urllib.parse import urlencode

from babel.dates import format_timedelta
from babel.numbers import format_currency, format_decimal
from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from crmhub.access import SESSION_COOKIE, PagePolicy, Policy, Public
from crmhub.auth import Principal, Role
from crmhub.intake import form_fields, require_media_type
from crmhub.web import ApiError, ReceivedDep, from_app_state
from motivation.adapters.charts import chart_svg
from motivation.adapters.report_files import as_text, file_name, group_title, to_csv, to_xlsx
from motivation.domain.reporting import DIMENSIONS, GROUPINGS, REPORT_NAMES, BadQuery, ReportQuery, parse_query
from motivation.service_layer import auth, reports
from motivation.service_layer.auth import Auth, SignInRefused
from motivation.service_layer.reports import Forbidden, Reports

READERS: tuple[Role, ...] = ("admin", "head", "manager", "accounting")
Reader = Annotated[Principal, Depends(Policy(*READERS, scopes=("reports:read",)))]
PageReader = Annotated[Principal | ApiError, Depends(PagePolicy(*READERS, scopes=("reports:read",)))]
PAGE_SIGN_IN = Public("the reports page's sign-in form: the password is the proof")
LOCALES = {"ru": "ru_RU", "en": "en_US"}
FORMATS = ("json", "csv", "xlsx")
MEDIA = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
TEMPLATES = Environment(
    loader=FileSystemLoader(FilePath(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


ReportsDep = Annotated[Reports, Depends(from_app_state("reports", Reports))]


def _lang(value: str | None) -> str:
    return value if value in LOCALES else "ru"


def _bad(exc: BadQuery) -> ApiError:
    message = str(exc) if exc.parameter in str(exc) else f"{exc.parameter}: {exc}"
    return ApiError(400, "bad_query", message, field=exc.parameter)


def _query(deps: Reports, principal: Principal, report: str, params: list[tuple[str, str]]) -> ReportQuery:
    try:
        return reports.visible(principal, parse_query(report, params, deps.today()))
    except BadQuery as exc:
        raise _bad(exc) from None
    except Forbidden as exc:
        raise ApiError(403, "forbidden", str(exc)) from None


async def _run(deps: Reports, query: ReportQuery, lang: str) -> dict[str, Any]:
    try:
        return await reports.run(deps, query, lang)
    except BadQuery as exc:
        raise _bad(exc) from None


def _file(report: dict[str, Any], fmt: str, lang: str) -> Response:
    body = to_csv(report, lang) if fmt == "csv" else to_xlsx(report, lang)
    return Response(
        body,
        media_type=MEDIA[fmt],
        headers={"Content-Disposition": f'attachment; filename="{file_name(report, fmt)}"'},
    )


def formatted(value: Any, kind: str, lang: str, currency: str) -> str:
    """A figure as people of the locale write it: `1 234 567,89 ₽`, `42,5 %`, `15 минут`."""
    locale = LOCALES[lang]
    if value is None:
        return "—"
    if kind == "money":
        return str(format_currency(Decimal(value), currency, locale=locale))
    if kind == "percent":
        return f"{format_decimal(Decimal(value), format='#,##0.0', locale=locale)}\u00a0%"
    if kind == "seconds":
        return str(format_timedelta(timedelta(seconds=int(value)), locale=locale, threshold=1.5))
    if kind == "text":
        return str(as_text(value))
    return str(format_decimal(value, locale=locale))


def reports_router() -> APIRouter:
    router = APIRouter(tags=["reports"])

    @router.get("/v1/reports", summary="The reports there are, with their columns and groupings")
    async def list_reports(principal: Reader, lang: str = "en") -> dict[str, Any]:
        return {"items": reports.catalogue(_lang(lang)), "groupings": list(GROUPINGS), "filters": list(DIMENSIONS)}

    @router.get(
        "/v1/reports/{report}",
        summary="One report: filters, one or two groupings, as JSON, CSV or XLSX (`format`)",
        description=(
            "Parameters: `from`, `to` (YYYY-MM-DD or YYYY-MM; default this month), `group_by` (one or two of "
            f"{', '.join(GROUPINGS)}; repeat it or separate with commas), filters {', '.join(DIMENSIONS)} "
            "(repeat for several values), `currency` (default RUB), `format` (json, csv, xlsx), `lang` (en, ru). "
            "A manager sees their own figures, a head their department's."
        ),
        response_model=None,
    )
    async def get_report(
        deps: ReportsDep,
        principal: Reader,
        request: Request,
        report: Annotated[str, Path(max_length=40)],
    ) -> Any:
        params = list(request.query_params.multi_items())
        fmt = request.query_params.get("format", "json")
        if fmt not in FORMATS:
            raise ApiError(400, "bad_query", f"format is one of {', '.join(FORMATS)}, not {fmt[:20]!r}", field="format")
        lang = _lang(request.query_params.get("lang", "en"))
        result = await _run(deps, _query(deps, principal, report, params), lang)
        return result if fmt == "json" else _file(result, fmt, lang)

    @router.get("/reports", summary="The printable reports page (signs in with a form)", response_class=HTMLResponse)
    async def page(deps: ReportsDep, request: Request, principal: PageReader) -> Response:
        lang = _lang(request.query_params.get("lang"))
        if isinstance(principal, ApiError):
            error = None if principal.status == 401 else str(principal)
            html = TEMPLATES.get_template("sign_in.html").render(lang=lang, error=error)
            return HTMLResponse(html, status_code=principal.status)
        params = [(k, v) for k, v in request.query_params.multi_items() if k not in ("report",) and v != ""]
        report_name = request.query_params.get("report", "sales")
        fmt = request.query_params.get("format", "html")
        error = None
        result = None
        try:
            if fmt not in ("html", "csv", "xlsx"):
                raise ApiError(400, "bad_query", "format is one of html, csv, xlsx", field="format")
            query = _query(deps, principal, report_name, [(k, v) for k, v in params if k != "format"])
            result = await _run(deps, query, lang)
        except ApiError as exc:
            error, status = str(exc), exc.status
        if result is not None and fmt in ("csv", "xlsx"):
            return _file(result, fmt, lang)
        svg = await asyncio.to_thread(chart_svg, result, lang) if result is not None else None

        def link(**changes: str) -> str:
            """This page with some parameters changed (empty form fields left out)."""
            kept = [(k, v) for k, v in request.query_params.multi_items() if v and k != "format" and k not in changes]
            return "?" + urlencode(kept + list(changes.items()))

        html = TEMPLATES.get_template("reports.html").render(
            lang=lang,
            principal=principal,
            report=result,
            error=error,
            chart=svg,
            names=REPORT_NAMES,
            catalogue={i["report"]: i["title"] for i in reports.catalogue(lang)},
            groupings=GROUPINGS,
            group_title=lambda g: group_title(g, lang),
            selected=request.query_params,
            chosen_group=request.query_params.getlist("group_by") or (result["group_by"] if result else []),
            departments=sorted(deps.directory.departments.values(), key=lambda d: d.name),
            managers=sorted(deps.directory.managers.values(), key=lambda m: m.name),
            fmt=lambda value, kind: formatted(value, kind, lang, result["currency"] if result else "RUB"),
            link=link,
        )
        return HTMLResponse(html, status_code=200 if error is None else status)

    @router.post(
        "/reports/sign-in",
        dependencies=[Depends(PAGE_SIGN_IN)],
        summary="The reports page's sign-in form (application/x-www-form-urlencoded: login, password)",
        response_class=HTMLResponse,
    )
    async def sign_in(request: Request, received: ReceivedDep) -> Response:
        deps: Auth = request.app.state.auth
        require_media_type(received, "application/x-www-form-urlencoded")
        form = form_fields(received.body, join_repeated=False)
        lang = _lang(form.get("lang"))
        try:
            tokens = await auth.sign_in(
                deps,
                form.get("login", "")[:200],
                form.get("password", "")[:200],
                address=request.client.host if request.client else "unknown",
            )
        except SignInRefused as exc:
            html = TEMPLATES.get_template("sign_in.html").render(lang=lang, error=str(exc))
            return HTMLResponse(html, status_code=429 if exc.retry_after else 401)
        answer = RedirectResponse(f"../reports?lang={lang}", status_code=303)
        answer.set_cookie(
            SESSION_COOKIE,
            tokens.access_token,
            max_age=tokens.expires_in,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/",
        )
        return answer

    @router.post(
        "/reports/sign-out",
        dependencies=[Depends(PAGE_SIGN_IN)],
        summary="End the reports page's session (clears its cookie)",
    )
    async def sign_out() -> Response:
        answer = RedirectResponse("../reports", status_code=303)
        answer.delete_cookie(SESSION_COOKIE, path="/")
        return answer

    return router
