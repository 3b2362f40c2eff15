"""Shared fixtures. Every test talks to a private Redis, never to the machine's own on 6379.

A module that sets ``ALSO_ON_CLUSTER = True`` runs each of its tests that use ``redis_url``
twice: on the private Redis and on a private Redis Cluster (3 primaries, 3 replicas, started
once per session); the cluster runs carry the ``cluster`` marker.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, Literal

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient
from aiohttp.typedefs import StrOrURL
from aiohttp.web import Application, Request
from pydantic import SecretStr
from pytest_aiohttp import AiohttpClient
from redis.asyncio import Redis, RedisCluster

from messaging.redis_link import RedisClient, RedisLink, connect
from messaging.redis_server import RedisServer, find_redis_binary
from messaging.server.app import create_app
from messaging.settings import Settings
from tests.cluster import LocalCluster
from tests.support import World

RedisMode = Literal["standalone", "cluster"]
TEST_REDIS_TIMEOUTS: dict[str, Any] = {
    "redis_connect_timeout_seconds": 5.0,
    "redis_command_timeout_seconds": 5.0,
    "redis_pool_timeout_seconds": 5.0,
}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if (
        getattr(metafunc.module, "ALSO_ON_CLUSTER", False)
        and "redis_url" in metafunc.fixturenames
        and "redis_server" not in metafunc.fixturenames
    ):
        metafunc.parametrize("redis_mode", ["standalone", "cluster"], indirect=True)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and callspec.params.get("redis_mode") == "cluster":
            item.add_marker(pytest.mark.cluster)


# --- Redis -----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    # appendfsync always: a test that kills and restarts the server may rely on every write.
    yield from running_redis(tmp_path_factory.mktemp("redis"), appendfsync="always")


def running_redis(directory: Path, **options: Any) -> Iterator[RedisServer]:
    """A private Redis (``RedisServer``'s ``options``: a password, an AOF policy) for a
    fixture to yield from, stopped afterwards."""
    server = RedisServer(directory, binary=_test_redis_binary(), **options)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _test_redis_binary() -> str:
    # LIAISON_TEST_REDIS_BINARY runs the suite on another Redis (CI runs it on 6.2 and 7).
    return os.environ.get("LIAISON_TEST_REDIS_BINARY") or find_redis_binary()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    cluster = LocalCluster(tmp_path_factory.mktemp("cluster"), _test_redis_binary())
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def redis_mode(request: pytest.FixtureRequest) -> RedisMode:
    mode: RedisMode = getattr(request, "param", "standalone")
    return mode


@pytest.fixture
async def redis_url(redis_mode: RedisMode, request: pytest.FixtureRequest) -> str:
    """The private server's (or cluster's) URL, emptied so that no test sees another's keys."""
    if redis_mode == "cluster":
        cluster: LocalCluster = request.getfixturevalue("redis_cluster")
        cluster.wait_until_healthy()  # a test may have failed a node over
        cluster.flush()
        return cluster.url
    redis_server: RedisServer = request.getfixturevalue("redis_server")
    # A test may have stopped or killed the shared server to prove durability.
    redis_server.start()
    client = Redis.from_url(redis_server.url)
    try:
        await client.flushall()
    finally:
        await client.aclose()
    return redis_server.url


@pytest.fixture(name="redis")
async def redis_client(redis_url: str, redis_mode: RedisMode) -> AsyncIterator[RedisClient]:
    client: RedisClient = (
        RedisCluster.from_url(redis_url)
        if redis_mode == "cluster"
        else Redis.from_url(redis_url, decode_responses=False)
    )
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture(name="redis_link")
async def redis_link_fixture(settings: Settings) -> AsyncIterator[RedisLink]:
    """The server's own view of the test Redis: for domain objects built outside an app."""
    link = await connect(settings)
    try:
        yield link
    finally:
        await link.aclose()


# --- Server ----------------------------------------------------------------------------------

ADMIN_TOKEN = "test-operator-token"


@pytest.fixture
def settings(redis_url: str, redis_mode: RedisMode, tmp_path: Path) -> Settings:
    return Settings(
        redis_url=redis_url,
        redis_mode=redis_mode,
        # This machine is shared and the test Redis fsyncs every write: the LAN defaults
        # (well under a second) would turn a busy moment into a 503.
        **TEST_REDIS_TIMEOUTS,
        data_dir=tmp_path / "data",
        admin_token=SecretStr(ADMIN_TOKEN),
        max_envelope_bytes=64 * 1024,
        queue_quota=50,
        # A sender may fill a test queue (tests send dozens to one device); the shares are
        # tested with the default share in test_queue_shares.
        sender_share=1.0,
    )


@pytest.fixture
async def client(
    aiohttp_client: AiohttpClient, settings: Settings
) -> TestClient[Request, Application]:
    return await aiohttp_client(create_app(settings))


@pytest.fixture
def world(client: TestClient[Request, Application], redis: RedisClient) -> World:
    """Factory of operator-registered principals and enrolled, logged-in devices."""
    return World(client, ADMIN_TOKEN, redis)


@pytest.fixture(autouse=True)
def own_logging() -> Iterator[None]:
    """Each test starts with the logging it found: a command run in-process points the root
    logger at the stream pytest captured for that test, closed once the test ends, and a later
    test's warning would go there ("I/O operation on closed file")."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture(autouse=True)
def no_server_errors(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """No request a test makes through a test client may be answered with a 5xx; a test marked
    ``store_outage`` makes Redis unreachable on purpose, and may see 503 (never a 500)."""
    answered: list[str] = []
    original = TestClient._request
    tolerated = {503} if request.node.get_closest_marker("store_outage") else set()

    async def recording(
        self: TestClient[Request, Application], method: str, path: StrOrURL, **kwargs: Any
    ) -> ClientResponse:
        response = await original(self, method, path, **kwargs)
        if response.status >= 500 and response.status not in tolerated:
            answered.append(f"{method} {path} -> {response.status}")
        return response

    monkeypatch.setattr(TestClient, "_request", recording)
    yield
    assert not answered, f"server errors: {answered}"
