"""The reports page and every service's API pages as a person sees them: headless Chromium
(Debian's package, driven by Playwright) with every request outside the hub blocked, as on a
closed network. The page's table equals the JSON API, the chart has a mark per row, the XLSX
download holds the same figures, and the printed PDF carries them (read back with pdftotext)."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import openpyxl
import pytest

from localservers import free_port, start_service
from support.reports import Company, await_october, company, publish_october

pytestmark = pytest.mark.e2e
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PASSWORD = "reports-admin-password"
SERVICES = ("leads", "telephony", "deals", "motivation", "notifier")


def normalized(text: str) -> str:
    return " ".join(text.replace("\u00a0", " ").replace("\u202f", " ").split())


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is not installed: `make provision` installs it (as root)", pytrace=False)
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        await launched.close()


async def closed_network_page(browser: Any, hub_hosts: set[str]) -> tuple[Any, list[str]]:
    """A page whose requests outside the hub are refused, and the list of those it tried."""
    context = await browser.new_context(accept_downloads=True, locale="ru-RU")
    page = await context.new_page()
    blocked: list[str] = []

    async def only_the_hub(route: Any) -> None:
        url = route.request.url
        if urlsplit(url).netloc in hub_hosts or url.startswith(("data:", "blob:", "about:")):
            await route.continue_()
        else:
            blocked.append(url)
            await route.abort()

    await page.route("**/*", only_the_hub)
    return page, blocked


@pytest.fixture
async def reports_hub(infra, tmp_path, unique) -> AsyncIterator[tuple[str, Company, dict[str, str]]]:
    c = company(unique)
    await publish_october(infra.kafka, c)
    port = free_port()
    address = f"http://127.0.0.1:{port}"
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": infra.kafka,
        "MONGODB_URL": infra.mongo,
        "MOTIVATION_MONGODB_DATABASE": f"t_browser_{unique}",
        "MOTIVATION_ENVIRONMENT": "test",
        "MOTIVATION_AUTH_ISSUER": address,
        "MOTIVATION_AUTH_JWKS_URL": f"{address}/.well-known/jwks.json",
        "MOTIVATION_BOOTSTRAP_ADMIN_ID": f"admin-{unique}",
        "MOTIVATION_BOOTSTRAP_ADMIN_EMAIL": f"admin-{unique}@example.com",
        "MOTIVATION_BOOTSTRAP_ADMIN_PASSWORD": PASSWORD,
    }
    server = start_service(
        "motivation", env=env, port=port, log_path=tmp_path / "motivation.log", python=sys.executable
    )
    try:
        async with httpx.AsyncClient(base_url=address, timeout=20) as http:
            login = await http.post("/v1/auth/login", json={"login": f"admin-{unique}", "password": PASSWORD})
            headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
            http.headers.update(headers)
            await await_october(http, c)
        yield address, c, headers
    finally:
        server.stop()


async def api(address: str, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=address, timeout=20, headers=headers) as http:
        answer = await http.get(f"/v1/reports/{params.pop('report', 'sales')}", params={**params, "lang": "ru"})
        assert answer.status_code == 200, answer.text
        return answer.json()


async def shown_table(page: Any) -> dict[str, dict[str, str]]:
    """The page's table: group key -> column -> the raw value the cell shows."""
    rows = {}
    for row in await page.locator("#report tr.row").all():
        key = "|".join([await g.get_attribute("data-key") for g in await row.locator("td.group").all()])
        rows[key] = {
            await cell.get_attribute("data-col"): await cell.get_attribute("data-value")
            for cell in await row.locator("td[data-col]").all()
        }
    return rows


def api_table(report: dict[str, Any]) -> dict[str, dict[str, str]]:
    def raw(value: Any) -> str:
        return "" if value is None else str(value)

    return {
        "|".join(row["key"][g] for g in report["group_by"]): {
            c["key"]: raw(row["values"][c["key"]]) for c in report["columns"] if c["kind"] != "text"
        }
        for row in report["rows"]
    }


