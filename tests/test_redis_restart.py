"""After a Redis restart, no request fails on a connection the old server closed: redis-py's
pool replaces each one as it is checked out, and the batch connection reopens."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from messaging import redis_keys
from messaging.redis_link import connect
from messaging.redis_server import RedisServer
from messaging.scripts import Call
from messaging.settings import Settings
from tests.conftest import TEST_REDIS_TIMEOUTS, running_redis

CONNECTIONS = 4


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    # Not the shared server: killing it would cost the next test a restart.
    yield from running_redis(tmp_path / "redis", appendfsync="always")


async def test_every_idle_connection_closed_by_a_restart_is_replaced_before_use(
    own_redis: RedisServer, tmp_path: Path
) -> None:
    server = own_redis
    settings = Settings(
        redis_url=server.url,
        redis_max_connections=CONNECTIONS,
        data_dir=tmp_path / "data",
        **TEST_REDIS_TIMEOUTS,
    )
    link = await connect(settings)
    key = redis_keys.device("dev_" + "a" * 26)
    try:
        # Every pooled connection opened and back in the pool, idle.
        await asyncio.gather(*(link.client.blpop([key], 0.05) for _ in range(CONNECTIONS)))
        await link.run([Call.command("SET", key, "kept")])
        server.kill()
        server.start()
        # A moment for the event loop to read the end of the dead server's connections.
        await asyncio.sleep(0.01)
        for _ in range(CONNECTIONS):
            assert await link.client.get(key) == b"kept"
        assert await link.run([Call.command("GET", key)]) == [b"kept"]
    finally:
        await link.aclose()
