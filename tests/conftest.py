"""Shared fixtures. Every test talks to a private Redis, never to the machine's own on 6379."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient
from aiohttp.typedefs import StrOrURL
from aiohttp.web import Application, Request
from pydantic import SecretStr
from pytest_aiohttp import AiohttpClient
from redis.asyncio import Redis

from messaging.redis_server import RedisServer
from messaging.server.app import create_app
from messaging.settings import Settings
from tests.support import World

# --- Redis -----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    # appendfsync always: a test that kills and restarts the server may rely on every write.
    # LIAISON_TEST_REDIS_BINARY runs the suite on another Redis (CI runs it on 6.2 and 7).
    server = RedisServer(
        tmp_path_factory.mktemp("redis"),
        appendfsync="always",
        binary=os.environ.get("LIAISON_TEST_REDIS_BINARY") or None,
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def redis_url(redis_server: RedisServer) -> str:
    """The private server's URL, emptied so that no test sees another's keys."""
    # A test may have stopped or killed the shared server to prove durability.
    redis_server.start()
    client = Redis.from_url(redis_server.url)
    try:
        await client.flushall()
    finally:
        await client.aclose()
    return redis_server.url


@pytest.fixture(name="redis")
async def redis_client(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url, decode_responses=False)
    try:
        yield client
    finally:
        await client.aclose()


# --- Server ----------------------------------------------------------------------------------

ADMIN_TOKEN = "test-operator-token"


@pytest.fixture
def settings(redis_url: str, tmp_path: Path) -> Settings:
    return Settings(
        redis_url=redis_url,
        data_dir=tmp_path / "data",
        admin_token=SecretStr(ADMIN_TOKEN),
        max_envelope_bytes=64 * 1024,
        queue_quota=50,
    )


@pytest.fixture
async def client(
    aiohttp_client: AiohttpClient, settings: Settings
) -> TestClient[Request, Application]:
    return await aiohttp_client(create_app(settings))


@pytest.fixture
def world(client: TestClient[Request, Application], redis: Redis) -> World:
    """Factory of operator-registered principals and enrolled, logged-in devices."""
    return World(client, ADMIN_TOKEN, redis)


@pytest.fixture(autouse=True)
def no_server_errors(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """No request a test makes through a test client may be answered with a 5xx."""
    answered: list[str] = []
    original = TestClient._request

    async def recording(
        self: TestClient[Request, Application], method: str, path: StrOrURL, **kwargs: Any
    ) -> ClientResponse:
        response = await original(self, method, path, **kwargs)
        if response.status >= 500:
            answered.append(f"{method} {path} -> {response.status}")
        return response

    monkeypatch.setattr(TestClient, "_request", recording)
    yield
    assert not answered, f"server errors: {answered}"
