"""Sending, fetching and acknowledging over HTTP, and every refusal of POST /v1/messages."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import pytest
from pytest_aiohttp import AiohttpClient
from redis.exceptions import ConnectionError as RedisConnectionError

from messaging import crypto, redis_keys
from messaging.directory import StoredDevice
from messaging.redis_link import RedisClient
from messaging.server.app import create_app
from messaging.server.appkeys import DIRECTORY
from messaging.settings import Settings
from tests.conftest import ADMIN_TOKEN
from tests.support import Device, World, compose, open_message

ALSO_ON_CLUSTER = True


async def _send(world: World, sender: Device, envelope: dict[str, Any]) -> Any:
    response = await world.client.post("/v1/messages", json=envelope, headers=sender.headers)
    return response.status, await response.json()


async def _events(world: World, device: Device, **query: Any) -> list[dict[str, Any]]:
    response = await world.client.get("/v1/messages", params=query, headers=device.headers)
    assert response.status == 200, await response.text()
    events: list[dict[str, Any]] = (await response.json())["events"]
    return events


async def test_message_reaches_recipient_who_decrypts_it(world: World) -> None:
    alice, bob = await world.professional(), await world.professional()
    envelope = compose(alice, [bob.principal], [bob], body="Tension 12/8, à revoir dans 3 mois.")
    status, answer = await _send(world, alice, envelope)
    assert status == 202
    assert answer["id"] == envelope["id"]
    assert answer["dossier"] is None
    [event] = await _events(world, bob)
    assert event["type"] == "message"
    assert "keys" not in event["envelope"]
    await _verify_sender(world, bob, event)
    assert open_message(event, bob).body == "Tension 12/8, à revoir dans 3 mois."


async def _verify_sender(world: World, reader: Device, event: dict[str, Any]) -> None:
    envelope = event["envelope"]
    response = await world.client.get(f"/v1/directory/{envelope['sender']}", headers=reader.headers)
    devices = {d["id"]: d for d in (await response.json())["devices"]}
    sign_key = crypto.b64u_decode(devices[envelope["sender_device"]]["sign_key"])
    crypto.verify_envelope(envelope, sign_key)


async def test_ack_deletes_the_event_and_sends_a_signed_receipt(world: World) -> None:
    alice, bob = await world.professional(), await world.professional()
    envelope = compose(alice, [bob.principal], [bob])
    await _send(world, alice, envelope)
    [event] = await _events(world, bob)
    response = await world.client.post(
        "/v1/messages/ack", json={"cursors": [event["cursor"]]}, headers=bob.headers
    )
    assert response.status == 204
    assert await _events(world, bob) == []
    [receipt] = await _events(world, alice)
    assert receipt["type"] == "receipt"
    assert receipt["receipt"]["message_id"] == envelope["id"]
    assert receipt["receipt"]["device"] == bob.device_id
    assert receipt["receipt"]["recipient"] == bob.principal
    server = await (await world.client.get("/v1/server")).json()
    crypto.verify_server_event(
        receipt["receipt"], receipt["signature"], crypto.b64u_decode(server["sign_key"])
    )
    # Acking again is harmless and sends no second receipt.
    await world.client.post(
        "/v1/messages/ack", json={"cursors": [event["cursor"]]}, headers=bob.headers
    )
    assert len(await _events(world, alice)) == 1


@pytest.mark.store_outage
async def test_an_ack_that_fails_midway_is_acked_again_and_loses_no_receipt(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The receipt's lookup of the sender's devices fails once, as in a Redis outage. The
    events used to be deleted first: the retry then found nothing to ack, and the sender never
    had its receipt."""
    alice, bob = await world.professional(), await world.professional()
    envelope = compose(alice, [bob.principal], [bob])
    await _send(world, alice, envelope)
    [event] = await _events(world, bob)
    directory = world.client.app[DIRECTORY]
    lookup = directory.devices
    failures = [RedisConnectionError("injected: Redis lost")]

    async def failing_once(ids: Iterable[str]) -> dict[str, dict[str, StoredDevice]]:
        if failures:
            raise failures.pop()
        return await lookup(ids)

    monkeypatch.setattr(directory, "devices", failing_once)
    ack = {"cursors": [event["cursor"]]}
    failed = await world.client.post("/v1/messages/ack", json=ack, headers=bob.headers)
    assert failed.status == 503
    retried = await world.client.post("/v1/messages/ack", json=ack, headers=bob.headers)
    assert retried.status == 204
    assert await _events(world, bob) == []
    [receipt] = await _events(world, alice)
    assert receipt["receipt"]["message_id"] == envelope["id"]


