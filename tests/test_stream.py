"""The WebSocket stream: authentication, backlog, queue_empty, live events, acks, displacement."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest

from messaging.redis_server import RedisServer
from tests.support import Device, World, compose, open_message

ALSO_ON_CLUSTER = True


async def _send(world: World, sender: Device, envelope: dict[str, Any]) -> None:
    response = await world.client.post("/v1/messages", json=envelope, headers=sender.headers)
    assert response.status == 202, await response.text()


async def _frame(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    message = await ws.receive(timeout=5)
    assert message.type == aiohttp.WSMsgType.TEXT, message
    frame: dict[str, Any] = json.loads(message.data)
    return frame


async def test_backlog_then_queue_empty_then_live_events(world: World) -> None:
    alice, bob = await world.professional(), await world.professional()
    first = compose(alice, [bob.principal], [bob], subject="backlog")
    await _send(world, alice, first)
    async with world.client.ws_connect("/v1/stream", headers=bob.headers) as ws:
        backlog = await _frame(ws)
        assert backlog["envelope"]["id"] == first["id"]
        assert await _frame(ws) == {"type": "queue_empty"}
        live = compose(alice, [bob.principal], [bob], subject="live")
        await _send(world, alice, live)
        event = await _frame(ws)
        assert open_message(event, bob).subject == "live"


async def test_first_frame_authentication(world: World) -> None:
    alice, bob = await world.professional(), await world.professional()
    await _send(world, alice, compose(alice, [bob.principal], [bob]))
    async with world.client.ws_connect("/v1/stream") as ws:
        await ws.send_json({"type": "auth", "token": bob.token})
        assert (await _frame(ws))["type"] == "message"
        assert (await _frame(ws))["type"] == "queue_empty"


async def test_bad_first_frame_closes_with_4401(world: World) -> None:
    async with world.client.ws_connect("/v1/stream") as ws:
        await ws.send_json({"type": "auth", "token": "garbage"})
        message = await ws.receive(timeout=5)
        assert message.type == aiohttp.WSMsgType.CLOSE
        assert ws.close_code == 4401


async def test_bad_header_token_is_refused_before_upgrade(world: World) -> None:
    response = await world.client.get(
        "/v1/stream",
        headers={
            "Authorization": "Bearer nope",
            "Connection": "Upgrade",
            "Upgrade": "websocket",
            "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        },
    )
    assert response.status == 401
    assert (await response.json())["code"] == "invalid_token"


async def test_ack_over_the_socket_deletes_and_sends_receipt(world: World) -> None:
    alice, bob = await world.professional(), await world.professional()
    envelope = compose(alice, [bob.principal], [bob])
    await _send(world, alice, envelope)
    async with world.client.ws_connect("/v1/stream", headers=bob.headers) as ws:
        event = await _frame(ws)
        await _frame(ws)  # queue_empty
        await ws.send_json({"type": "ack", "cursors": [event["cursor"]]})
        async with world.client.ws_connect("/v1/stream", headers=alice.headers) as alice_ws:
            receipt = await _frame(alice_ws)
            assert receipt["type"] == "receipt"
            assert receipt["receipt"]["message_id"] == envelope["id"]
    response = await world.client.get("/v1/messages", headers=bob.headers)
    assert (await response.json())["events"] == []


async def test_bad_ack_frame_gets_an_error_frame(world: World) -> None:
    bob = await world.professional()
    async with world.client.ws_connect("/v1/stream", headers=bob.headers) as ws:
        assert (await _frame(ws))["type"] == "queue_empty"
        await ws.send_json({"type": "ack", "cursors": ["1-0.AAAAAAAAAAAA"]})
        error = await _frame(ws)
        assert error == {
            "type": "error",
            "code": "foreign_cursor",
            "detail": "this cursor was not issued for the calling device",
        }
        await ws.send_str("{")
        assert (await _frame(ws))["code"] == "invalid_request"


async def test_newer_socket_displaces_the_older_with_4409(world: World) -> None:
    alice, bob = await world.professional(), await world.professional()
    async with world.client.ws_connect("/v1/stream", headers=bob.headers) as old:
        assert (await _frame(old))["type"] == "queue_empty"
        async with world.client.ws_connect("/v1/stream", headers=bob.headers) as new:
            assert (await _frame(new))["type"] == "queue_empty"
            closing = await old.receive(timeout=5)
            assert closing.type == aiohttp.WSMsgType.CLOSE
            assert old.close_code == 4409
            await _send(world, alice, compose(alice, [bob.principal], [bob]))
            assert (await _frame(new))["type"] == "message"


async def test_unacked_events_come_back_on_reconnect(world: World) -> None:
    alice, bob = await world.professional(), await world.professional()
    envelope = compose(alice, [bob.principal], [bob])
    await _send(world, alice, envelope)
    for _ in range(2):
        async with world.client.ws_connect("/v1/stream", headers=bob.headers) as ws:
            assert (await _frame(ws))["envelope"]["id"] == envelope["id"]


async def test_store_failure_after_upgrade_closes_with_1013(
    world: World, redis_server: RedisServer
) -> None:
    bob = await world.professional()
    async with world.client.ws_connect("/v1/stream") as ws:
        redis_server.kill()  # the next test's fixture starts it again
        await ws.send_json({"type": "auth", "token": bob.token})
        message = await ws.receive(timeout=10)
        assert message.type == aiohttp.WSMsgType.CLOSE
        assert ws.close_code == aiohttp.WSCloseCode.TRY_AGAIN_LATER


@pytest.mark.parametrize("unread_seconds", [0, 1.5])
async def test_revoking_a_device_closes_its_socket(world: World, unread_seconds: float) -> None:
    """With 1.5 s before the client reads the close frame (a slow handler, a loaded machine):
    the server waits for the client's reply; it used to drop the connection after 1 s, and
    the client then saw 1006 instead of 4401 (issue 9 item 8)."""
    bob = await world.professional()
    async with world.client.ws_connect("/v1/stream", headers=bob.headers) as ws:
        assert (await _frame(ws))["type"] == "queue_empty"
        response = await world.client.delete(f"/v1/devices/{bob.device_id}", headers=bob.headers)
        assert response.status == 204
        await asyncio.sleep(unread_seconds)
        message = await ws.receive(timeout=5)
        assert message.type == aiohttp.WSMsgType.CLOSE
        assert ws.close_code == 4401
