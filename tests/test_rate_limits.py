"""Rate limits (DESIGN §4, issue 10): budgets in Redis per source address for unauthenticated
calls and per device for authenticated ones, refused with 429 ``rate_limited`` and a
``Retry-After``; outstanding challenges bounded per device; the SDK waits and retries.

Measured before: 1,439 wrong enrollment codes/s and 3,950 challenges/s were accepted from one
client, each challenge a Redis key (+59,264 keys in 15 s). Budgets here are tiny settings.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from aiohttp import ClientResponse, WSServerHandshakeError
from aiohttp.test_utils import TestClient
from aiohttp.web import Application, Request
from pydantic import SecretStr
from pytest_aiohttp import AiohttpClient

from messaging import crypto, redis_keys
from messaging.client import ApiError, DeviceIdentity, LiaisonClient
from messaging.rate_limits import client_address
from messaging.redis_link import RedisClient
from messaging.server.app import create_app
from messaging.settings import Settings
from tests.conftest import ADMIN_TOKEN
from tests.support import Device, World, compose, enrollment

ALSO_ON_CLUSTER = True

# One call a second on average: a refused caller is told to wait one second.
TIGHT = {
    "limit_challenge_per_minute": 60,
    "limit_challenge_burst": 3,
    "limit_token_per_minute": 60,
    "limit_token_burst": 3,
    "limit_enroll_per_minute": 60,
    "limit_enroll_burst": 3,
    "limit_send_per_minute": 60,
    "limit_send_burst": 3,
    "limit_fetch_per_minute": 60,
    "limit_fetch_burst": 2,
    "limit_directory_per_minute": 60,
    "limit_directory_burst": 2,
}


async def _limited_client(
    aiohttp_client: AiohttpClient, settings: Settings, **changes: Any
) -> TestClient[Request, Application]:
    # Validated again, as the environment's values would be.
    return await aiohttp_client(create_app(Settings(**(settings.model_dump() | TIGHT | changes))))


@pytest.fixture
async def limited(
    aiohttp_client: AiohttpClient, settings: Settings
) -> TestClient[Request, Application]:
    return await _limited_client(aiohttp_client, settings)


@pytest.fixture
def tight_world(limited: TestClient[Request, Application], redis: RedisClient) -> World:
    return World(limited, ADMIN_TOKEN, redis)


async def _assert_rate_limited(response: ClientResponse, budget: str) -> None:
    assert response.status == 429, await response.text()
    problem = await response.json()
    assert problem["code"] == "rate_limited"
    assert problem["budget"] == budget
    assert int(response.headers["Retry-After"]) >= 1


async def _challenge(
    client: TestClient[Request, Application], device: str, **headers: str
) -> ClientResponse:
    return await client.post("/v1/auth/challenge", json={"device": device}, headers=headers)


async def test_challenges_beyond_the_address_budget_are_refused(
    limited: TestClient[Request, Application], redis: RedisClient
) -> None:
    device = "dev_" + "a" * 26
    for _ in range(3):
        assert (await _challenge(limited, device)).status == 200
    await _assert_rate_limited(await _challenge(limited, device), "challenge")
    # Naming another device, or claiming another address, does not help an untrusted peer.
    await _assert_rate_limited(
        await _challenge(limited, "dev_" + "b" * 26, **{"X-Forwarded-For": "198.51.100.7"}),
        "challenge",
    )
    # One key for the budget, gone once the bucket is full again.
    key = redis_keys.address_budget("127.0.0.1", "challenge")
    assert 0 < await redis.pttl(key) <= 3000


async def test_a_trusted_proxy_s_forwarded_address_has_its_own_budget(
    aiohttp_client: AiohttpClient, settings: Settings
) -> None:
    client = await _limited_client(aiohttp_client, settings, trusted_proxies=("127.0.0.0/8",))
    device = "dev_" + "c" * 26
    forwarded = {"X-Forwarded-For": "203.0.113.9, 198.51.100.7"}
    for _ in range(3):
        assert (await _challenge(client, device, **forwarded)).status == 200
    await _assert_rate_limited(await _challenge(client, device, **forwarded), "challenge")
    # The client before the last hop is only what 198.51.100.7 said: not believed.
    await _assert_rate_limited(
        await _challenge(client, device, **{"X-Forwarded-For": "192.0.2.1, 198.51.100.7"}),
        "challenge",
    )
    assert (await _challenge(client, device, **{"X-Forwarded-For": "198.51.100.8"})).status == 200


def test_the_address_a_call_counts_against() -> None:
    proxies = [Settings.model_validate({"trusted_proxies": "10.0.0.0/8, ::1"}).trusted_proxies]
    (trusted,) = proxies
    assert client_address("192.0.2.5", ["198.51.100.1"], trusted) == "192.0.2.5"
    assert client_address("10.1.2.3", ["198.51.100.1, 10.9.9.9"], trusted) == "198.51.100.1"
    assert client_address("::1", ["2001:db8:1:2:3:4:5:6"], trusted) == "2001:db8:1:2::"
    assert client_address("::ffff:192.0.2.5", [], trusted) == "192.0.2.5"
    assert client_address("10.1.2.3", ["not an address"], trusted) == "unknown"


async def test_wrong_enrollment_codes_beyond_the_address_budget_are_refused(
    tight_world: World,
) -> None:
    principal = await tight_world.principal()
    keys = crypto.DeviceKeys.generate()
    for _ in range(3):
        response = await tight_world.client.post(
            "/v1/devices", json=enrollment(principal, "AAAA-BBBB-CCCC-DDDD", keys)
        )
        assert response.status == 401
    response = await tight_world.client.post(
        "/v1/devices", json=enrollment(principal, await tight_world.code(principal), keys)
    )
    await _assert_rate_limited(response, "enroll")


async def test_token_requests_beyond_the_address_budget_are_refused(
    limited: TestClient[Request, Application],
) -> None:
    body = {"device": "dev_" + "d" * 26, "challenge": "x" * 43, "signature": "y" * 86}
    for _ in range(3):
        assert (await limited.post("/v1/auth/token", json=body)).status in (400, 401)
    await _assert_rate_limited(await limited.post("/v1/auth/token", json=body), "token")


async def test_outstanding_challenges_are_bounded_per_device(
    aiohttp_client: AiohttpClient, settings: Settings, redis: RedisClient
) -> None:
    client = await _limited_client(
        aiohttp_client,
        settings,
        max_outstanding_challenges=2,
        limit_challenge_per_minute=0,
        limit_token_per_minute=0,
    )
    world = World(client, ADMIN_TOKEN, redis)
    device = await world.professional()
    issued = [
        (await (await _challenge(client, device.device_id)).json())["challenge"] for _ in "abcd"
    ]
    assert await redis.zcard(redis_keys.challenges(device.device_id)) == 2
    for challenge, accepted in zip(issued, (False, False, True, True), strict=True):
        response = await client.post(
            "/v1/auth/token",
            json={
                "device": device.device_id,
                "challenge": challenge,
                "signature": crypto.b64u_encode(
                    device.keys.auth_signature(crypto.b64u_decode(challenge))
                ),
            },
        )
        assert (response.status == 200) is accepted, await response.text()


async def _send(world: World, sender: Device, envelope: dict[str, Any]) -> ClientResponse:
    return await world.client.post("/v1/messages", json=envelope, headers=sender.headers)


async def test_sends_beyond_the_device_budget_are_refused_and_queue_nothing(
    tight_world: World,
) -> None:
    sender, reader = await tight_world.professional(), await tight_world.professional()
    other = await tight_world.enroll(sender.principal)
    for _ in range(3):
        envelope = compose(sender, [reader.principal], [reader])
        assert (await _send(tight_world, sender, envelope)).status == 202
    refused = compose(sender, [reader.principal], [reader])
    await _assert_rate_limited(await _send(tight_world, sender, refused), "send")
    # Another device of the same principal has a budget of its own.
    envelope = compose(other, [reader.principal], [reader])
    assert (await _send(tight_world, other, envelope)).status == 202
    response = await tight_world.client.get("/v1/messages", headers=reader.headers)
    assert len((await response.json())["events"]) == 4
    # The refused send left no claim behind: once the budget refills it is simply accepted.
    await asyncio.sleep(1.1)
    assert (await _send(tight_world, sender, refused)).status == 202
    response = await tight_world.client.get("/v1/messages", headers=reader.headers)
    assert len((await response.json())["events"]) == 5


async def test_fetches_and_directory_look_ups_have_device_budgets(tight_world: World) -> None:
    device = await tight_world.professional()
    for _ in range(2):
        response = await tight_world.client.get("/v1/messages", headers=device.headers)
        assert response.status == 200
    await _assert_rate_limited(
        await tight_world.client.get("/v1/messages", headers=device.headers), "fetch"
    )
    with pytest.raises(WSServerHandshakeError) as refused:
        await tight_world.client.ws_connect("/v1/stream", headers=device.headers)
    assert refused.value.status == 429
    lookup = f"/v1/directory/{device.principal}"
    for _ in range(2):
        assert (await tight_world.client.get(lookup, headers=device.headers)).status == 200
    await _assert_rate_limited(
        await tight_world.client.get(lookup, headers=device.headers), "directory"
    )


async def test_the_sdk_waits_for_retry_after_then_succeeds(tight_world: World) -> None:
    sender, reader = await tight_world.professional(), await tight_world.professional()
    url = str(tight_world.client.make_url(""))
    identity = DeviceIdentity(url, sender.principal, sender.device_id, sender.keys)
    async with LiaisonClient(url, identity, session=tight_world.client.session) as client:
        client.rate_limit_retries = 0
        await client.login()
        for _ in range(3):
            await client.send([reader.principal], "Compte rendu", "Vu ce jour.")
        with pytest.raises(ApiError) as refused:
            await client.send([reader.principal], "Compte rendu", "Vu ce jour.")
        assert refused.value.code == "rate_limited"
        assert refused.value.retry_after is not None
        assert refused.value.retry_after >= 1
        client.rate_limit_retries = 2
        started = time.monotonic()
        await client.send([reader.principal], "Compte rendu", "Vu ce jour.")
        assert time.monotonic() - started >= 0.9


async def test_a_socket_closes_with_4401_when_its_token_expires(
    world: World, redis: RedisClient
) -> None:
    device = await world.professional()
    async for key in redis.scan_iter(match=redis_keys.token(device.device_id, "*")):
        await redis.pexpire(key, 1500)
    started = time.monotonic()
    async with world.client.ws_connect("/v1/stream", headers=device.headers) as ws:
        assert (await ws.receive_json(timeout=5))["type"] == "queue_empty"
        closing = await ws.receive(timeout=10)
        assert ws.close_code == 4401, closing
    assert 1.0 < time.monotonic() - started < 5
    response = await world.client.get("/v1/messages", headers=device.headers)
    assert response.status == 401


async def test_defaults_are_sized_for_a_gateway_and_a_hospital_address() -> None:
    defaults = Settings(admin_token=SecretStr("x"))
    # A hospital gateway application sends thousands a minute from one device.
    assert defaults.limit_send_per_minute >= 6_000
    # Two thousand workstations behind one address renewing hourly tokens.
    assert defaults.limit_challenge_per_minute >= 2_000 / 60
    assert defaults.limit_token_per_minute >= 2_000 / 60
