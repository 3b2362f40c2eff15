"""Operations: liveness, readiness, Prometheus metrics."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from redis.asyncio import RedisCluster

from messaging.errors import StoreUnavailable
from messaging.redis_link import RedisClient
from messaging.server.appkeys import DOSSIERS, METRICS, REDIS_LINK, SETTINGS, WAKE_HUB
from messaging.server.metrics import REFRESH_SECONDS, PoolUsage

log = logging.getLogger(__name__)


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


def pool_usage(client: RedisClient) -> PoolUsage | None:
    """The connection pools' use, summed over a cluster's nodes. redis-py keeps no public
    counters of it (its own metrics need OpenTelemetry), so this reads the pools' bookkeeping
    and reports nothing if that ever changes."""
    if isinstance(client, RedisCluster):
        nodes = client.get_nodes()
        connections = [getattr(node, "_connections", None) for node in nodes]
        free = [getattr(node, "_free", None) for node in nodes]
        if any(c is None for c in connections) or any(f is None for f in free):
            return None
        opened = sum(len(c) for c in connections if c is not None)
        idle = sum(len(f) for f in free if f is not None)
        return PoolUsage(opened - idle, idle, sum(node.max_connections for node in nodes))
    pool = client.connection_pool
    in_use = getattr(pool, "_in_use_connections", None)
    idle_list = getattr(pool, "_available_connections", None)
    limit = getattr(pool, "max_connections", None)
    if in_use is None or idle_list is None or not isinstance(limit, int):
        return None
    return PoolUsage(len(in_use), len(idle_list), limit)


def refresh_metrics(app: web.Application) -> None:
    app[METRICS].refresh(
        pool_usage(app[REDIS_LINK].client),
        app[WAKE_HUB].listener_count,
        app[DOSSIERS].changes.lost_version_checks,
    )


async def refresh_metrics_forever(app: web.Application) -> None:
    """Keep this worker's sampled gauges fresh for scrapes that reach another worker, from
    its start: a scrape of the first worker must see the second."""
    while True:
        try:
            refresh_metrics(app)
        except Exception:  # a metric must never take the server down, nor go quiet unseen
            log.exception("metrics refresh failed")
        await asyncio.sleep(REFRESH_SECONDS)


async def metrics(request: web.Request) -> web.Response:
    refresh_metrics(request.app)
    body = request.app[METRICS].exposition()
    return web.Response(body=body, content_type="text/plain", charset="utf-8")
