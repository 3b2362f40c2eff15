"""What the server keeps of a message once every device has acked it: its idempotency record,
for the idempotency window, and nothing else (issue 12). A shared payload goes with the last
ack; a retry inside the window gets the first answer; after it, the id is a new message."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from pytest_aiohttp import AiohttpClient

from messaging import redis_keys
from messaging.redis_link import RedisClient
from messaging.server.app import create_app
from messaging.settings import Settings
from tests.conftest import ADMIN_TOKEN
from tests.support import Device, World, compose, open_message

ALSO_ON_CLUSTER = True


async def _send(world: World, sender: Device, envelope: dict[str, Any]) -> Any:
    response = await world.client.post("/v1/messages", json=envelope, headers=sender.headers)
    return response.status, await response.json()


async def _events(world: World, device: Device) -> list[dict[str, Any]]:
    response = await world.client.get("/v1/messages", headers=device.headers)
    assert response.status == 200, await response.text()
    events: list[dict[str, Any]] = (await response.json())["events"]
    return events


async def _ack(world: World, device: Device, event: dict[str, Any]) -> None:
    response = await world.client.post(
        "/v1/messages/ack", json={"cursors": [event["cursor"]]}, headers=device.headers
    )
    assert response.status == 204


async def _eventually(check: Any, what: str, within: float = 5.0) -> None:
    """Poll ``check()`` until it is true (the server settles some writes after its answer)."""
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, what
        await asyncio.sleep(0.02)


async def _to_a_team(world: World) -> tuple[Device, Device, Device, dict[str, Any]]:
    """Alice's message to a team of two nurses: one ciphertext, shared by their devices."""
    alice, nurse_a, nurse_b = (
        await world.professional(),
        await world.professional(),
        await world.professional(),
    )
    team = await world.principal(
        f"org:equipe-{uuid.uuid4().hex[:8]}",
        kind="organisation",
        display_name="Équipe de soins",
        profession=None,
        members=[nurse_a.principal, nurse_b.principal],
    )
    envelope = compose(alice, [team], [nurse_a, nurse_b])
    assert (await _send(world, alice, envelope))[0] == 202
    return alice, nurse_a, nurse_b, envelope


async def test_a_shared_payload_is_freed_when_its_last_device_acks(
    world: World, redis: RedisClient
) -> None:
    alice, nurse_a, nurse_b, envelope = await _to_a_team(world)
    payload = redis_keys.payload(alice.principal, envelope["id"])
    assert await redis.exists(payload) == 1

    [first] = await _events(world, nurse_a)
    await _ack(world, nurse_a, first)
    # The other nurse has not read it yet: the payload stays, and she can still read it.
    assert await redis.exists(payload) == 1
    [second] = await _events(world, nurse_b)
    assert open_message(second, nurse_b).subject == "Compte rendu"
    await _ack(world, nurse_b, second)
    assert await redis.exists(payload) == 0


async def test_a_socket_ack_frees_the_shared_payload_too(world: World, redis: RedisClient) -> None:
    alice, nurse_a, nurse_b, envelope = await _to_a_team(world)
    for nurse in (nurse_a, nurse_b):
        async with world.client.ws_connect("/v1/stream", headers=nurse.headers) as ws:
            event = await ws.receive_json(timeout=5)
            assert (await ws.receive_json(timeout=5))["type"] == "queue_empty"
            await ws.send_json({"type": "ack", "cursors": [event["cursor"]]})
            queue = redis_keys.queue(nurse.device_id)
            await _eventually(lambda q=queue: _is_empty(redis, q), "the ack never landed")
    assert await redis.exists(redis_keys.payload(alice.principal, envelope["id"])) == 0


async def _is_empty(redis: RedisClient, queue: str) -> bool:
    return int(await redis.xlen(queue)) == 0


