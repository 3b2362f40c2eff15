"""Senders in child processes (``--client-procs N``), for when one bench process cannot keep
the server busy: each child owns a share of the professionals and the same load shape, and
reports its figures and its own CPU over the window back to the parent.

The parent keeps the receivers (the WebSockets), so end-to-end latency is still measured in one
place; timestamps are wall-clock nanoseconds, comparable across processes on one machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import queue
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.sharedctypes import SynchronizedArray
from typing import Any, Literal

import aiohttp

from messaging import crypto
from messaging.bench.attachments import attachment_file
from messaging.bench.procstat import own_cpu_seconds
from messaging.bench.workload import (
    Load,
    PlanData,
    Planner,
    SendStats,
    Window,
    baseline_sender,
    drive,
    liaison_sender,
)
from messaging.client import DeviceIdentity, LiaisonClient, SdkError

_READY_TIMEOUT = 60.0


@dataclass(frozen=True)
class SenderSpec:
    url: str
    target: Literal["liaison", "baseline"]
    identities: tuple[tuple[str, str, bytes, bytes], ...]
    """(principal, device, sign seed, box secret): plain values that pickle anywhere."""
    plan: PlanData
    load: Load
    box_keys: dict[str, dict[str, bytes]]
    dossier_key: bytes
    seed: int


def pack(identity: DeviceIdentity) -> tuple[str, str, bytes, bytes]:
    keys = identity.keys
    return identity.principal, identity.device_id, keys.sign.seed, keys.box.secret


def unpack(url: str, packed: tuple[str, str, bytes, bytes]) -> DeviceIdentity:
    principal, device, seed, secret = packed
    keys = crypto.DeviceKeys(crypto.SigningKey(seed), crypto.BoxKey(secret))
    return DeviceIdentity(url, principal, device, keys)


def connector(limit: int = 0) -> aiohttp.TCPConnector:
    # No pool limit: every WebSocket holds a connection, and sends must never queue for one.
    return aiohttp.TCPConnector(limit=limit, limit_per_host=0)


async def measure_cpu(window: Window, stats: SendStats, done: asyncio.Event) -> None:
    """This process's CPU from the window's start until the sends are done."""
    await asyncio.sleep(max(window.start_ns - time.time_ns(), 0) / 1e9)
    before = own_cpu_seconds()
    await done.wait()
    stats.client_cpu_s = own_cpu_seconds() - before


async def _child(
    spec: SenderSpec,
    ready: multiprocessing.Queue[Any],
    go: Any,
    window_ns: SynchronizedArray[int],
    counters: SynchronizedArray[int],
) -> SendStats:
    identities = [unpack(spec.url, packed) for packed in spec.identities]
    stats = SendStats()
    async with contextlib.AsyncExitStack() as stack:
        attachment = stack.enter_context(attachment_file(spec.load.attachment_size))
        session = await stack.enter_async_context(aiohttp.ClientSession(connector=connector()))
        clients = [LiaisonClient(spec.url, identity, session=session) for identity in identities]
        if spec.target == "liaison":
            await asyncio.gather(*(client.login() for client in clients))
            send = liaison_sender(clients, attachment)
        else:
            send = baseline_sender(session, spec.url, identities, spec.box_keys, spec.dossier_key)
        planner = Planner(spec.plan, [i.principal for i in identities], random.Random(spec.seed))  # noqa: S311
        ready.put("ready")
        await asyncio.to_thread(go.wait)
        window = Window(window_ns[0], window_ns[1])
        done = asyncio.Event()
        cpu = asyncio.create_task(measure_cpu(window, stats, done))

        async def report_progress() -> None:
            while True:
                counters[0], counters[1] = stats.started, stats.failed
                await asyncio.sleep(0.1)

        progress = asyncio.create_task(report_progress())
        try:
            await drive(spec.load, window, planner, send, stats)
        finally:
            done.set()
            await cpu
            progress.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await progress
    return stats


def sender_main(
    spec: SenderSpec,
    ready: multiprocessing.Queue[Any],
    go: Any,
    window_ns: SynchronizedArray[int],
    counters: SynchronizedArray[int],
    results: multiprocessing.Queue[Any],
) -> None:
    try:
        results.put(asyncio.run(_child(spec, ready, go, window_ns, counters)))
    except BaseException as exc:  # reported to the parent, which fails the run with it
        results.put(f"{type(exc).__name__}: {exc}")
        ready.put("failed")


class SenderPool:
    """The sender processes of one phase: start, release together, collect."""

    def __init__(self, specs: Sequence[SenderSpec]) -> None:
        context = multiprocessing.get_context("spawn")
        self._ready: multiprocessing.Queue[Any] = context.Queue()
        self._results: multiprocessing.Queue[Any] = context.Queue()
        self._go = context.Event()
        self._window = context.Array("q", 2, lock=False)
        self._counters = [context.Array("q", 2, lock=False) for _ in specs]
        self._processes = [
            context.Process(
                target=sender_main,
                args=(spec, self._ready, self._go, self._window, counters, self._results),
                name=f"liaison-bench-sender-{n}",
                daemon=True,
            )
            for n, (spec, counters) in enumerate(zip(specs, self._counters, strict=True))
        ]

    async def start(self) -> None:
        for process in self._processes:
            process.start()
        for _ in self._processes:
            try:
                status = await asyncio.to_thread(self._ready.get, True, _READY_TIMEOUT)
            except queue.Empty:
                raise SdkError("sender_process_failed", "a sender process did not start") from None
            if status != "ready":
                raise SdkError("sender_process_failed", await self._failure())

    def release(self, window: Window) -> None:
        self._window[0], self._window[1] = window.start_ns, window.end_ns
        self._go.set()

    def progress(self) -> tuple[int, int]:
        return (
            sum(c[0] for c in self._counters),
            sum(c[1] for c in self._counters),
        )

    async def collect(self, within: float) -> SendStats:
        total = SendStats()
        for _ in self._processes:
            try:
                result = await asyncio.to_thread(self._results.get, True, within)
            except queue.Empty:
                raise SdkError("sender_process_failed", "a sender process never reported") from None
            if isinstance(result, str):
                raise SdkError("sender_process_failed", result)
            total.merge(result)
        return total

    async def _failure(self) -> str:
        try:
            result = await asyncio.to_thread(self._results.get, True, 5.0)
        except queue.Empty:
            return "a sender process failed"
        return str(result)

    def close(self) -> None:
        for process in self._processes:
            process.join(5)
            if process.is_alive():
                process.terminate()
                process.join(5)
        for channel in (self._ready, self._results):
            channel.close()
            channel.join_thread()
