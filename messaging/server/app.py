"""``create_app(settings)``: the whole server, from settings already loaded by the caller."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from importlib import metadata

from aiohttp import web

from dossier_link.changes import DossierSettings
from dossier_link.checkpoints import CheckpointSigner
from dossier_link.service import DossierService
from dossier_link.store import DossierStore
from messaging import crypto, redis_link
from messaging.auth import Authenticator
from messaging.blob_store import FileBlobStore
from messaging.blobs import BlobLimits, Blobs
from messaging.delivery import Delivery, ServerEvents
from messaging.devices import Devices
from messaging.directory import Directory
from messaging.directory_privacy import PatientPrivacy
from messaging.dossier_bridge import (
    DeviceNotifier,
    DirectoryDeviceKeys,
    DirectoryIdentities,
    DossierActors,
    DossierBlobAccess,
    MessageLinker,
)
from messaging.held_notices import HeldNotices
from messaging.idempotency import SentRecords
from messaging.mailbox import Mailbox, QueueLimits
from messaging.models import ServerInfo
from messaging.rate_limits import RateLimits, rates
from messaging.representation_store import RepresentationStore
from messaging.scripts import Scripts
from messaging.server import openapi, ops, stream, webapp
from messaging.server.appkeys import (
    AUTH,
    BLOBS,
    DELIVERY,
    DEVICES,
    DIRECTORY,
    DOSSIER_ACTORS,
    DOSSIERS,
    LIMITS,
    MAILBOX,
    METRICS,
    PATIENT_PRIVACY,
    REDIS_LINK,
    SERVER_INFO,
    SETTINGS,
    WAKE_HUB,
)
from messaging.server.metrics import Metrics
from messaging.server.observe import echo_request_id, observe_middleware
from messaging.server.problems import problems_middleware
from messaging.server.routes import ROUTES
from messaging.server_keys import ServerSecrets, load_or_create
from messaging.settings import Settings
from messaging.supervision import Backoff, keep_running
from messaging.timeutil import now
from messaging.wakeup import WakeHub

log = logging.getLogger(__name__)

PURGE_RETRY_FIRST = 1.0
PURGE_RETRY_CAP = 300.0
"""Seconds before the purge runs again after a failure, doubling up to the cap."""

# Room for the JSON around the largest envelope; the exact limit is checked per request.
_BODY_SLACK = 64 * 1024


def version() -> str:
    try:
        return metadata.version("liaison")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def _dossier_settings(settings: Settings) -> DossierSettings:
    return DossierSettings(
        regime=settings.dossier_regime,
        emergency_duration=timedelta(hours=settings.emergency_access_hours),
        hide_release=timedelta(days=settings.hidden_from_holder_days),
        retention_after_close=timedelta(seconds=settings.dossier_retention_seconds),
        deletion_delay=timedelta(seconds=settings.dossier_deletion_delay_seconds),
    )


async def _purge_after(dossiers: DossierService, blobs: Blobs, interval: float) -> None:
    """CR-6: purge closed dossiers past their retention, and log the representations that
    reached their end (DESIGN §4); delete the blobs due. Every process may run it: the purge of
    one dossier is one versioned script, so two processes never purge twice, and deleting a
    blob twice finds nothing the second time."""
    await asyncio.sleep(interval)
    await dossiers.representations.log_due_ends(now())
    await dossiers.purge_due(now())
    await blobs.sweep()


def _blob_limits(settings: Settings) -> BlobLimits:
    return BlobLimits(
        max_bytes=settings.blob_max_bytes,
        quota_bytes=settings.blob_quota_bytes,
        orphan_ms=int(settings.blob_orphan_hours * 3_600_000),
        lease_ms=int(settings.blob_upload_lease_seconds * 1000),
        retention_ms=settings.retention_ms,
    )


def create_app(settings: Settings, secrets: ServerSecrets | None = None) -> web.Application:
    if settings.redis_url is None:
        raise ValueError("create_app needs settings.redis_url; `liaison serve` starts one")
    secrets = secrets or load_or_create(settings)
    app = web.Application(
        middlewares=[observe_middleware, problems_middleware],
        client_max_size=settings.max_envelope_bytes + _BODY_SLACK,
    )
    app[SETTINGS] = settings
    app[METRICS] = Metrics()
    app[SERVER_INFO] = ServerInfo(
        version=version(),
        sign_key=crypto.b64u_encode(secrets.sign.public),
        dossier_key=crypto.b64u_encode(secrets.dossier.public),
    )

    async def services(app: web.Application) -> AsyncIterator[None]:
        link = await redis_link.connect(settings, app[METRICS].observe_redis)
        redis = link.client
        scripts = Scripts.register(redis)
        directory = Directory(redis)
        mailbox = Mailbox(
            link,
            scripts,
            QueueLimits(
                quota=settings.queue_quota,
                retention_ms=settings.retention_ms,
                # A pending record lives two windows at most; its index entries as long.
                remember_ms=2 * settings.idempotency_window_ms,
                share=max(1, int(settings.queue_quota * settings.sender_share)),
            ),
            secrets.cursor_key,
        )
        auth = Authenticator(
            redis,
            directory,
            admin_token=secrets.admin_token,
            token_ttl=settings.token_ttl_seconds,
            challenge_ttl=settings.challenge_ttl_seconds,
            max_challenges=settings.max_outstanding_challenges,
        )
        limits = RateLimits(link, scripts, rates(settings))
        hub = WakeHub(
            link,
            on_invalidate=(directory.invalidate, auth.invalidate),
            reconnect_seconds=settings.redis_reconnect_seconds,
        )
        app[REDIS_LINK] = link
        app[DIRECTORY] = directory
        app[MAILBOX] = mailbox
        app[WAKE_HUB] = hub
        app[AUTH] = auth
        app[LIMITS] = limits
        events = ServerEvents(mailbox, secrets.sign)
        held = HeldNotices(link, events)
        app[DEVICES] = Devices(
            redis, scripts, directory, hub, held, code_ttl=settings.enrollment_code_ttl_seconds
        )
        representations = RepresentationStore(link)
        privacy = PatientPrivacy(directory, representations, now)
        app[PATIENT_PRIVACY] = privacy
        actors = DossierActors(directory)
        dossiers = DossierService(
            DossierStore(link),
            representations,
            DirectoryIdentities(directory),
            DeviceNotifier(directory, events, held),
            DirectoryDeviceKeys(directory),
            secrets.dossier,
            CheckpointSigner(secrets.sign, now),
            _dossier_settings(settings),
        )
        app[DOSSIER_ACTORS] = actors
        app[DOSSIERS] = dossiers
        records = SentRecords(
            link,
            scripts,
            window_ms=settings.idempotency_window_ms,
            payload_retention_ms=settings.retention_ms,
        )
        blobs = Blobs(
            link,
            scripts,
            FileBlobStore(settings.blob_root),
            _blob_limits(settings),
            DossierBlobAccess(actors, dossiers.documents, dossiers.store),
        )
        app[BLOBS] = blobs
        app[DELIVERY] = Delivery(
            link,
            records,
            directory,
            mailbox,
            events,
            MessageLinker(actors, dossiers.linker),
            privacy,
            limits,
            blobs,
        )
        await hub.start()
        refresher = asyncio.create_task(ops.refresh_metrics_forever(app), name="liaison-metrics")
        purger = asyncio.create_task(
            keep_running(
                "dossier purge",
                functools.partial(_purge_after, dossiers, blobs, settings.purge_interval_seconds),
                Backoff(PURGE_RETRY_FIRST, PURGE_RETRY_CAP),
                log,
            ),
            name="liaison-purge",
        )
        yield
        for task in (purger, refresher):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await hub.stop()
        await link.aclose()

    app.cleanup_ctx.append(services)
    app.on_response_prepare.append(echo_request_id)
    app.on_shutdown.append(stream.close_all)
    for route in (*ROUTES, openapi.ROUTE):
        app.router.add_route(route.method, route.path, route.handler)
    webapp.setup(app, webapp.WebClient())
    return app
