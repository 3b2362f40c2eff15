"""The encoding rules of DESIGN §2 on the server, beyond the vectors: WebSocket frames, headers,
what a refusal says (and never echoes), and the idempotency that canonical forms make exact."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import aiohttp
import pytest

from messaging import canonical, crypto
from messaging.conformance.refusals import non_canonical_b64u
from tests.support import Device, World, compose


async def _post(world: World, device: Device, body: bytes) -> tuple[int, dict[str, Any]]:
    response = await world.client.post(
        "/v1/messages",
        data=body,
        headers={**device.headers, "Content-Type": "application/json"},
    )
    return response.status, await response.json()


async def test_a_non_canonical_spelling_is_refused_and_the_canonical_one_then_accepted(
    world: World,
) -> None:
    alice, bob = await world.professional(), await world.professional()
    envelope = compose(alice, [bob.principal], [bob])
    respelled = {**envelope, "signature": non_canonical_b64u(envelope["signature"])}
    # The same signature bytes: Python's lenient decoder would have verified it.
    assert crypto.b64u_decode(envelope["signature"]) == _lenient(respelled["signature"])

    status, problem = await _post(world, alice, json.dumps(respelled).encode())
    assert (status, problem["code"], problem["field"]) == (400, "non_canonical", "/signature")
    assert respelled["signature"] not in json.dumps(problem)  # never echoed

    status, answer = await _post(world, alice, json.dumps(envelope).encode())
    assert (status, answer["id"]) == (202, envelope["id"])


def _lenient(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


async def test_json_escapes_and_member_order_are_not_part_of_what_is_signed(world: World) -> None:
    alice, bob = await world.professional(), await world.professional()
    envelope = compose(alice, [bob.principal], [bob])
    # Same values, another text: reversed members, spaces, a needless escape. Still one message.
    text = json.dumps(dict(reversed(list(envelope.items()))), indent=1)
    text = text.replace('"rpps:', '"rpps\\u003a')
    assert canonical.loads(text.encode()) == envelope
    status, answer = await _post(world, alice, text.encode())
    assert status == 202, answer
    again, _ = await _post(world, alice, json.dumps(envelope).encode())
    assert again == 202  # the same envelope: an idempotent retry, not an id conflict


@pytest.mark.parametrize(
    ("frame", "code", "field"),
    [
        ('{"type":"ack","type":"ack","cursors":["1-0.x"]}', "duplicate_member", ""),
        ('{"type":"ack","cursors":["1-0.\\udfff"]}', "unpaired_surrogate", "/cursors/0"),
        ('\ufeff{"type":"ack","cursors":["1-0.x"]}', "invalid_encoding", None),
    ],
)
async def test_stream_frames_are_read_under_the_same_rules(
    world: World, frame: str, code: str, field: str | None
) -> None:
    bob = await world.professional()
    async with world.client.ws_connect("/v1/stream", headers=bob.headers) as ws:
        assert json.loads((await ws.receive(timeout=5)).data)["type"] == "queue_empty"
        await ws.send_str(frame)
        error = json.loads((await ws.receive(timeout=5)).data)
        assert (error["type"], error["code"]) == ("error", code)
        assert field is None or field in error["detail"]


async def test_a_first_frame_with_a_repeated_token_member_fails_authentication(
    world: World,
) -> None:
    bob = await world.professional()
    async with world.client.ws_connect("/v1/stream") as ws:
        await ws.send_str(json.dumps({"type": "auth", "token": bob.token})[:-1] + ',"token":"x"}')
        closing = await ws.receive(timeout=5)
        assert closing.type == aiohttp.WSMsgType.CLOSE
        assert closing.data == 4401


@pytest.mark.parametrize(
    ("path", "method"), [("/v1/devices", "GET"), ("/v1/admin/principals", "POST")]
)
async def test_a_bearer_token_that_is_not_utf8_is_refused_not_a_server_error(
    world: World, path: str, method: str
) -> None:
    # aiohttp reads such header bytes as lone surrogates; a test client cannot send them.
    reader, writer = await asyncio.open_connection(world.client.host, world.client.port)
    try:
        writer.write(
            f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n".encode()
            + b"Authorization: Bearer dev_aaaaaaaaaaaaaaaaaaaaaaaaaa.\xed\xa0\x80\xff\r\n"
            + b"Connection: close\r\n\r\n"
        )
        await writer.drain()
        answer = await reader.read()
    finally:
        writer.close()
        await writer.wait_closed()
    status = int(answer.split(b" ", 2)[1])
    assert status in (401, 403), answer
    assert b"application/problem+json" in answer


async def test_every_json_route_reads_its_body_strictly(world: World) -> None:
    response = await world.client.post(
        "/v1/admin/principals",
        data=b'{"id":"rpps:10000000001","kind":"professional","kind":"patient","display_name":"x"}',
        headers={**world.operator, "Content-Type": "application/json"},
    )
    assert response.status == 400
    assert (await response.json())["code"] == "duplicate_member"


def test_a_pointer_never_carries_an_arbitrary_member_name() -> None:
    assert canonical.pointer(("keys", "dev_abc", 0)) == "/keys/dev_abc/0"
    assert canonical.pointer(("a/b", "c")) == ""
    assert canonical.pointer(("keys", "<script>", "x")) == "/keys"
    assert canonical.pointer(("x", "\u202eevil")) == "/x"
    with pytest.raises(canonical.EncodingError) as refused:
        canonical.loads(b'{"keys":{"\\u001b[31m":1,"\\u001b[31m":2}}')
    assert refused.value.field == "/keys"
