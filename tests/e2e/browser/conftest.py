"""A real headless Chromium (Playwright) against real `netra serve` processes.

One browser is shared by the whole session; every test gets fresh browser
contexts (so fresh localStorage) through `open_chat`. Pages are watched for
uncaught script errors, console errors and Content-Security-Policy violations,
and a test that caused one fails at teardown.

Chromium is the system one (`/usr/bin/chromium`, or `NETRA_TEST_CHROMIUM`);
Playwright never downloads a browser here. Without it the tests are skipped,
unless real services are required (`--netra-real-services`, which `netra test`
passes in CI): then they fail, like any missing service.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, Locator, Page, async_playwright, expect

from netra.env import IsolatedEnvironment
from netra.testing.fixtures import DEFAULT_PASSWORD
from netra.testing.server import ModelServer, serve_on_fake_model

DEFAULT_CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",  # the tests may run as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REPO_ROOT = Path(__file__).resolve().parents[3]
# Installed by `npm ci --prefix tests/e2e/axe` (.ci/run does it) from its package-lock.json.
AXE_SCRIPT = REPO_ROOT / "tests" / "e2e" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
# The page's CSP lets only same-origin scripts run, so axe is served from the page's origin:
# the browser's requests for this path are answered from AXE_SCRIPT (see ChatPage.axe).
AXE_PATH = "/__tests__/axe.min.js"
WAIT_MS = 15_000  # upper bound for anything the page shows; never a sleep


def _handled_network_report(message: Any) -> bool:
    """Chromium's own console line for an API answer the page handles (a 401 it refreshes
    after, a 409 it explains) or a socket that failed while offline: no page can silence
    these. Anything else, such as a missing static file or a script error, counts."""
    if message.text.startswith("Failed to load resource: the server responded"):
        return urlsplit(message.location.get("url") or "").path.startswith("/api/")
    return re.match(r"WebSocket connection to 'wss?://[^/']+/ws' failed", message.text) is not None


class ChatPage:
    """The chat page as a person uses it: by labels, roles and visible text."""

    def __init__(self, page: Page, base_url: str) -> None:
        self.page = page
        self.base_url = base_url
        self.problems: list[str] = []
        page.on("pageerror", lambda error: self.problems.append(f"uncaught: {error}"))
        page.on("console", self._console)

    def _console(self, message: Any) -> None:
        if "Content Security Policy" in message.text:
            self.problems.append(f"CSP violation: {message.text}")
        elif message.type == "error" and not _handled_network_report(message):
            self.problems.append(f"console error: {message.text}")

    # -- places on the page -------------------------------------------------
    @property
    def timeline(self) -> Locator:
        return self.page.locator("#timeline")

    @property
    def entries(self) -> Locator:
        return self.page.locator("#timeline li.event")

    @property
    def answers(self) -> Locator:
        """The answers' text (without their Copy and Regenerate buttons)."""
        return self.page.get_by_role("article", name="Answer").locator(".answer-body")

    @property
    def connection(self) -> Locator:
        return self.page.locator("#connection")

    @property
    def auth_error(self) -> Locator:
        return self.page.locator("#auth-form").get_by_role("alert")

    def runs(self, state: str | None = None) -> Locator:
        return self.page.locator(f".run[data-state={state}]" if state else ".run")

    # -- actions --------------------------------------------------------------
    async def goto(self) -> None:
        await self.page.goto(f"{self.base_url}/")
        await expect(self.page.locator("body[data-ready=true]")).to_have_count(1)

    async def register(self, email: str | None = None, display_name: str = "Ada") -> str:
        email = email or f"page-{secrets.token_hex(6)}@example.com"
        await self.page.get_by_role("button", name="Create an account").click()
        await self.page.get_by_label("Email").fill(email)
        await self.page.get_by_label("Display name").fill(display_name)
        await self.page.get_by_label("Password").fill(DEFAULT_PASSWORD)
        await self.page.get_by_role("button", name="Create account").click()
        await self.expect_online()
        return email

    async def login(self, email: str, password: str = DEFAULT_PASSWORD) -> None:
        await self.page.get_by_label("Email").fill(email)
        await self.page.get_by_label("Password").fill(password)
        await self.page.get_by_role("button", name="Log in").click()

    async def expect_online(self) -> None:
        await expect(self.connection).to_have_text("Connected", timeout=WAIT_MS)

    async def send(self, text: str) -> None:
        await self.page.get_by_label("Message").fill(text)
        await self.page.get_by_role("button", name="Send").click()

    async def wait_for_runs(self, state: str, count: int) -> None:
        await expect(self.runs(state)).to_have_count(count, timeout=WAIT_MS)

    async def entry_rows(self) -> list[tuple[int, str, str]]:
        """(seq, type, text) of every timeline entry, in page order (folded steps too)."""
        rows = await self.entries.evaluate_all(
            "els => els.map(e => [Number(e.dataset.seq), e.dataset.type, e.textContent])"
        )
        return [(seq, kind, text) for seq, kind, text in rows]

    async def net_state(self) -> dict[str, Any]:
        state: dict[str, Any] = await self.page.evaluate("window.netra.state")
        return state

    async def stored_session(self) -> dict[str, Any]:
        stored: dict[str, Any] = await self.page.evaluate(
            "JSON.parse(localStorage.getItem('netra.session'))"
        )
        return stored

    async def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A REST call with the page's own access token."""
        token = (await self.stored_session())["access_token"]
        async with httpx.AsyncClient(base_url=self.base_url, timeout=30) as http:
            return await http.request(
                method, path, headers={"Authorization": f"Bearer {token}"}, **kwargs
            )

    async def distance_to_end(self) -> float:
        """How far (px) the conversation is scrolled above its bottom."""
        distance: float = await self.timeline.evaluate(
            "t => t.scrollHeight - t.scrollTop - t.clientHeight"
        )
        return distance

    async def axe(self, axe_script: Path) -> list[dict[str, Any]]:
        """axe-core's serious and critical violations on the page as it is now."""
        url = f"{self.base_url}{AXE_PATH}"
        await self.page.route(url, lambda route: route.fulfill(path=axe_script))
        if not await self.page.evaluate("typeof window.axe === 'object'"):
            await self.page.add_script_tag(url=url)
        result: dict[str, Any] = await self.page.evaluate(
            "axe.run(document, {resultTypes: ['violations']})"
        )
        return [
            {
                "id": v["id"],
                "impact": v["impact"],
                "nodes": [n["target"] for n in v["nodes"]][:5],
                "summary": v["nodes"][0]["failureSummary"],
            }
            for v in result["violations"]
            if v["impact"] in ("serious", "critical")
        ]

    async def history(self, thread_id: str) -> list[dict[str, Any]]:
        """The thread's persisted events, read over REST with the page's own token."""
        token = (await self.stored_session())["access_token"]
        async with httpx.AsyncClient(base_url=self.base_url, timeout=30) as http:
            response = await http.get(
                f"/api/threads/{thread_id}/events",
                headers={"Authorization": f"Bearer {token}"},
            )
        assert response.status_code == 200, response.text
        events: list[dict[str, Any]] = response.json()
        return events