async def test_a_head_of_sales_reads_cuts_exports_and_prints_the_sales_report(browser, reports_hub, unique, tmp_path):
    address, c, headers = reports_hub
    page, blocked = await closed_network_page(browser, {urlsplit(address).netloc})
    signed_out = await page.goto(f"{address}/reports")
    assert signed_out.status == 401
    await page.fill("input[name=login]", f"admin-{unique}")
    await page.fill("input[name=password]", PASSWORD)
    await page.click("#sign-in button[type=submit]")
    await page.wait_for_selector("#filters")
    await page.fill("#from", "2026-10-01")
    await page.fill("#to", "2026-10-31")
    await page.select_option("#department", c.department)
    for grouping in ("manager", "product", "region"):
        await page.select_option("#group_by_1", grouping)
        await page.click("#show")
        await page.wait_for_selector(f"#report td[data-group={grouping}]")
        expected = await api(
            address,
            headers,
            **{"from": "2026-10-01", "to": "2026-10-31", "department": c.department, "group_by": grouping},
        )
        table = await shown_table(page)
        assert {k: {c: v for c, v in row.items() if c != "lost_reasons"} for k, row in table.items()} == api_table(
            expected
        )
        assert len(table) == 2
        bars = page.locator("#chart svg g.mark-rect path")
        assert await bars.count() == len(expected["rows"])
        total = normalized(await page.locator("#report tr.total td[data-col=revenue]").inner_text())
        assert total == "230 000,50 ₽"
    # the XLSX the page offers holds the figures the API gives
    async with page.expect_download() as downloading:
        await page.click("#xlsx")
    download = await downloading.value
    assert download.suggested_filename == "sales_region_2026-10-01_2026-10-31.xlsx"
    sheet = openpyxl.load_workbook(io.BytesIO(Path(await download.path()).read_bytes())).active
    expected = await api(
        address, headers, **{"from": "2026-10-01", "to": "2026-10-31", "department": c.department, "group_by": "region"}
    )
    assert [(sheet.cell(n, 1).value, sheet.cell(n, 2).value) for n in range(2, 4)] == [
        (r["label"]["region"], float(r["values"]["revenue"])) for r in expected["rows"]
    ]
    # printed: A4, no navigation or filters, the figures in the document's text
    await page.emulate_media(media="print")
    assert not await page.locator("#filters").is_visible()
    assert not await page.locator(".actions").is_visible()
    pdf = tmp_path / "sales.pdf"
    await page.pdf(path=str(pdf), format="A4", print_background=True)
    text = normalized(
        subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    )
    assert "Продажи" in text
    assert "230 000,50 ₽" in text
    assert "150 000,50 ₽" in text  # Moscow
    assert "80 000,00 ₽" in text  # Tver
    assert blocked == []


async def test_the_funnel_and_a_period_report_draw_their_own_charts(browser, reports_hub, unique):
    address, c, headers = reports_hub
    page, blocked = await closed_network_page(browser, {urlsplit(address).netloc})
    await page.goto(f"{address}/reports")
    await page.fill("input[name=login]", f"admin-{unique}")
    await page.fill("input[name=password]", PASSWORD)
    await page.click("#sign-in button[type=submit]")
    await page.goto(f"{address}/reports?report=funnel&from=2026-10-01&to=2026-10-31&department={c.department}&lang=en")
    assert await page.locator("#chart svg g.mark-rect path").count() == 7  # one bar per funnel step
    expected = await api(
        address, headers, report="funnel", **{"from": "2026-10-01", "to": "2026-10-31", "department": c.department}
    )
    assert (await shown_table(page)).keys() == api_table(expected).keys()
    await page.goto(
        f"{address}/reports?report=sales&from=2026-10-01&to=2026-10-31&department={c.department}&group_by=week"
    )
    assert await page.locator("#chart svg g.mark-line path").count() == 1
    assert await page.locator("#report tr.row").count() == 5  # five ISO weeks touch October 2026
    bad = await page.goto(f"{address}/reports?report=sales&from=2026-10-31&to=2026-10-01")
    assert bad.status == 400
    assert "from" in await page.locator("#error").inner_text()
    assert blocked == []


async def test_every_services_api_pages_render_on_a_closed_network(browser, run_service):
    for name in SERVICES:
        server = run_service(name)
        page, blocked = await closed_network_page(browser, {urlsplit(server.address).netloc})
        await page.goto(f"{server.address}/docs")
        await page.wait_for_selector(".swagger-ui .info .title", timeout=20000)
        assert "CRM hub" in await page.locator(".swagger-ui .info .title").inner_text()
        assert await page.locator(".swagger-ui .opblock").count() > 3
        await page.goto(f"{server.address}/asyncapi")
        await page.wait_for_selector("#asyncapi #introduction", timeout=20000)
        assert "CRM hub" in await page.locator("#asyncapi").inner_text()
        assert blocked == [], (name, blocked)
        await page.context.close()
