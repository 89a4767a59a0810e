"""The README's picture of the reports page: signs in to the running hub (`make run`, then
`make demo-activity`) in headless Chromium and saves the sales report of October 2026 by manager
as docs/img/reports.png.

    python deploy/local/screenshot_reports.py [--motivation http://127.0.0.1:8004]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
from pathlib import Path

from playwright.async_api import async_playwright

ROOT = Path(__file__).resolve().parents[2]


async def main(motivation: str, login: str, password: str, out: Path) -> None:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium")
        page = await browser.new_page(viewport={"width": 1280, "height": 900}, locale="ru-RU")
        await page.goto(f"{motivation}/reports")
        await page.fill("input[name=login]", login)
        await page.fill("input[name=password]", password)
        await page.click("#sign-in button[type=submit]")
        await page.goto(f"{motivation}/reports?report=sales&from=2026-10-01&to=2026-10-31&group_by=manager&lang=ru")
        await page.wait_for_selector("#chart svg")
        out.parent.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(out), full_page=True)
        await browser.close()
    print(f"saved {out}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--motivation", default="http://127.0.0.1:8004")
    parser.add_argument("--login", default="admin")
    parser.add_argument(
        "--password", default=os.environ.get("MOTIVATION_BOOTSTRAP_ADMIN_PASSWORD", "demo-admin-password")
    )
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img" / "reports.png")
    args = parser.parse_args()
    asyncio.run(main(args.motivation, args.login, args.password, args.out))
