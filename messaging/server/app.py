"""``create_app(settings)``: the whole server, from settings already loaded by the caller."""

from __future__ import annotations

import weakref
from collections.abc import AsyncIterator
from importlib import metadata

from aiohttp import web
from redis.asyncio import Redis

from messaging import crypto
from messaging.auth import Authenticator
from messaging.delivery import Delivery, NoDossierStore, ServerEvents
from messaging.devices import Devices
from messaging.directory import Directory
from messaging.mailbox import Mailbox, QueueLimits
from messaging.models import ServerInfo
from messaging.scripts import Scripts
from messaging.server import openapi, stream
from messaging.server.appkeys import (
    AUTH,
    DELIVERY,
    DEVICES,
    DIRECTORY,
    MAILBOX,
    METRICS,
    REDIS,
    SERVER_INFO,
    SETTINGS,
    SOCKETS,
    WAKE_HUB,
)
from messaging.server.metrics import Metrics
from messaging.server.ops import metrics_middleware
from messaging.server.problems import problems_middleware
from messaging.server.routes import ROUTES
from messaging.server_keys import ServerSecrets, load_or_create
from messaging.settings import Settings
from messaging.wakeup import WakeHub

# Room for the JSON around the largest envelope; the exact limit is checked per request.
_BODY_SLACK = 64 * 1024


def version() -> str:
    try:
        return metadata.version("liaison")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def create_app(settings: Settings, secrets: ServerSecrets | None = None) -> web.Application:
    if settings.redis_url is None:
        raise ValueError("create_app needs settings.redis_url; `liaison serve` starts one")
    secrets = secrets or load_or_create(settings)
    app = web.Application(
        middlewares=[metrics_middleware, problems_middleware],
        client_max_size=settings.max_envelope_bytes + _BODY_SLACK,
    )
    app[SETTINGS] = settings
    app[METRICS] = Metrics()
    app[SOCKETS] = weakref.WeakSet()
    app[SERVER_INFO] = ServerInfo(
        version=version(),
        sign_key=crypto.b64u_encode(secrets.sign.public),
        dossier_key=crypto.b64u_encode(secrets.dossier.public),
    )

    async def services(app: web.Application) -> AsyncIterator[None]:
        redis = Redis.from_url(settings.redis_url or "", health_check_interval=30)
        scripts = Scripts.register(redis)
        directory = Directory(redis)
        mailbox = Mailbox(
            redis,
            scripts,
            QueueLimits(quota=settings.queue_quota, retention_ms=settings.retention_ms),
            secrets.cursor_key,
        )
        hub = WakeHub(redis)
        await hub.start()
        app[REDIS] = redis
        app[DIRECTORY] = directory
        app[MAILBOX] = mailbox
        app[WAKE_HUB] = hub
        app[AUTH] = Authenticator(
            redis,
            directory,
            admin_token=secrets.admin_token,
            token_ttl=settings.token_ttl_seconds,
            challenge_ttl=settings.challenge_ttl_seconds,
        )
        app[DEVICES] = Devices(
            redis, scripts, directory, code_ttl=settings.enrollment_code_ttl_seconds
        )
        app[DELIVERY] = Delivery(
            redis,
            scripts,
            directory,
            mailbox,
            ServerEvents(mailbox, secrets.sign),
            NoDossierStore(),
        )
        yield
        await hub.stop()
        await redis.aclose()

    app.cleanup_ctx.append(services)
    app.on_shutdown.append(stream.close_all)
    for route in ROUTES:
        app.router.add_route(route.method, route.path, route.handler)
    app.router.add_get("/openapi.json", openapi.openapi)
    return app
