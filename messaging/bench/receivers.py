"""The receiving side of the load: one WebSocket per device, every event timed and acked."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence

from messaging.bench.workload import ReceiveStats, Window, body_timestamp
from messaging.client import (
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

    def begin(self, window: Window) -> ReceiveStats:
        """Count from now on for ``window``, in fresh figures."""
        self.window = window
        self.stats = ReceiveStats()
        self._expected = None
        self._arrived.clear()
        return self.stats

    async def start(self, within: float = 30.0) -> None:
        self._tasks = [
            asyncio.create_task(self._consume(client, ready))
            for client, ready in zip(self._clients, self._ready, strict=True)
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

    async def drain(self, expected: int, within: float) -> None:
        """Wait for the window's deliveries to arrive, at most ``within`` seconds."""
        self._expected = expected
        if self.stats.delivered >= expected:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._arrived.wait(), within)

    async def _consume(self, client: LiaisonClient, ready: asyncio.Event) -> None:
        try:
            async for item in client.stream():
                if isinstance(item, BacklogDrained):
                    ready.set()
                    continue
                stats = self.stats
                if isinstance(item, ReceivedMessage):
                    received = time.time_ns()
                    stats.delivered_total += 1
                    sent = body_timestamp(item.body)
                    window = self.window
                    if sent is not None and window is not None and sent in window:
                        stats.delivered += 1
                        stats.latency_ns.append(received - sent)
                        if self._expected is not None and stats.delivered >= self._expected:
                            self._arrived.set()
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
