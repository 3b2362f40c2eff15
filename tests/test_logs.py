"""Logs: one setup, text or JSON; an access-log line per request with its request id and route
template; nothing secret or patient-identifying in a line; a client leaving is not an error."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import weakref

import pytest
from aiohttp import WSCloseCode

from messaging import logs
from messaging.server.observe import REQUEST_ID_HEADER, quiet_malformed_requests
from messaging.server.stream import _closed_on_failure
from tests.dossiers import ADULT_BIRTH, eventually, new_ins
from tests.support import World


def _record(message: str, **fields: object) -> logging.LogRecord:
    record = logging.LogRecord("liaison.test", logging.WARNING, __file__, 1, message, (), None)
    for name, value in fields.items():
        setattr(record, name, value)
    return record


def test_json_lines_carry_the_structured_fields() -> None:
    line = logs.JsonFormatter().format(_record("GET /healthz 200", route="/healthz", status=200))
    document = json.loads(line)
    assert document["level"] == "warning"
    assert document["logger"] == "liaison.test"
    assert document["message"] == "GET /healthz 200"
    assert (document["route"], document["status"]) == ("/healthz", 200)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", document["time"])


def test_json_lines_carry_a_traceback_as_one_member() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = _record("failed")
        record.exc_info = __import__("sys").exc_info()
    line = logs.JsonFormatter().format(record)
    assert "\n" not in line
    assert "ValueError: boom" in json.loads(line)["exception"]


def test_text_lines_end_with_the_fields() -> None:
    line = logs.TextFormatter().format(_record("GET /healthz 200", request_id="abc", status=200))
    assert line.endswith("WARNING liaison.test GET /healthz 200 request_id=abc status=200")


def test_configure_installs_one_handler_in_the_chosen_format() -> None:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    stream = io.StringIO()
    try:
        logs.configure("json", "warning", stream)
        logs.configure("json", "warning", stream)  # again: still one handler
        assert len(root.handlers) == 1
        logging.getLogger("liaison.test").info("not shown")
        logging.getLogger("liaison.test").warning("shown")
    finally:
        root.handlers[:], root.level = saved
    [line] = stream.getvalue().splitlines()
    assert json.loads(line)["message"] == "shown"


async def test_access_lines_are_written_in_batches_and_a_warning_at_once() -> None:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    stream = io.StringIO()
    try:
        logs.configure("text", "info", stream)
        [handler] = root.handlers
        logs.access("a-1", "GET", "/healthz", 200, 0.25)
        logs.access("a-2", "POST", "/v1/messages", 202, 1.5)
        held = stream.getvalue()
        logging.getLogger("liaison.test").warning("not late")
        with_warning = stream.getvalue().splitlines()
        logs.access("a-3", "GET", "/healthz", 200, 0.25)

        async def written() -> bool:  # by the loop's timer, not by another record
            return len(stream.getvalue().splitlines()) == 4

        await eventually(written)
        after_a_while = stream.getvalue().splitlines()
        logs.access("a-4", "GET", "/healthz", 200, 0.25)
        logging.shutdown([weakref.ref(handler)])  # what every exit path runs
        at_exit = stream.getvalue().splitlines()
    finally:
        root.handlers[:], root.level = saved

    assert held == ""
    assert [line.split(" ", 3)[3] for line in with_warning] == [
        "liaison.access GET /healthz 200 0.2 ms request_id=a-1 method=GET route=/healthz"
        " status=200 duration_ms=0.25",
        "liaison.access POST /v1/messages 202 1.5 ms request_id=a-2 method=POST"
        " route=/v1/messages status=202 duration_ms=1.5",
        "liaison.test not late",
    ]
    assert len(after_a_while) == 4
    assert "request_id=a-3" in after_a_while[3]
    assert len(at_exit) == 5
    assert "request_id=a-4" in at_exit[4]


async def test_each_request_has_one_access_line_by_route_template(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    ins = new_ins(ADULT_BIRTH)
    with caplog.at_level(logging.INFO, logger=logs.ACCESS_LOGGER):
        response = await world.client.get(f"/v1/dossiers/{ins}", headers={REQUEST_ID_HEADER: "t-1"})

    assert response.status == 401
    assert response.headers[REQUEST_ID_HEADER] == "t-1"
    [record] = [r for r in caplog.records if r.name == logs.ACCESS_LOGGER]
    assert record.getMessage().startswith("GET /v1/dossiers/{ins} 401 ")
    fields = {name: getattr(record, name) for name in ("method", "route", "status", "request_id")}
    assert fields == {
        "method": "GET",
        "route": "/v1/dossiers/{ins}",
        "status": 401,
        "request_id": "t-1",
    }
    assert getattr(record, "duration_ms") >= 0  # noqa: B009
    assert ins not in caplog.text  # a path carries the patient's INS; a log line never does


async def test_a_request_id_that_is_not_a_short_safe_token_is_replaced(world: World) -> None:
    for given in ("two words", "x" * 200, "<script>"):
        response = await world.client.get("/healthz", headers={REQUEST_ID_HEADER: given})
        assert re.fullmatch(r"[0-9a-f]{16}", response.headers[REQUEST_ID_HEADER])
    fresh = [(await world.client.get("/healthz")).headers[REQUEST_ID_HEADER] for _ in range(2)]
    assert fresh[0] != fresh[1]


async def test_the_request_id_reaches_the_socket_upgrade(world: World) -> None:
    bob = await world.professional()
    headers = {**bob.headers, REQUEST_ID_HEADER: "ws-7"}
    async with world.client.ws_connect("/v1/stream", headers=headers) as ws:
        assert ws._response.headers[REQUEST_ID_HEADER] == "ws-7"


async def test_a_malformed_request_is_one_line_without_its_headers(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    quiet_malformed_requests()
    server = world.client.server
    reader, writer = await asyncio.open_connection(server.host, server.port)
    writer.write(
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer SECRET-TOKEN\x01\r\n\r\n"
    )
    with caplog.at_level(logging.DEBUG):
        await writer.drain()
        assert (await reader.read(12)).startswith(b"HTTP/1.0 400")
        writer.close()
        await writer.wait_closed()

    [record] = [r for r in caplog.records if r.name == "aiohttp.server"]
    assert record.levelname == "INFO"
    assert record.getMessage() == "malformed request refused with 400 (BadHttpMessage)"
    assert record.exc_info is None
    assert "SECRET-TOKEN" not in caplog.text


async def test_a_client_leaving_mid_write_ends_the_stream_quietly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def pump() -> tuple[int, bytes] | None:
        raise ConnectionResetError("Cannot write to closing transport")

    async def broken() -> tuple[int, bytes] | None:
        raise RuntimeError("a bug")

    assert await _closed_on_failure(pump()) is None
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    # A real failure is still reported, with its traceback, and closes with 1011.
    assert await _closed_on_failure(broken()) == (WSCloseCode.INTERNAL_ERROR, b"internal error")
    [record] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert record.exc_info is not None