async def test_once_acked_only_the_idempotency_record_stays(
    world: World, redis: RedisClient
) -> None:
    alice, bob = await world.professional(), await world.professional()
    envelope = compose(alice, [bob.principal], [bob])
    await _send(world, alice, envelope)
    [event] = await _events(world, bob)
    await _ack(world, bob, event)
    seen = redis_keys.seen(bob.device_id)
    # The answered mark, then the device's index entry, are settled after the 202.
    await _eventually(lambda: _absent(redis, seen), "the device index kept the message")
    every_generation = redis_keys.sent(alice.principal, 0).removesuffix("0") + "*"
    records = [key async for key in redis.scan_iter(match=every_generation)]
    [record_key] = records
    assert await redis.hlen(record_key) == 1
    assert await redis.hkeys(record_key) == [uuid.UUID(envelope["id"]).bytes]
    assert await redis.exists(redis_keys.payload(alice.principal, envelope["id"])) == 0


async def _absent(redis: RedisClient, key: str) -> bool:
    return int(await redis.exists(key)) == 0


async def test_a_retry_inside_the_window_is_answered_like_the_first(
    world: World, redis: RedisClient
) -> None:
    alice, bob = await world.professional(), await world.professional()
    envelope = compose(alice, [bob.principal], [bob])
    first = await _send(world, alice, envelope)
    [event] = await _events(world, bob)
    await _ack(world, bob, event)
    # Delivered and acked: the retry still gets the first answer, and queues nothing.
    again = await _send(world, alice, envelope)
    assert again == first
    assert await _events(world, bob) == []
    # Answered, with the index entry gone: still the same answer.
    await _eventually(lambda: _absent(redis, redis_keys.seen(bob.device_id)), "never settled")
    assert await _send(world, alice, envelope) == first
    assert await _events(world, bob) == []


async def _short_window(
    aiohttp_client: AiohttpClient, settings: Settings, redis: RedisClient, seconds: float = 0.2
) -> World:
    """A server whose idempotency window is ``seconds``: its records expire within the test."""
    short = settings.model_copy(update={"idempotency_window_seconds": seconds})
    return World(await aiohttp_client(create_app(short)), ADMIN_TOKEN, redis)


async def test_a_retry_after_the_window_is_a_new_message(
    aiohttp_client: AiohttpClient, settings: Settings, redis: RedisClient
) -> None:
    world = await _short_window(aiohttp_client, settings, redis)
    alice, bob = await world.professional(), await world.professional()
    envelope = compose(alice, [bob.principal], [bob])
    status, first = await _send(world, alice, envelope)
    assert status == 202
    [event] = await _events(world, bob)
    await _ack(world, bob, event)

    # Kept for one window at least, two at most: retry until the record is gone.
    deadline = asyncio.get_running_loop().time() + 5
    while True:
        status, answer = await _send(world, alice, envelope)
        assert status == 202
        if answer != first:
            break
        assert await _events(world, bob) == [], "a retry inside the window queued again"
        assert asyncio.get_running_loop().time() < deadline, "the record never expired"
        await asyncio.sleep(0.05)
    # A new acceptance, delivered again: recipients drop it by (sender, id) if they remember.
    assert answer["id"] == first["id"]
    assert answer["accepted_at"] > first["accepted_at"]
    [again] = await _events(world, bob)
    assert again["envelope"]["id"] == envelope["id"]


async def test_another_envelope_under_a_used_id_is_a_conflict_inside_the_window_only(
    aiohttp_client: AiohttpClient, settings: Settings, redis: RedisClient
) -> None:
    # Half a second: the conflict is surely seen first, even on a busy machine.
    world = await _short_window(aiohttp_client, settings, redis, seconds=0.5)
    alice, bob = await world.professional(), await world.professional()
    first = compose(alice, [bob.principal], [bob])
    assert (await _send(world, alice, first))[0] == 202
    other = compose(alice, [bob.principal], [bob], body="Autre texte.", message_id=first["id"])

    # Refused while the first envelope's record lasts, accepted as a new message once it is gone.
    conflicts = 0
    deadline = asyncio.get_running_loop().time() + 5
    while (answer := await _send(world, alice, other))[0] == 409:
        assert answer[1]["code"] == "id_conflict"
        conflicts += 1
        assert asyncio.get_running_loop().time() < deadline, "the record never expired"
        await asyncio.sleep(0.05)
    assert conflicts > 0
    assert answer[0] == 202
    queued = [event["envelope"]["ciphertext"] for event in await _events(world, bob)]
    assert queued == [first["ciphertext"], other["ciphertext"]]
