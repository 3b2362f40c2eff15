"""Operations: liveness, readiness, Prometheus metrics."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from messaging.server.appkeys import DOSSIERS, METRICS, REDIS, SOCKETS, WAKE_HUB


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
    await request.app[REDIS].ping()
    return web.json_response({"status": "ready"})


async def metrics(request: web.Request) -> web.Response:
    app = request.app
    text = app[METRICS].render(
        len(app[SOCKETS]),
        app[WAKE_HUB].listener_count,
        app[DOSSIERS].changes.lost_version_checks,
    )
    return web.Response(text=text, content_type="text/plain", charset="utf-8")