async def test_same_envelope_twice_is_queued_once(world: World, redis: RedisClient) -> None:
    alice, bob = await world.professional(), await world.professional()
    envelope = compose(alice, [bob.principal], [bob])
    first = await _send(world, alice, envelope)
    again = await _send(world, alice, envelope)
    assert first == again
    assert await redis.xlen(redis_keys.queue(bob.device_id)) == 1


async def test_same_id_with_another_envelope_is_a_conflict(world: World) -> None:
    alice, bob = await world.professional(), await world.professional()
    envelope = compose(alice, [bob.principal], [bob])
    await _send(world, alice, envelope)
    other = compose(alice, [bob.principal], [bob], body="autre", message_id=envelope["id"])
    status, problem = await _send(world, alice, other)
    assert status == 409
    assert problem["code"] == "id_conflict"


async def test_bad_signature_is_refused(world: World) -> None:
    alice, bob = await world.professional(), await world.professional()
    envelope = compose(alice, [bob.principal], [bob])
    envelope["created_at"] = "2026-01-01T00:00:00.000Z"
    status, problem = await _send(world, alice, envelope)
    assert (status, problem["code"]) == (400, "bad_signature")
    assert await _events(world, bob) == []


async def test_envelope_claiming_another_principal_is_refused(world: World) -> None:
    alice, bob, mallory = (
        await world.professional(),
        await world.professional(),
        await world.professional(),
    )
    # Signed correctly by alice's device, but posted with mallory's token.
    envelope = compose(alice, [bob.principal], [bob])
    status, problem = await _send(world, mallory, envelope)
    assert (status, problem["code"]) == (403, "sender_mismatch")


async def test_envelope_claiming_another_device_is_refused(world: World) -> None:
    alice, bob = await world.professional(), await world.professional()
    alice_laptop = await world.enroll(alice.principal)
    envelope = compose(alice, [bob.principal], [bob])
    status, problem = await _send(world, alice_laptop, envelope)
    assert (status, problem["code"]) == (403, "sender_mismatch")


async def test_oversized_envelope_is_refused(world: World) -> None:
    alice, bob = await world.professional(), await world.professional()
    envelope = compose(alice, [bob.principal], [bob], body="x" * 70_000)
    status, problem = await _send(world, alice, envelope)
    assert (status, problem["code"]) == (413, "envelope_too_large")


async def test_unknown_field_is_refused(world: World) -> None:
    alice, bob = await world.professional(), await world.professional()
    envelope = {**compose(alice, [bob.principal], [bob]), "priority": "high"}
    status, problem = await _send(world, alice, envelope)
    assert (status, problem["code"]) == (400, "invalid_request")
    assert problem["errors"][0]["loc"] == ["priority"]


async def test_device_set_missing_a_device_is_stale(world: World) -> None:
    alice, bob = await world.professional(), await world.professional()
    bob_phone = await world.enroll(bob.principal)
    envelope = compose(alice, [bob.principal], [bob])
    status, problem = await _send(world, alice, envelope)
    assert (status, problem["code"]) == (409, "stale_devices")
    assert problem["missing"] == [bob_phone.device_id]
    assert problem["extra"] == []


async def test_device_set_naming_a_foreign_device_is_stale(world: World) -> None:
    alice, bob, carol = (
        await world.professional(),
        await world.professional(),
        await world.professional(),
    )
    envelope = compose(alice, [bob.principal], [bob, carol])
    status, problem = await _send(world, alice, envelope)
    assert (status, problem["code"]) == (409, "stale_devices")
    assert problem["extra"] == [carol.device_id]
    assert await _events(world, carol) == []


async def test_organisation_expands_to_its_members_devices(world: World) -> None:
    alice, nurse_a, nurse_b = (
        await world.professional(),
        await world.professional(),
        await world.professional(),
    )
    team = await world.principal(
        "org:chu-cardiologie",
        kind="organisation",
        display_name="CHU Cardiologie",
        profession=None,
        members=[nurse_a.principal, nurse_b.principal],
    )
    status, problem = await _send(world, alice, compose(alice, [team], [nurse_a]))
    assert problem["missing"] == [nurse_b.device_id]
    status, _ = await _send(world, alice, compose(alice, [team], [nurse_a, nurse_b]))
    assert status == 202
    for nurse in (nurse_a, nurse_b):
        [event] = await _events(world, nurse)
        assert open_message(event, nurse).subject == "Compte rendu"


