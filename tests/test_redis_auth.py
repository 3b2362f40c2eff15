"""Liaison on a Redis that requires a password (issue 10): the default user's ``requirepass``
(what the embedded Redis now has) and an ACL user limited to Liaison's keys, as an operator
would give one on a shared Redis (``docs/security.md``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pytest_aiohttp import AiohttpClient
from redis.asyncio import Redis

from messaging.redis_server import RedisServer
from messaging.server.app import create_app
from messaging.settings import Settings
from tests.conftest import ADMIN_TOKEN, running_redis
from tests.support import World, compose

PASSWORD = "the-default-user-s-password"
ACL_PASSWORD = "liaison-s-own-password"


@pytest.fixture(scope="module")
def locked_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    yield from running_redis(tmp_path_factory.mktemp("locked"), password=PASSWORD)


@pytest.mark.parametrize("user", ["default", "acl"])
async def test_liaison_runs_on_a_redis_with_a_password_or_an_acl_user(
    aiohttp_client: AiohttpClient,
    settings: Settings,
    locked_redis: RedisServer,
    user: str,
) -> None:
    admin = Redis.from_url(locked_redis.url)
    try:
        await admin.flushall()
        url = locked_redis.url
        if user == "acl":
            # Liaison's keys and channels, every command but the dangerous ones.
            await admin.acl_setuser(
                "liaison",
                enabled=True,
                reset=True,
                passwords=[f"+{ACL_PASSWORD}"],
                keys=["liaison:*"],
                channels=["*"],
                commands=["+@all", "-@dangerous", "+info"],
            )
            url = url.replace(f":{PASSWORD}@", f"liaison:{ACL_PASSWORD}@")
        app = create_app(settings.model_copy(update={"redis_url": url, "redis_mode": "standalone"}))
        world = World(await aiohttp_client(app), ADMIN_TOKEN, admin)
        alice, bob = await world.professional(), await world.professional()
        envelope = compose(alice, [bob.principal], [bob])
        sent = await world.client.post("/v1/messages", json=envelope, headers=alice.headers)
        assert sent.status == 202, await sent.text()
        async with world.client.ws_connect("/v1/stream", headers=bob.headers) as ws:
            event = await ws.receive_json(timeout=10)
            assert event["type"] == "message"
        assert await admin.dbsize() > 0
        keys = [key async for key in admin.scan_iter()]
        assert [key for key in keys if not key.startswith(b"liaison:")] == []
    finally:
        await admin.aclose()