@pytest.fixture(scope="session")
def chromium_executable(
    pytestconfig: pytest.Config, netra_process_env: IsolatedEnvironment
) -> Path:
    """The system Chromium; skipped without it, a failure when real services are required."""
    path = Path(netra_process_env.get("NETRA_TEST_CHROMIUM") or DEFAULT_CHROMIUM)
    if path.is_file():
        return path
    reason = f"no Chromium at {path}: install Debian's `chromium` or set NETRA_TEST_CHROMIUM"
    if pytestconfig.getoption("netra_real_services"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def artifacts_dir(netra_process_env: IsolatedEnvironment) -> Path:
    """Where screenshots go: NETRA_TEST_ARTIFACTS, or `.artifacts/` in the repository."""
    configured = netra_process_env.get("NETRA_TEST_ARTIFACTS")
    directory = Path(configured) if configured else REPO_ROOT / ".artifacts"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@pytest.fixture(scope="session")
def axe_script(pytestconfig: pytest.Config) -> Path:
    """axe-core from npm; skipped without it, a failure when real services are required."""
    if AXE_SCRIPT.is_file():
        return AXE_SCRIPT
    reason = f"no axe-core at {AXE_SCRIPT}: run `npm ci --prefix tests/e2e/axe`"
    if pytestconfig.getoption("netra_real_services"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def model_server(
    pytestconfig: pytest.Config,
    netra_process_env: IsolatedEnvironment,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[ModelServer]:
    """One server for the session on the embedded default (SQLite), its model the fake."""
    if pytestconfig.getoption("netra_base_url"):
        pytest.skip("starts its own server process; not run against --netra-base-url")
    directory = tmp_path_factory.mktemp("netra-model-server")
    async with serve_on_fake_model(netra_process_env, directory) as served:
        yield served


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def chromium(chromium_executable: Path) -> AsyncIterator[Browser]:
    """One headless Chromium for the whole session."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(chromium_executable), args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            await browser.close()


OpenChat = Callable[..., Awaitable[ChatPage]]


@pytest_asyncio.fixture(loop_scope="session")
async def open_chat(chromium: Browser, netra_server: Any) -> AsyncIterator[OpenChat]:
    """Open the chat page in a fresh browser context (or a given one, for a second tab).

    Fails the test at teardown if any page threw an uncaught error or broke the CSP.
    """
    contexts: list[BrowserContext] = []
    pages: list[ChatPage] = []

    async def open_page(
        *,
        base_url: str | None = None,
        width: int = 1200,
        height: int = 800,
        context: BrowserContext | None = None,
        color_scheme: Any = "light",
    ) -> ChatPage:
        if context is None:
            context = await chromium.new_context(
                viewport={"width": width, "height": height}, color_scheme=color_scheme
            )
            context.set_default_timeout(WAIT_MS)
            contexts.append(context)
        chat = ChatPage(await context.new_page(), base_url or netra_server.base_url)
        pages.append(chat)
        await chat.goto()
        return chat

    yield open_page
    for context in contexts:
        await context.close()
    problems = [problem for chat in pages for problem in chat.problems]
    assert not problems, problems
