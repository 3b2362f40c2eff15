"""``/app/``: only the client's own files, under strict security headers, and a clear page when
the npm packages are not installed. No browser needed."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from aiohttp import ClientSession, web
from aiohttp.test_utils import TestClient
from aiohttp.web import Application, Request
from pytest_aiohttp import AiohttpServer

from messaging.server import webapp
from messaging.web import WEB_ROOT, AssetsMissing, ensure_installed, stale_packages

Client = TestClient[Request, Application]


@pytest.mark.parametrize(
    ("path", "media_type"),
    [
        ("/app/", "text/html"),
        ("/app/index.html", "text/html"),
        ("/app/app.css", "text/css"),
        ("/app/icon.svg", "image/svg+xml"),
        ("/app/src/main.js", "text/javascript"),
        ("/app/vendor/libsodium.mjs", "text/javascript"),
    ],
)
async def test_every_client_file_carries_the_security_headers(
    client: Client, path: str, media_type: str
) -> None:
    response = await client.get(path)
    assert response.status == 200
    assert response.content_type == media_type
    for name, value in webapp.SECURITY_HEADERS.items():
        assert response.headers[name] == value
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp
    assert "'unsafe-inline'" not in csp
    assert "'unsafe-eval'" not in csp
    assert "http" not in csp


async def test_the_page_has_no_inline_script_or_style(client: Client) -> None:
    page = await (await client.get("/app/")).text()
    assert '<script type="module" src="src/main.js"></script>' in page
    assert page.count("<script") == 1
    assert "<style" not in page
    assert "style=" not in page
    assert " on" + "click=" not in page


async def test_libsodium_imports_its_sibling_file_not_a_bare_name(client: Client) -> None:
    wrappers = await (await client.get("/app/vendor/libsodium-wrappers.mjs")).text()
    assert 'from"./libsodium.mjs"' in wrappers
    assert 'from"libsodium-sumo"' not in wrappers


@pytest.mark.parametrize(
    "path",
    [
        "/app/package.json",
        "/app/package-lock.json",
        "/app/__init__.py",
        "/app/node_modules/axe-core/axe.min.js",
        "/app/vendor/axe.min.js",
        "/app/src/missing.js",
        "/app/src/%2e%2e/__init__.py",
        "/app/src/../__init__.py",
        "/app/.npmrc",
    ],
)
async def test_nothing_but_the_client_is_served(client: Client, path: str) -> None:
    response = await client.get(path)
    assert response.status == 404
    assert response.headers["X-Content-Type-Options"] == "nosniff"


async def test_app_without_its_slash_is_redirected(client: Client) -> None:
    response = await client.get("/app", allow_redirects=False)
    assert (response.status, response.headers["Location"]) == (308, "/app/")


def _source_copy(tmp_path: Path) -> Path:
    """The client's sources without node_modules, as on a fresh clone."""
    root = tmp_path / "web"
    shutil.copytree(WEB_ROOT, root, ignore=shutil.ignore_patterns("node_modules"))
    return root


async def test_without_its_npm_packages_app_says_how_to_install_them(
    aiohttp_server: AiohttpServer, tmp_path: Path
) -> None:
    app = web.Application()
    webapp.setup(app, webapp.WebClient(_source_copy(tmp_path)))
    server = await aiohttp_server(app)
    # A plain session, not the test client: this 503 is the designed answer, not a failure.
    async with ClientSession() as session:
        for path in ("/app/", "/app/vendor/libsodium.mjs"):
            async with session.get(server.make_url(path)) as response:
                assert response.status == 503
                page = await response.text()
                assert "cd messaging/web &amp;&amp; npm ci" in page
                csp = response.headers["Content-Security-Policy"]
                assert csp == webapp.CONTENT_SECURITY_POLICY


def test_without_npm_the_install_fails_with_the_command_to_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _source_copy(tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(AssetsMissing, match="npm ci"):
        ensure_installed(print, root)


def test_a_fresh_clone_gets_the_locked_packages_installed(tmp_path: Path) -> None:
    root = _source_copy(tmp_path)
    assert stale_packages(root) == ["libsodium-sumo", "libsodium-wrappers-sumo"]
    assert stale_packages(root, dev=True) == [
        "axe-core",
        "libsodium-sumo",
        "libsodium-wrappers-sumo",
    ]
    said: list[str] = []
    ensure_installed(said.append, root, dev=True)
    assert stale_packages(root, dev=True) == []
    assert said == [f"liaison: installing the web client's assets (npm ci in {root})"]
    ensure_installed(said.append, root, dev=True)  # nothing more to do
    assert len(said) == 1
    assert os.path.isfile(root / "node_modules" / "libsodium-sumo" / "package.json")