async def test_sender_may_copy_its_own_other_devices(world: World) -> None:
    alice, bob = await world.professional(), await world.professional()
    alice_laptop = await world.enroll(alice.principal)
    status, _ = await _send(world, alice, compose(alice, [bob.principal], [bob, alice_laptop]))
    assert status == 202
    [copy] = await _events(world, alice_laptop)
    assert open_message(copy, alice_laptop).subject == "Compte rendu"


async def test_unknown_recipient_is_refused(world: World) -> None:
    alice = await world.professional()
    status, problem = await _send(world, alice, compose(alice, ["rpps:99999999999"], [alice]))
    assert (status, problem["code"]) == (404, "unknown_recipient")
    assert problem["recipients"] == ["rpps:99999999999"]


async def test_one_device_cannot_ack_another_devices_events(world: World) -> None:
    alice, bob, carol = (
        await world.professional(),
        await world.professional(),
        await world.professional(),
    )
    await _send(world, alice, compose(alice, [bob.principal], [bob]))
    [event] = await _events(world, bob)
    response = await world.client.post(
        "/v1/messages/ack", json={"cursors": [event["cursor"]]}, headers=carol.headers
    )
    assert response.status == 403
    assert (await response.json())["code"] == "foreign_cursor"
    assert len(await _events(world, bob)) == 1


async def test_one_device_cannot_read_another_devices_queue(world: World) -> None:
    alice, bob, carol = (
        await world.professional(),
        await world.professional(),
        await world.professional(),
    )
    await _send(world, alice, compose(alice, [bob.principal], [bob]))
    assert await _events(world, carol) == []
    [event] = await _events(world, bob)
    response = await world.client.get(
        "/v1/messages", params={"after": event["cursor"]}, headers=carol.headers
    )
    assert response.status == 403
    assert (await response.json())["code"] == "foreign_cursor"


async def test_long_poll_returns_when_a_message_arrives(world: World) -> None:
    alice, bob = await world.professional(), await world.professional()
    poll = asyncio.create_task(_events(world, bob, wait=10))
    await asyncio.sleep(0.2)
    assert not poll.done()
    await _send(world, alice, compose(alice, [bob.principal], [bob]))
    events = await asyncio.wait_for(poll, 5)
    assert [e["type"] for e in events] == ["message"]


async def test_fetch_pages_with_next_cursor(world: World) -> None:
    alice, bob = await world.professional(), await world.professional()
    sent = [compose(alice, [bob.principal], [bob]) for _ in range(5)]
    for envelope in sent:
        await _send(world, alice, envelope)
    response = await world.client.get("/v1/messages", params={"limit": 3}, headers=bob.headers)
    page = await response.json()
    rest = await _events(world, bob, after=page["next"])
    ids = [e["envelope"]["id"] for e in page["events"] + rest]
    assert ids == [e["id"] for e in sent]


async def test_body_that_is_not_json_is_refused(world: World) -> None:
    alice = await world.professional()
    response = await world.client.post(
        "/v1/messages",
        data=b"{not json",
        headers={**alice.headers, "Content-Type": "application/json"},
    )
    assert response.status == 400
    assert (await response.json())["code"] == "invalid_request"
    response = await world.client.post("/v1/messages", data=b"x", headers=alice.headers)
    assert response.status == 415


async def test_enrollment_reaches_another_process_directory_cache(
    world: World, aiohttp_client: AiohttpClient, settings: Settings
) -> None:
    alice, bob = await world.professional(), await world.professional()
    other = await aiohttp_client(create_app(settings))  # a second server process, same Redis
    first = compose(alice, [bob.principal], [bob])
    assert (await other.post("/v1/messages", json=first, headers=alice.headers)).status == 202
    await world.enroll(bob.principal)  # through the first process
    deadline = asyncio.get_running_loop().time() + 5
    while True:
        envelope = compose(alice, [bob.principal], [bob])
        response = await other.post("/v1/messages", json=envelope, headers=alice.headers)
        if response.status == 409:
            break
        assert asyncio.get_running_loop().time() < deadline, "the new device never showed"
        await asyncio.sleep(0.01)
    assert (await response.json())["code"] == "stale_devices"


async def test_a_burst_beyond_the_redis_pool_waits_instead_of_failing(
    aiohttp_client: AiohttpClient, settings: Settings, redis: RedisClient
) -> None:
    small = settings.model_copy(update={"redis_max_connections": 4})
    world = World(await aiohttp_client(create_app(small)), ADMIN_TOKEN, redis)
    alice, bob = await world.professional(), await world.professional()
    sends = [
        world.client.post(
            "/v1/messages", json=compose(alice, [bob.principal], [bob]), headers=alice.headers
        )
        for _ in range(40)
    ]
    statuses = [response.status for response in await asyncio.gather(*sends)]
    assert statuses == [202] * 40
