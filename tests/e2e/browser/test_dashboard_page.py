"""The test dashboard (test-results/index.html) opened from disk in the real browser.

Built from the recorded summary.json and run history in tests/fixtures/dashboard
by the same function `netra test` calls; the page must load without any console
error or request, read well (axe-core) and is kept as a screenshot artifact.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, expect

from netra.testing import dashboard, run_history

pytestmark = pytest.mark.asyncio(loop_scope="session")

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "dashboard"


class DashboardPage:
    """The opened page, with every console message and request it made."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.problems: list[str] = []
        self.requests: list[str] = []
        page.on("pageerror", lambda error: self.problems.append(f"uncaught: {error}"))
        page.on("console", self._console)
        page.on("request", lambda request: self.requests.append(request.url))

    def _console(self, message: Any) -> None:
        if message.type in ("error", "warning"):
            self.problems.append(f"console {message.type}: {message.text}")

    async def axe(self, axe_script: Path) -> list[dict[str, Any]]:
        """axe-core's violations of any impact (the page is static: it can have none)."""
        await self.page.add_script_tag(path=str(axe_script))
        result: dict[str, Any] = await self.page.evaluate(
            "axe.run(document, {resultTypes: ['violations']})"
        )
        return [
            {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
            for v in result["violations"]
        ]


@pytest.fixture
def published(tmp_path: Path) -> Path:
    """The dashboard `netra test` would write after the recorded run, with its history."""
    shutil.copy(FIXTURES / "runs.json", tmp_path / run_history.RUNS_FILE)
    summary = json.loads((FIXTURES / "summary.json").read_text())
    return dashboard.publish(tmp_path, summary)


@pytest_asyncio.fixture(loop_scope="session")
async def open_dashboard(chromium: Browser, published: Path) -> AsyncIterator[Any]:
    contexts = []
    pages: list[DashboardPage] = []

    async def open_page(width: int = 1280, height: int = 900) -> DashboardPage:
        context = await chromium.new_context(
            viewport={"width": width, "height": height}, color_scheme="light"
        )
        contexts.append(context)
        opened = DashboardPage(await context.new_page())
        pages.append(opened)
        await opened.page.goto(published.as_uri())
        return opened

    yield open_page
    for context in contexts:
        await context.close()
    assert [p for opened in pages for p in opened.problems] == []


async def test_the_dashboard_opens_from_disk_and_shows_every_part(
    open_dashboard, published: Path, artifacts_dir: Path
) -> None:
    board = await open_dashboard()
    page = board.page

    await expect(page).to_have_title("Netra test results")
    headings = await page.get_by_role("heading", level=2).all_inner_texts()
    assert headings == [
        "Last run",
        "Categories",
        "Tests",
        "Trend",
        "Coverage",
        "netra check: tests",
    ]
    integration = page.get_by_role("row", name=re.compile("^integration "))
    await expect(integration).to_contain_text("✘ failed")
    realtime = page.get_by_role("row", name=re.compile("^realtime "))
    await expect(realtime).to_contain_text("✘ below target")
    await expect(page.get_by_role("img", name="Duration of each run, in seconds")).to_be_visible()
    await page.get_by_text("The runs as a table").click()
    runs = page.locator("details tbody tr")
    await expect(runs).to_have_count(12)  # eleven recorded runs and this one, newest first
    await expect(runs.first).to_contain_text("2026-12-01T11:42:07+00:00")
    assert board.requests == [published.as_uri()]  # the file itself, nothing else

    screenshot = artifacts_dir / "dashboard-1280.png"
    await page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 0


async def test_the_dashboard_on_a_phone_scrolls_only_inside_its_tables(
    open_dashboard, artifacts_dir: Path
) -> None:
    board = await open_dashboard(width=375, height=740)
    page = board.page
    await expect(page.get_by_role("heading", name="Netra test results")).to_be_visible()
    overflow = await page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow == 0
    await page.screenshot(path=str(artifacts_dir / "dashboard-375.png"), full_page=True)


async def test_axe_finds_no_violation_on_the_dashboard(open_dashboard, axe_script: Path) -> None:
    board = await open_dashboard()
    await board.page.get_by_text("The runs as a table").click()  # its table is checked too
    assert await board.axe(axe_script) == []
