"""``--mode send``: the send path alone, Liaison against the bare baseline in one run.

Every envelope is built, encrypted and signed *before* the timed windows (``--envelopes`` of
them, drawn by ``--mix`` from the population), then the same request bodies are replayed, in a
closed loop of ``--concurrency``, at Liaison and then at the baseline
(``messaging.bench.baseline``: aiohttp, ``json.loads``, one Ed25519 verify, one ``XADD``). The
only client work left in the window is posting bytes, so the figures are the servers'. Liaison
accepts each id once: a phase ends early, and says so, if the envelopes run out.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from messaging.bench.baseline import BaselineServer
from messaging.bench.config import BenchConfig
from messaging.bench.deployment import Endpoint
from messaging.bench.load import HTTP_TIMEOUT, drop_baseline_keys, plan_of, populate, seed_of
from messaging.bench.meter import measure
from messaging.bench.population import Population, device_token
from messaging.bench.progress import enabled, progress
from messaging.bench.report import latency_ms, ratio, render_targets, table, target
from messaging.bench.senders import connector
from messaging.bench.workload import (
    PlanData,
    Planner,
    Window,
    make_body,
    signed_envelope,
    timed_message_id,
)

SEND_THROUGHPUT_RATIO_MIN = 1.0
SEND_CPU_RATIO_MAX = 1.0


@dataclass(frozen=True, slots=True)
class Request:
    device: str
    body: bytes


@dataclass(slots=True)
class Replayed:
    """One phase's sends: those started inside the window count."""

    accepted: int = 0
    failed: int = 0
    started: int = 0
    latency_ns: list[int] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    exhausted: bool = False


def build_requests(
    config: BenchConfig, population: Population, plan: PlanData, seed: int
) -> list[Request]:
    """Every envelope of the run, built and signed now (none of this is timed)."""
    pros = population.professionals
    planner = Planner(plan, [p.principal for p in pros], random.Random(seed))  # noqa: S311 (a workload draw)
    box_keys = population.box_keys()
    requests = []
    for _ in range(config.envelopes):
        index, chosen = planner.pick()
        sender = pros[index]
        t_ns = time.time_ns()
        body = make_body(t_ns, config.payload_size)
        envelope = signed_envelope(
            sender, chosen, body, timed_message_id(t_ns), box_keys, population.dossier_key
        )
        requests.append(Request(sender.device_id, json.dumps(envelope).encode()))
    return requests


async def replay(
    session: aiohttp.ClientSession,
    url: str,
    supply: Iterator[Request],
    tokens: dict[str, str],
    concurrency: int,
    window: Window,
) -> Replayed:
    """Post the supply's bodies, ``concurrency`` at a time, until the window ends."""
    endpoint = url.rstrip("/") + "/v1/messages"
    done = Replayed()

    async def worker() -> None:
        while True:
            started = time.time_ns()
            if started >= window.end_ns:
                return
            request = next(supply, None)
            if request is None:
                done.exhausted = True
                return
            headers = {
                "Authorization": f"Bearer {tokens[request.device]}",
                "Content-Type": "application/json",
            }
            counted = started in window
            done.started += 1
            try:
                async with session.post(endpoint, data=request.body, headers=headers) as answer:
                    await answer.read()
                    status = answer.status
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                status, reason = 0, type(exc).__name__
            else:
                reason = f"http_{status}"
            if not counted:
                continue
            if status == 202:
                done.accepted += 1
                done.latency_ns.append(time.time_ns() - started)
            else:
                done.failed += 1
                done.errors[reason] += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done


async def run_phase(
    config: BenchConfig,
    name: str,
    session: aiohttp.ClientSession,
    url: str,
    requests: Sequence[Request],
    tokens: dict[str, str],
    server_pid: int | None,
    redis: tuple[tuple[int, ...], tuple[int, ...], str | None, bool],
) -> dict[str, Any]:
    redis_pids, replica_pids, redis_url, cluster = redis
    supply = iter(requests)
    window = Window.after(config.warmup, config.window)
    finished = asyncio.Event()
    meter = asyncio.create_task(
        measure(window, finished, server_pid, (redis_pids, replica_pids), redis_url, cluster)
    )
    done = Replayed()

    def counts() -> tuple[int, int, int]:
        return done.started, 0, done.failed

    async with progress(name, config.warmup + config.window, counts, show=enabled(config.progress)):
        done = await replay(session, url, supply, tokens, config.concurrency, window)
        finished.set()
    window_s, cpu, calls = await meter
    if cpu["machine"] is not None:
        ours = sum(cpu[k] or 0.0 for k in ("client", "server", "redis"))
        cpu["other_processes"] = max(cpu["machine"] - ours, 0.0)
    accepted = done.accepted

    def per_request_us(seconds: float | None) -> float | None:
        return None if seconds is None or not accepted else round(seconds / accepted * 1e6, 1)

    return {
        "window_s": round(window_s, 3),
        "concurrency": config.concurrency,
        "accepted": accepted,
        "accepted_per_s": round(accepted / window_s, 1) if window_s > 0 else 0.0,
        "failed": done.failed,
        "errors": dict(done.errors),
        "envelopes_ran_out": done.exhausted,
        "accept_latency_ms": latency_ms(done.latency_ns),
        "cpu_s": {k: None if v is None else round(v, 3) for k, v in cpu.items()},
        "cpu_us_per_request": {k: per_request_us(v) for k, v in cpu.items()},
        "redis_calls_per_request": {
            command: round(count / accepted, 2)
            for command, count in sorted(calls.items(), key=lambda item: -item[1])
            if accepted and count > 0
        },
    }


