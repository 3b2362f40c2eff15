"""Operations: liveness, readiness, Prometheus metrics."""

from __future__ import annotations

import asyncio

from aiohttp import web
from aiohttp.typedefs import Handler

from messaging.errors import StoreUnavailable
from messaging.server.appkeys import DOSSIERS, METRICS, REDIS_LINK, SETTINGS, SOCKETS, WAKE_HUB


@web.middleware
async def metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else "unmatched"
    request.app[METRICS].responses[(route, response.status)] += 1
    return response


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    # Its own deadline, shorter than a request's: a probe must not hang with a stuck Redis.
    try:
        async with asyncio.timeout(request.app[SETTINGS].readyz_timeout_seconds):
            await request.app[REDIS_LINK].ready()
    except TimeoutError:
        raise StoreUnavailable("Redis did not answer in time") from None
    return web.json_response({"status": "ready"})


async def metrics(request: web.Request) -> web.Response:
    app = request.app
    text = app[METRICS].render(
        len(app[SOCKETS]),
        app[WAKE_HUB].listener_count,
        app[DOSSIERS].changes.lost_version_checks,
    )
    return web.Response(text=text, content_type="text/plain", charset="utf-8")
