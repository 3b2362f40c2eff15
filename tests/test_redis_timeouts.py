"""Redis timeouts are settings: a stuck Redis costs a request the command timeout, ``/readyz``
its own shorter one, and the 503 tells clients to come back after the reconnect interval."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient
from aiohttp.web import Application, Request
from pytest_aiohttp import AiohttpClient
from redis.asyncio import Redis

from messaging.server.app import create_app
from messaging.settings import Settings
from tests.dossiers import eventually

PAUSE_MS = 2000

pytestmark = pytest.mark.store_outage


async def _app(
    aiohttp_client: AiohttpClient, settings: Settings, **update: float
) -> TestClient[Request, Application]:
    return await aiohttp_client(create_app(settings.model_copy(update=update)))


async def _pause(redis_url: str) -> None:
    pauser = Redis.from_url(redis_url)
    try:
        await pauser.client_pause(PAUSE_MS, all=True)
    finally:
        await pauser.aclose()


async def test_readyz_answers_503_within_its_own_timeout(
    aiohttp_client: AiohttpClient, settings: Settings, redis_url: str
) -> None:
    # Commands may take 10 s, far longer than the pause: without its own timeout, /readyz
    # would wait the pause out and answer 200.
    client = await _app(
        aiohttp_client,
        settings,
        redis_command_timeout_seconds=10.0,
        readyz_timeout_seconds=0.2,
    )
    await _pause(redis_url)
    response = await client.get("/readyz")
    assert response.status == 503
    assert (await response.json())["code"] == "store_unavailable"


async def test_a_stuck_redis_answers_503_with_the_reconnect_interval_as_retry_after(
    aiohttp_client: AiohttpClient, settings: Settings, redis_url: str
) -> None:
    client = await _app(
        aiohttp_client,
        settings,
        redis_command_timeout_seconds=0.3,
        redis_reconnect_seconds=2.5,
    )
    await _pause(redis_url)
    response = await client.post("/v1/auth/challenge", json={"device": "dev_" + "a" * 26})
    assert response.status == 503
    assert (await response.json())["code"] == "store_unavailable"
    assert response.headers["Retry-After"] == "3"  # 2.5 s, in the whole seconds HTTP allows

    async def recovered() -> bool:
        again = await client.post("/v1/auth/challenge", json={"device": "dev_" + "a" * 26})
        return again.status == 200

    # Nothing to restart: the next request after the pause is served.
    await eventually(recovered, within=10)
