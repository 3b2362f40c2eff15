"""Slow clients are cut off (issue 10): a connection that has not sent a whole request's headers
within ``LIAISON_HEADER_TIMEOUT_SECONDS`` is closed, and a body that has not arrived within
``LIAISON_BODY_TIMEOUT_SECONDS`` gets 408 ``request_timeout`` and the connection closes (after
the server's two seconds of lingering read).

Measured before: 1,500 sockets holding half-sent headers, and a body sent at 1 byte/s, stayed
open indefinitely.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from tests.conftest import ADMIN_TOKEN
from tests.processes import ServerProcess

TIMEOUT = 1.0


async def _read_until_closed(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sends until it closes the connection (or 10 s: a failure).

    Read as it comes: a server that closes a socket holding bytes it has not read (a trickling
    client's) resets it, and a reset ends a stream read with an error, even over what it had
    received already."""
    received = b""
    async with asyncio.timeout(10):
        while True:
            try:
                chunk = await reader.read(64 * 1024)
            except ConnectionResetError:
                return received
            if not chunk:
                return received
            received += chunk


async def test_half_sent_headers_and_a_trickled_body_are_cut_off(
    redis_url: str, tmp_path: Path
) -> None:
    env = {
        "LIAISON_HEADER_TIMEOUT_SECONDS": str(TIMEOUT),
        "LIAISON_BODY_TIMEOUT_SECONDS": str(TIMEOUT),
    }
    with ServerProcess(redis_url, tmp_path / "server", ADMIN_TOKEN, env=env) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        started = time.monotonic()
        writer.write(b"POST /v1/auth/challenge HTTP/1.1\r\nHost: liaison\r\n")
        await writer.drain()
        assert await _read_until_closed(reader) == b""
        assert TIMEOUT * 0.9 <= time.monotonic() - started < TIMEOUT + 5
        writer.close()

        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        body = json.dumps({"device": "dev_" + "a" * 26}).encode()
        writer.write(
            b"POST /v1/auth/challenge HTTP/1.1\r\nHost: liaison\r\n"
            b"Content-Type: application/json\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body[:1]
        )
        await writer.drain()
        started = time.monotonic()

        async def trickle() -> None:
            for byte in body[1:]:
                await asyncio.sleep(0.5)
                writer.write(bytes([byte]))

        dripping = asyncio.create_task(trickle())
        answer = await _read_until_closed(reader)
        dripping.cancel()
        assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
        assert b'"code": "request_timeout"' in answer
        assert time.monotonic() - started < TIMEOUT + 2 + 5
        writer.close()
