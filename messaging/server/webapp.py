"""``/app/``: the browser client's static files, under strict security headers.

Only known files are served: ``index.html``, the stylesheet and icon, the modules of ``src/``,
and the two libsodium files of ``messaging.web.VENDORED``. Every answer under ``/app/`` (errors
included) carries the headers of ``SECURITY_HEADERS``.

The Content-Security-Policy allows scripts from this origin only, no inline script or style, no
frame ancestors, and connections to this origin only (``'self'`` covers the WebSocket of the same
host). ``'wasm-unsafe-eval'`` lets libsodium compile its WebAssembly module; it does not allow
``eval`` or ``new Function``. The measured alternative, libsodium's asm.js build, is 908 KB
instead of 312 KB and derives the passphrase key several times slower (docs/web.md).
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from aiohttp import web

from messaging.errors import NotFound
from messaging.server.route import Route
from messaging.web import INSTALL_HINT, VENDORED, WEB_ROOT, AssetsMissing, stale_packages

PREFIX: Final = "/app/"

CONTENT_SECURITY_POLICY: Final = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self' 'wasm-unsafe-eval'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)

SECURITY_HEADERS: Final = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
    # Revalidate every time: a stale module beside a fresh one would mix two protocol versions.
    "Cache-Control": "no-cache",
}

_MEDIA_TYPES: Final = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
}
_TOP_FILES: Final = frozenset({"index.html", "app.css", "icon.svg"})
_BARE_IMPORT: Final = b'from"libsodium-sumo"'
_RELATIVE_IMPORT: Final = b'from"./libsodium.mjs"'


@dataclass(slots=True)
class WebClient:
    """The client's files under ``root``; the vendored ones read once, then kept in memory."""

    root: Path = WEB_ROOT
    _vendored: dict[str, bytes] = field(default_factory=dict)

    def source(self, relative: str) -> Path | None:
        """The file for ``/app/<relative>``, or None when it is not one of the client's."""
        parts = relative.split("/")
        if relative in _TOP_FILES:
            return self.root / relative
        if (
            len(parts) == 2
            and parts[0] == "src"
            and parts[1].endswith(".js")
            and not parts[1].startswith(".")
        ):
            path = self.root / "src" / parts[1]
            return path if path.is_file() else None
        return None

    def vendored(self, name: str) -> bytes | None:
        """A libsodium file, its bare import made relative; None for an unknown name."""
        cached = self._vendored.get(name)
        if cached is not None:
            return cached
        spec = next((v for v in VENDORED if v.name == name), None)
        if spec is None:
            return None
        if stale_packages(self.root):
            raise AssetsMissing(f"the web client's npm packages are not installed: {INSTALL_HINT}")
        data = (self.root / "node_modules" / spec.package / spec.path).read_bytes()
        if spec.package == "libsodium-wrappers-sumo":
            if data.count(_BARE_IMPORT) != 1:
                raise AssetsMissing(f"{spec.path} no longer imports libsodium as expected")
            data = data.replace(_BARE_IMPORT, _RELATIVE_IMPORT)
        self._vendored[name] = data
        return data


WEB_CLIENT = web.AppKey("web_client", WebClient)


def _file(data: bytes, name: str) -> web.Response:
    media_type = _MEDIA_TYPES.get(Path(name).suffix, "application/octet-stream")
    response = web.Response(body=data, content_type=media_type, charset="utf-8")
    # gzip when the browser asks: 635 KB of modules (mostly libsodium's WebAssembly) become 217.
    response.enable_compression()
    return response


_NOT_INSTALLED_PAGE: Final = """<!doctype html>
<html lang="fr"><head><meta charset="utf-8"><title>Liaison : client web non installé</title></head>
<body><h1>Client web non installé</h1>
<p>Les fichiers de libsodium (paquet npm <code>libsodium-wrappers</code>) manquent.
Installez Node.js et npm, puis lancez <code>{hint}</code> et rechargez la page.
<code>liaison serve</code> le fait seul quand npm est disponible.</p>
<p lang="en">The web client's npm packages are missing: install Node.js and npm, then run
<code>{hint}</code> and reload.</p>
<p>{detail}</p></body></html>
"""


def _not_installed(error: AssetsMissing) -> web.Response:
    page = _NOT_INSTALLED_PAGE.format(hint=INSTALL_HINT, detail=html.escape(str(error)))
    return web.Response(status=503, text=page, content_type="text/html", charset="utf-8")


async def redirect(request: web.Request) -> web.Response:
    raise web.HTTPPermanentRedirect(PREFIX)


async def serve(request: web.Request) -> web.Response:
    relative = request.match_info.get("path", "") or "index.html"
    client = request.app[WEB_CLIENT]
    try:
        if relative.startswith("vendor/"):
            data = client.vendored(relative.removeprefix("vendor/"))
            if data is None:
                raise web.HTTPNotFound()
            return _file(data, relative)
        if relative == "index.html" and stale_packages(client.root):
            raise AssetsMissing(f"the web client's npm packages are not installed: {INSTALL_HINT}")
    except AssetsMissing as error:
        return _not_installed(error)
    path = client.source(relative)
    if path is None:
        raise web.HTTPNotFound()
    return _file(path.read_bytes(), relative)


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    if request.path == PREFIX.rstrip("/") or request.path.startswith(PREFIX):
        response.headers.update(SECURITY_HEADERS)


ROUTES: Final = (
    Route(
        "GET", PREFIX.rstrip("/"), redirect, "The browser client", "none", status=308, store=False
    ),
    Route(
        "GET",
        PREFIX + "{path:.*}",
        serve,
        "A file of the browser client (503, an HTML page, while its npm packages are missing)",
        "none",
        problems=(NotFound,),
        store=False,
        produces=(*dict.fromkeys(_MEDIA_TYPES.values()), "application/octet-stream"),
    ),
)


def setup(app: web.Application, client: WebClient) -> None:
    app[WEB_CLIENT] = client
    app.on_response_prepare.append(security_headers)
    for route in ROUTES:
        app.router.add_route(route.method, route.path, route.handler)
