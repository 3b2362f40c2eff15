"""A TCP relay that cuts a connection once, for tests of what a client does when a
connection drops mid-request or mid-answer."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator


@contextlib.asynccontextmanager
async def cutting_proxy(target: str, cuts: dict[str, int]) -> AsyncIterator[str]:
    """A TCP relay to ``target`` that drops a connection once it has relayed ``cuts["up"]``
    bytes from client to server (or ``cuts["down"]`` back) on it, not one more, once: the count
    is then zeroed. A count set while a kept-alive connection is past it drops that connection
    before the next bytes that way (an answer lost whole)."""
    host, port = target.removeprefix("http://").rstrip("/").split(":")

    async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, way: str) -> None:
        relayed = 0
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                if cuts[way] and relayed + len(data) >= cuts[way]:
                    writer.write(data[: max(cuts[way] - relayed, 0)])
                    await writer.drain()
                    cuts[way] = 0
                    raise ConnectionResetError
                writer.write(data)
                await writer.drain()
                relayed += len(data)
        writer.close()

    async def relay(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection(host, int(port))
        up = asyncio.create_task(pump(client_r, server_w, "up"))
        down = asyncio.create_task(pump(server_r, client_w, "down"))
        await asyncio.wait([up, down], return_when=asyncio.FIRST_COMPLETED)
        for writer in (client_w, server_w):
            writer.close()
        for task in (up, down):
            task.cancel()

    proxy = await asyncio.start_server(relay, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{proxy.sockets[0].getsockname()[1]}"
    finally:
        proxy.close()
