"""What the two capacity modes (``sockets``, ``queue_depth``) share: enrolling devices in
bulk, and stage notes for a person watching."""

from __future__ import annotations

import sys

import aiohttp

from messaging.bench.config import BenchConfig
from messaging.bench.population import (
    bounded,
    display_name,
    enroll_device,
    rpps,
)
from messaging.bench.progress import enabled
from messaging.client import AdminClient, DeviceIdentity

# Under the server's Redis pool size (redis-py 8: 100 connections; a burst beyond fails with
# 503), and equal to ``sockets.OPEN_CONCURRENCY``, see there.
SETUP_CONCURRENCY = 32
SETTLE_SECONDS = 2.0
HTTP_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=75)


def note(config: BenchConfig, text: str) -> None:
    """Stage notes on stderr for a person watching; silent when stderr is not a terminal."""
    if enabled(config.progress):
        print(f"bench: {text}", file=sys.stderr, flush=True)


async def enroll_many(
    admin: AdminClient,
    session: aiohttp.ClientSession,
    url: str,
    run: int,
    count: int,
    *,
    first: int = 0,
) -> list[DeviceIdentity]:
    return await bounded(
        SETUP_CONCURRENCY,
        range(first, first + count),
        lambda i: enroll_device(
            admin, session, url, rpps(run, i), "professional", display_name(f"Dr {i}", run)
        ),
    )
