"""The receiving side of the load: one WebSocket per device, every event timed and acked.

``Receivers`` read through the SDK (decrypt, verify, ack: what ``liaison watch`` does, and
download and check the blobs a message names, as ``--save-attachments`` does);
``AckOnlyReceivers`` read the frames and ack them, with no client crypto, so that the bench's
own CPU weighs less on a machine it shares with the server (``--receivers ack-only``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import aiohttp

from messaging.bench.attachments import fetch_blobs
from messaging.bench.workload import ReceiveStats, Window, body_timestamp, id_timestamp
from messaging.client import (
    ACK_BATCH,
    BacklogDrained,
    LiaisonClient,
    ReceivedMessage,
    ReceivedNotification,
    ReceivedReceipt,
    SdkError,
)


class Receivers:
    """One WebSocket per device through the SDK's ``stream()``; every event is acked."""

    def __init__(self, clients: Sequence[LiaisonClient]) -> None:
        self._clients = list(clients)
        self._tasks: list[asyncio.Task[None]] = []
        self._ready = [asyncio.Event() for _ in self._clients]
        self.window: Window | None = None
        self.stats = ReceiveStats()
        self._expected: int | None = None
        self._arrived = asyncio.Event()
        self._scratch = tempfile.TemporaryDirectory(prefix="liaison-bench-blobs-")

    def _in_window(self, sent_ns: int | None) -> bool:
        return sent_ns is not None and self.window is not None and sent_ns in self.window

    def _delivered(self, sent_ns: int | None, received_ns: int) -> None:
        """Count one message; its latency when it was sent inside the window."""
        stats = self.stats
        stats.delivered_total += 1
        if sent_ns is not None and self._in_window(sent_ns):
            stats.delivered += 1
            stats.latency_ns.append(received_ns - sent_ns)
            if self._expected is not None and stats.delivered >= self._expected:
                self._arrived.set()

    def begin(self, window: Window) -> ReceiveStats:
        """Count from now on for ``window``, in fresh figures."""
        self.window = window
        self.stats = ReceiveStats()
        self._expected = None
        self._arrived.clear()
        return self.stats

    async def start(self, within: float = 30.0) -> None:
        self._tasks = [
            asyncio.create_task(self._consume(n, ready)) for n, ready in enumerate(self._ready)
        ]
        waiting = [asyncio.create_task(ready.wait()) for ready in self._ready]
        _, pending = await asyncio.wait(waiting, timeout=within)
        for task in pending:
            task.cancel()
        if pending:
            raise SdkError("stream_not_ready", f"{len(pending)} receivers had no backlog marker")

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        self._scratch.cleanup()

    async def drain(self, expected: int, within: float) -> None:
        """Wait for the window's deliveries to arrive, at most ``within`` seconds."""
        self._expected = expected
        if self.stats.delivered >= expected:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._arrived.wait(), within)

    async def _consume(self, n: int, ready: asyncio.Event) -> None:
        client = self._clients[n]
        try:
            async for item in client.stream():
                if isinstance(item, BacklogDrained):
                    ready.set()
                    continue
                stats = self.stats
                if isinstance(item, ReceivedMessage):
                    sent_ns, received_ns = body_timestamp(item.body), time.time_ns()
                    if item.blobs:  # before it counts: ``drain`` then waits for the downloads
                        await self._fetch(client, item, self._in_window(sent_ns))
                    self._delivered(sent_ns, received_ns)
                elif isinstance(item, ReceivedReceipt):
                    stats.receipts += 1
                elif isinstance(item, ReceivedNotification):
                    stats.notifications[item.event] += 1
                else:
                    stats.errors[item.code] += 1  # an InvalidEvent: discarded once counted
                # Acked one by one, as ``liaison watch`` does: that cost is part of delivery.
                if item.cursor is not None:
                    await client.ack([item.cursor])
        except SdkError as exc:
            self.stats.errors[exc.code] += 1

    async def _fetch(self, client: LiaisonClient, message: ReceivedMessage, counted: bool) -> None:
        """Download and check the message's blobs before its ack, counted when it was sent in
        the window; a refused blob is an error of the run, not the end of this receiver."""
        stats = self.stats
        try:
            took_ns = await fetch_blobs(client, message, Path(self._scratch.name))
        except SdkError as exc:
            stats.errors[exc.code] += 1
            return
        if counted:
            stats.downloads += len(message.blobs)
            stats.download_bytes += sum(blob.blob.size for blob in message.blobs)
            stats.download_ns += took_ns


class AckOnlyReceivers(Receivers):
    """One raw WebSocket per device: each frame is parsed and its event acked, nothing is
    decrypted or verified. The body's timestamp being encrypted, the send time comes from the
    message id, which the bench's senders make to carry the same instant
    (``timed_message_id``). Acks of one loop turn share a frame, as the SDK's do."""

    def __init__(self, url: str, session: aiohttp.ClientSession, tokens: Sequence[str]) -> None:
        super().__init__([])
        self._url = url.rstrip("/") + "/v1/stream"
        self._session = session
        self._tokens = list(tokens)
        self._ready = [asyncio.Event() for _ in self._tokens]

    async def _consume(self, n: int, ready: asyncio.Event) -> None:
        headers = {"Authorization": f"Bearer {self._tokens[n]}"}
        pending: list[str] = []
        flushing: asyncio.Task[None] | None = None

        async def flush(ws: aiohttp.ClientWebSocketResponse) -> None:
            nonlocal flushing
            while pending and not ws.closed:
                chunk = pending[:ACK_BATCH]
                del pending[:ACK_BATCH]
                await ws.send_str(json.dumps({"type": "ack", "cursors": chunk}))
            flushing = None

        try:
            async with self._session.ws_connect(self._url, headers=headers) as ws:
                async for frame in ws:
                    if frame.type != aiohttp.WSMsgType.TEXT:
                        break
                    event = json.loads(frame.data)
                    kind = event.get("type")
                    if kind == "queue_empty":
                        ready.set()
                        continue
                    if kind == "message":
                        sent_ns = id_timestamp(str(event["envelope"].get("id")))
                        self._delivered(sent_ns, time.time_ns())
                    elif kind == "receipt":
                        self.stats.receipts += 1
                    elif kind == "notification":
                        self.stats.notifications[event["notification"]["event"]] += 1
                    else:
                        self.stats.errors[str(kind)] += 1
                        continue
                    pending.append(event["cursor"])
                    if flushing is None:
                        flushing = asyncio.create_task(flush(ws))
        except (aiohttp.ClientError, OSError) as exc:
            self.stats.errors[type(exc).__name__] += 1
