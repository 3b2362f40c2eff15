"""Browser tests: Debian's Chromium driven by Playwright, against the real app on a real port.

One Chromium serves the whole session (each test gets fresh browser contexts: separate profiles,
separate IndexedDB), so browser tests and their fixtures run in the session's event loop: mark
each module with ``BROWSER`` (below).

Chromium comes from the system (``apt-get install -y chromium``; ``.ci/run`` installs it), never
from Playwright's own download. Without it every browser test fails with a clear message; run
``uv run pytest -m "not browser"`` to leave them out on purpose (README, Development).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from aiohttp import web
from playwright.async_api import Browser, async_playwright

from messaging.client import AdminClient
from messaging.redis_server import pick_free_port
from messaging.server.app import create_app
from messaging.settings import Settings
from messaging.web import AssetsMissing, ensure_installed
from tests.conftest import ADMIN_TOKEN
from tests.web import modules
from tests.web.pages import WebPage
from tests.web.people import OpenPage, Pair, pair

CHROMIUM = os.environ.get("LIAISON_TEST_CHROMIUM", "/usr/bin/chromium")
# Without the background-networking flags, Chromium's own connections are refused here and slow
# every start; QUIC and the sandbox are not available in CI's containers.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
BROWSER = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]
DOCS_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "web"


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    """Where the tests save their screenshots: ``docs/web/`` (shown by docs/web.md) when
    ``LIAISON_UPDATE_SCREENSHOTS=1``, else a temporary directory, so that a test run leaves
    the working tree as it found it."""
    if os.environ.get("LIAISON_UPDATE_SCREENSHOTS") == "1":
        return DOCS_SCREENSHOTS
    return tmp_path / "screenshots"


@pytest.fixture(scope="session")
def web_assets() -> None:
    """The client's npm packages, installed with ``npm ci`` when missing (as ``serve`` does)."""
    try:
        ensure_installed(print, dev=True)
    except AssetsMissing as error:
        pytest.fail(f"the web client cannot be set up: {error}", pytrace=False)


@pytest.fixture(scope="session")
def chromium() -> str:
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"no Chromium at {CHROMIUM}: `apt-get install -y chromium` (or set "
            'LIAISON_TEST_CHROMIUM), or leave the browser tests out with -m "not browser"',
            pytrace=False,
        )
    return CHROMIUM


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser(web_assets: None, chromium: str) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=chromium, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest_asyncio.fixture(loop_scope="session")
async def base_url(settings: Settings) -> AsyncIterator[str]:
    """The whole app on a real loopback port: the browser reaches it as it would in production."""
    runner = web.AppRunner(create_app(settings), handle_signals=False)
    await runner.setup()
    port = pick_free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@pytest_asyncio.fixture(loop_scope="session")
async def admin(base_url: str) -> AsyncIterator[AdminClient]:
    async with AdminClient(base_url, ADMIN_TOKEN) as client:
        yield client


@pytest_asyncio.fixture(loop_scope="session")
async def open_page(browser: Browser, base_url: str) -> AsyncIterator[OpenPage]:
    """Pages in fresh browser contexts (separate profiles: separate IndexedDB); each is checked
    at the end for Content-Security-Policy violations and script errors."""
    pages: list[WebPage] = []

    async def make(url: str | None = None) -> WebPage:
        context = await browser.new_context(locale="fr-FR", viewport={"width": 1280, "height": 860})
        page = await WebPage.open(context, url or base_url)
        pages.append(page)
        return page

    yield make
    for page in pages:
        problems = await page.problems()
        await page.context.close()
        assert not problems, problems


@pytest_asyncio.fixture(loop_scope="session")
async def people(open_page: OpenPage, admin: AdminClient, base_url: str) -> AsyncIterator[Pair]:
    """Dr Martin enrolled in a browser, Dr Petit on an SDK device."""
    async with pair(open_page, admin, base_url) as both:
        yield both


@pytest_asyncio.fixture(loop_scope="session", name="web")
async def modules_page(open_page: OpenPage) -> WebPage:
    """A page of the client with its modules at hand (``tests.web.modules.run``)."""
    return await modules.load(await open_page())
