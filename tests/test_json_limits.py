"""Nesting depth and value count are bounded before any parser recurses (issue 10).

Measured before: a 6 KB body of nested arrays sent without login to ``/v1/auth/challenge`` made
Python's parser raise RecursionError, answered 500 with a traceback in the log.
"""

from __future__ import annotations

import statistics
import time

import pytest
from aiohttp.test_utils import TestClient
from aiohttp.web import Application, Request
from pytest_aiohttp import AiohttpClient

from messaging import canonical
from messaging.server.app import create_app
from messaging.settings import Settings
from tests.support import World

NESTED_6KB = b"[" * 6000 + b"]" * 6000


@pytest.mark.parametrize(
    "body",
    [
        NESTED_6KB,
        b"[" * 6000,  # never closed: refused for its depth, not left to the parser
        b'{"a":' * 3000 + b"1" + b"}" * 3000,
        b'{"device":' + b"[" * 6000 + b"]" * 6000 + b"}",
    ],
    ids=["arrays", "unclosed", "objects", "inside a member"],
)
async def test_a_deeply_nested_body_is_refused_without_login(
    client: TestClient[Request, Application], body: bytes
) -> None:
    response = await client.post(
        "/v1/auth/challenge", data=body, headers={"Content-Type": "application/json"}
    )
    assert response.status == 400
    problem = await response.json()
    assert problem["code"] == "invalid_json"
    assert "field" not in problem


def _refusal_seconds(body: bytes) -> float:
    """The median CPU time of this thread over 5 refusals of ``body``: what the refusal costs
    the server. CPU time leaves out the other processes of a shared machine, and the median
    one run that a page fault or a cache flush slowed down."""
    times = []
    for _ in range(5):
        started = time.thread_time()
        with pytest.raises(canonical.EncodingError) as refused:
            canonical.loads(body, 32, 10_000)
        times.append(time.thread_time() - started)
        assert refused.value.code == "invalid_json"
    return statistics.median(times)


def test_a_6kb_nest_is_refused_within_50_ms() -> None:
    assert _refusal_seconds(NESTED_6KB) < 0.050


@pytest.mark.parametrize(
    "body",
    [b"[" * 1_048_576, b"[[]," * 262_144 + b"[]]", b"[" + b'"a",' * 262_000 + b'"a"]'],
    ids=["1 MiB deep", "1 MiB of empty arrays", "1 MiB of strings"],
)
def test_a_1mib_body_is_refused_within_100_ms(body: bytes) -> None:
    # Measured on a loaded machine: 6, 5 and 26 ms (80 ms for the empty arrays when each
    # empty container was a regular-expression match).
    assert _refusal_seconds(body) < 0.100


@pytest.mark.parametrize(
    ("text", "depth", "values", "refused"),
    [
        ("[" * 32 + "]" * 32, 32, None, False),
        ("[" * 33 + "]" * 33, 32, None, True),
        ('{"a":' * 32 + "0" + "}" * 32, 32, None, False),
        ('{"a":' * 33 + "0" + "}" * 33, 32, None, True),
        # Brackets and commas inside strings are text, not structure.
        ('["' + "[" * 100 + "," * 100 + '"]', 4, 10, False),
        ('["\\"' + "[" * 100 + '\\\\"]', 4, 10, False),
        # Values: the root, each array element, each member's value.
        ('["a"]', 4, 2, False),
        ('["a"]', 4, 1, True),  # a string alone is still a value
        ('{"k":"v"}', 4, 1, True),
        ("[" + ",".join(["0"] * 99) + "]", 4, 100, False),
        ("[" + ",".join(["0"] * 100) + "]", 4, 100, True),
        ("[" + ",".join(["[]"] * 99) + "]", 4, 100, False),
        ("[" + ",".join(["[]"] * 100) + "]", 4, 100, True),
        ("{" + ",".join(f'"k{i}":{{}}' for i in range(99)) + "}", 4, 100, False),
        ("{" + ",".join(f'"k{i}":{{}}' for i in range(100)) + "}", 4, 100, True),
    ],
)
def test_shape_bounds_are_exact(text: str, depth: int, values: int | None, refused: bool) -> None:
    if refused:
        with pytest.raises(canonical.EncodingError) as error:
            canonical.check_shape(text, depth, values)
        assert error.value.code == "invalid_json"
    else:
        canonical.check_shape(text, depth, values)
        canonical.loads(text, depth, values)


async def test_the_bounds_are_settings(aiohttp_client: AiohttpClient, settings: Settings) -> None:
    small = settings.model_copy(update={"json_max_depth": 4, "json_max_values": 100})
    client = await aiohttp_client(create_app(small))
    bodies: list[object] = [[[[[[]]]]], list(range(100))]
    for body in bodies:
        response = await client.post("/v1/auth/challenge", json=body)
        assert response.status == 400
        assert (await response.json())["code"] == "invalid_json"
    response = await client.post("/v1/auth/challenge", json=list(range(99)))
    assert (await response.json())["code"] == "invalid_request"


async def test_other_calls_take_small_bodies(world: World, settings: Settings) -> None:
    padding = "x" * settings.max_body_bytes
    response = await world.client.post(
        "/v1/auth/challenge", json={"device": "dev_" + "a" * 26, "pad": padding}
    )
    assert response.status == 413
    assert (await response.json())["code"] == "body_too_large"


async def test_a_deep_ack_frame_is_answered_with_an_error_frame(world: World) -> None:
    device = await world.professional()
    async with world.client.ws_connect("/v1/stream", headers=device.headers) as ws:
        assert (await ws.receive_json(timeout=5))["type"] == "queue_empty"
        await ws.send_str("[" * 6000 + "]" * 6000)
        error = await ws.receive_json(timeout=5)
    assert error == {
        "type": "error",
        "code": "invalid_json",
        "detail": "the body: the document nests deeper than 32 levels",
    }
