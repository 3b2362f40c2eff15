"""``--mode queue-depth``: whether enqueue and ack cost the same at any queue length.

Fill one device's queue to depth D through the real API (signed sends from a second device),
then time a batch of sends and of acks at that depth, for each depth, in alternating rounds.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from redis.asyncio import Redis

from messaging import redis_keys
from messaging.bench.config import BenchConfig
from messaging.bench.deployment import Endpoint
from messaging.bench.modes import (
    HTTP_TIMEOUT,
    enroll_many,
    note,
)
from messaging.bench.population import (
    call,
    device_token,
    run_number,
)
from messaging.bench.report import (
    DEPTH_RATIO_MAX,
    ratio,
    render_targets,
    table,
    target,
)
from messaging.bench.senders import connector
from messaging.bench.workload import SUBJECT, make_body
from messaging.client import AdminClient, LiaisonClient, SdkError

QUEUE_ROUNDS = 10
"""Timed rounds per depth, alternating the depths."""


async def _command_stats(redis_url: str | None) -> dict[str, tuple[int, int]]:
    if redis_url is None:
        return {}
    redis = Redis.from_url(redis_url)
    try:
        info = await redis.info("commandstats")
    finally:
        await redis.aclose()
    return {
        name.removeprefix("cmdstat_"): (int(value["calls"]), int(value["usec"]))
        for name, value in info.items()
        if isinstance(value, dict)
    }


async def _timed(
    count: int, operation: Callable[[int], Awaitable[None]]
) -> tuple[list[float], Counter[str]]:
    """Run ``operation`` ``count`` times one after another; per-call wall times in ms."""
    times: list[float] = []
    errors: Counter[str] = Counter()
    for n in range(count):
        begin = time.perf_counter()
        try:
            await operation(n)
        except SdkError as exc:
            errors[exc.code] += 1
            continue
        times.append((time.perf_counter() - begin) * 1000)
    return times, errors


async def _fill(
    sender: LiaisonClient, recipient: str, count: int, config: BenchConfig
) -> Counter[str]:
    errors: Counter[str] = Counter()
    remaining = iter(range(count))

    async def worker() -> None:
        for _ in remaining:
            try:
                body = make_body(time.time_ns(), config.payload_size)
                await sender.send([recipient], SUBJECT, body)
            except SdkError as exc:
                errors[exc.code] += 1

    await asyncio.gather(*(worker() for _ in range(config.concurrency)))
    return errors


async def _end_cursor(session: aiohttp.ClientSession, url: str, token: str) -> str | None:
    """Page through the whole queue (without acking) to the cursor after its last event."""
    after: str | None = None
    while True:
        params = {"limit": "500"} if after is None else {"limit": "500", "after": after}
        page = await call(session, "GET", f"{url}/v1/messages", token, params=params)
        if not page["events"]:
            return after
        after = page["next"]


def _summary(times: list[float]) -> dict[str, float | int | None]:
    if not times:
        return {"count": 0, "mean_ms": None, "p50_ms": None, "p99_ms": None}
    ordered = sorted(times)
    return {
        "count": len(ordered),
        "mean_ms": round(statistics.fmean(ordered), 4),
        "p50_ms": round(statistics.median(ordered), 4),
        "p99_ms": round(ordered[min(int(len(ordered) * 0.99), len(ordered) - 1)], 4),
    }


@dataclass
class DepthProbe:
    """One queue kept at ``depth`` events, and what its timed sends and acks took."""

    depth: int
    sender: LiaisonClient
    recipient: LiaisonClient
    end: str | None = None
    """Cursor after the filled events: the timed batches are read from there."""
    fill_s: float = 0.0
    fill_errors: Counter[str] = field(default_factory=Counter)
    send_ms: list[float] = field(default_factory=list)
    ack_ms: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    evalsha: dict[str, list[tuple[int, int]]] = field(
        default_factory=lambda: {"send": [], "ack": []}
    )
    lengths: list[int] = field(default_factory=list)


async def _wait_for_aof_rewrite(redis_url: str | None) -> None:
    """A big fill triggers an AOF rewrite (a fork and a burst of disk writes); timing during it
    would charge the deep queue for it."""
    if redis_url is None:
        return
    redis = Redis.from_url(redis_url)
    try:
        for _ in range(600):
            info = await redis.info("persistence")
            if not info.get("aof_rewrite_in_progress") and not info.get("aof_rewrite_scheduled"):
                return
            await asyncio.sleep(0.5)
    finally:
        await redis.aclose()


async def _round(config: BenchConfig, endpoint: Endpoint, probe: DepthProbe, count: int) -> None:
    """``count`` timed sends into the probe's queue, then ``count`` timed acks of them: the
    queue is back at its depth afterwards."""
    target_principal = probe.recipient.identity.principal
    stats0 = await _command_stats(endpoint.redis_url)

    async def send(_n: int) -> None:
        body = make_body(time.time_ns(), config.payload_size)
        await probe.sender.send([target_principal], SUBJECT, body)

    times, errors = await _timed(count, send)
    probe.send_ms += times
    probe.errors.update(errors)
    stats1 = await _command_stats(endpoint.redis_url)
    cursors: list[str] = []
    after = probe.end
    while len(cursors) < len(times):
        fetched = await probe.recipient.fetch(after=after, limit=500)
        if not fetched.events:
            break
        cursors += [e.cursor for e in fetched.events if e.cursor is not None]
        after = fetched.next

    async def ack(n: int) -> None:
        await probe.recipient.ack([cursors[n]])

    times, errors = await _timed(len(cursors), ack)
    probe.ack_ms += times
    probe.errors.update(errors)
    stats2 = await _command_stats(endpoint.redis_url)
    for phase, (first, last) in (("send", (stats0, stats1)), ("ack", (stats1, stats2))):
        calls = last.get("evalsha", (0, 0))[0] - first.get("evalsha", (0, 0))[0]
        usec = last.get("evalsha", (0, 0))[1] - first.get("evalsha", (0, 0))[1]
        probe.evalsha[phase].append((calls, usec))


def _probe_figures(probe: DepthProbe) -> dict[str, Any]:
    send, ack = _summary(probe.send_ms), _summary(probe.ack_ms)
    per_message = None
    if send["mean_ms"] is not None and ack["mean_ms"] is not None:
        per_message = round(float(send["mean_ms"]) + float(ack["mean_ms"]), 4)

    def usec_per_call(phase: str) -> float | None:
        calls = sum(c for c, _ in probe.evalsha[phase])
        return round(sum(u for _, u in probe.evalsha[phase]) / calls, 2) if calls else None

    return {
        "depth": probe.depth,
        "queue_length_measured": probe.lengths,
        "fill_s": round(probe.fill_s, 2),
        "fill_errors": dict(probe.fill_errors),
        "send": send,
        "ack": ack,
        "errors": dict(probe.errors),
        "per_message_ms": per_message,
        "redis_usec_per_evalsha_during_sends": usec_per_call("send"),
        "redis_usec_per_evalsha_during_acks": usec_per_call("ack"),
    }


async def run_queue_depth(config: BenchConfig, endpoint: Endpoint) -> dict[str, Any]:
    url = endpoint.url
    rounds = min(QUEUE_ROUNDS, config.batch)
    async with aiohttp.ClientSession(connector=connector(), timeout=HTTP_TIMEOUT) as session:
        admin = AdminClient(url, endpoint.admin_token, session=session)
        run = run_number()
        probes: list[DepthProbe] = []
        for n, depth in enumerate(sorted(set(config.depths))):
            # A pair of devices per depth: each queue holds only its own depth's events.
            sender, recipient = (
                LiaisonClient(url, device, session=session)
                for device in await enroll_many(admin, session, url, run, 2, first=2 * n)
            )
            probe = DepthProbe(depth, sender, recipient)
            note(config, f"filling a queue to {depth:,} events")
            begin = time.monotonic()
            probe.fill_errors = await _fill(sender, recipient.identity.principal, depth, config)
            probe.fill_s = time.monotonic() - begin
            token = await device_token(session, url, recipient.identity)
            probe.end = await _end_cursor(session, url, token)
            probes.append(probe)
        await _wait_for_aof_rewrite(endpoint.redis_url)
        redis = None if endpoint.redis_url is None else Redis.from_url(endpoint.redis_url)
        try:
            # Rounds alternate the depths (and their order), so that drift over time (other
            # work on the machine, Redis housekeeping) weighs on every depth alike.
            for r in range(rounds):
                note(config, f"timing round {r + 1}/{rounds}")
                for probe in probes if r % 2 == 0 else reversed(probes):
                    if redis is not None:
                        key = redis_keys.queue(probe.recipient.identity.device_id)
                        probe.lengths.append(int(await redis.xlen(key)))
                    share = config.batch // rounds + (1 if r < config.batch % rounds else 0)
                    await _round(config, endpoint, probe, share)
        finally:
            if redis is not None:
                await redis.aclose()
    results = [_probe_figures(probe) for probe in probes]
    shallow, deep = results[0], results[-1]
    depth_ratio = ratio(deep["per_message_ms"], shallow["per_message_ms"])
    p50_ratio = None
    with contextlib.suppress(TypeError):
        p50_ratio = ratio(
            deep["send"]["p50_ms"] + deep["ack"]["p50_ms"],
            shallow["send"]["p50_ms"] + shallow["ack"]["p50_ms"],
        )
    targets = [
        target(
            f"per-message send+ack time, depth {deep['depth']:,} / depth {shallow['depth']:,}",
            depth_ratio,
            DEPTH_RATIO_MAX,
            at_least=False,
        )
    ]
    return {
        "queue_depth": {
            "rounds": rounds,
            "depths": results,
            "ratio": depth_ratio,
            "ratio_p50": p50_ratio,
        },
        "targets": targets,
    }


def render_queue_depth(report: dict[str, Any]) -> str:
    results = report["queue_depth"]["depths"]
    header = ["", *(f"depth {r['depth']:,}" for r in results)]
    rows: list[list[Any]] = [
        ["queue length (min)", *(min(r["queue_length_measured"] or [0]) for r in results)],
        ["send mean ms", *(r["send"]["mean_ms"] for r in results)],
        ["send p50 ms", *(r["send"]["p50_ms"] for r in results)],
        ["ack mean ms", *(r["ack"]["mean_ms"] for r in results)],
        ["ack p50 ms", *(r["ack"]["p50_ms"] for r in results)],
        ["send+ack ms/message", *(r["per_message_ms"] for r in results)],
        ["redis us/evalsha (sends)", *(r["redis_usec_per_evalsha_during_sends"] for r in results)],
        ["redis us/evalsha (acks)", *(r["redis_usec_per_evalsha_during_acks"] for r in results)],
        ["errors", *(r["errors"] for r in results)],
    ]
    depth = report["queue_depth"]
    return "\n".join(
        [
            table(header, rows),
            "",
            f"ratio deepest/shallowest: mean {depth['ratio']}, p50 {depth['ratio_p50']}",
            render_targets(report["targets"]),
        ]
    )