async def run_send(
    config: BenchConfig,
    endpoint: Endpoint,
    workdir: Path,
    baseline_redis: tuple[str, int | None],
) -> dict[str, Any]:
    async with aiohttp.ClientSession(connector=connector(), timeout=HTTP_TIMEOUT) as session:
        population = await populate(config, endpoint, session)
        pros = population.professionals
        tokens = dict(
            zip(
                (p.device_id for p in pros),
                await asyncio.gather(*(device_token(session, endpoint.url, p) for p in pros)),
                strict=True,
            )
        )
        plan = plan_of(config, population)
        seed = seed_of(config)
        began = time.monotonic()
        requests = await asyncio.to_thread(build_requests, config, population, plan, seed)
        built_s = time.monotonic() - began
        phases = {
            "liaison": await run_phase(
                config,
                "send liaison",
                session,
                endpoint.url,
                requests,
                tokens,
                endpoint.server_pid,
                (
                    endpoint.redis_pids,
                    endpoint.replica_pids,
                    endpoint.redis_url,
                    endpoint.redis_cluster,
                ),
            )
        }
        redis_url, redis_pid = baseline_redis
        server = await asyncio.to_thread(
            BaselineServer, redis_url, population.sign_keys(), workdir, config.workers
        )
        try:
            phases["baseline"] = await run_phase(
                config,
                "send baseline",
                session,
                server.url,
                requests,
                tokens,
                server.pid,
                (() if redis_pid is None else (redis_pid,), (), redis_url, False),
            )
        finally:
            await asyncio.to_thread(server.stop)
            await drop_baseline_keys(redis_url)
    return send_report(phases, len(requests), built_s)


def send_report(phases: dict[str, dict[str, Any]], built: int, built_s: float) -> dict[str, Any]:
    liaison, base = phases["liaison"], phases["baseline"]
    throughput = ratio(liaison["accepted_per_s"], base["accepted_per_s"])
    cpu = ratio(liaison["cpu_us_per_request"]["server"], base["cpu_us_per_request"]["server"])
    return {
        "envelopes": {"built": built, "build_s": round(built_s, 2)},
        "phases": phases,
        "send_throughput_ratio": throughput,
        "send_server_cpu_per_request_ratio": cpu,
        "targets": [
            target(
                "send_throughput_ratio (liaison / baseline)",
                throughput,
                SEND_THROUGHPUT_RATIO_MIN,
                at_least=True,
            ),
            target(
                "send_server_cpu_per_request_ratio (liaison / baseline)",
                cpu,
                SEND_CPU_RATIO_MAX,
                at_least=False,
            ),
        ],
    }


_ROWS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("accepted/s", ("accepted_per_s",)),
    ("accepted", ("accepted",)),
    ("failed", ("failed",)),
    ("accept latency p50 ms", ("accept_latency_ms", "p50")),
    ("accept latency p99 ms", ("accept_latency_ms", "p99")),
    ("server CPU µs/request", ("cpu_us_per_request", "server")),
    ("redis CPU µs/request", ("cpu_us_per_request", "redis")),
    ("client CPU µs/request", ("cpu_us_per_request", "client")),
    ("other processes CPU s", ("cpu_s", "other_processes")),
)


def render_send(report: dict[str, Any]) -> str:
    phases = report["phases"]
    rows = []
    for label, path in _ROWS:
        values = []
        for name in ("liaison", "baseline"):
            value: Any = phases[name]
            for key in path:
                value = value.get(key) if isinstance(value, dict) else None
            values.append(value)
        numeric = all(isinstance(v, int | float) for v in values)
        rows.append([label, *values, ratio(*values) if numeric and "/" in label else None])
    notes = [
        f"{name}: envelopes ran out before the window's end"
        for name in ("liaison", "baseline")
        if phases[name]["envelopes_ran_out"]
    ]
    calls = ", ".join(
        f"{command} {count}"
        for command, count in itertools.islice(
            phases["liaison"]["redis_calls_per_request"].items(), 6
        )
    )
    return "\n".join(
        [
            table(["", "liaison", "baseline", "ratio"], rows),
            "",
            f"Redis commands per request (liaison, scripts' own included): {calls or '-'}",
            *notes,
            render_targets(report["targets"]),
        ]
    )
