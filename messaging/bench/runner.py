"""``run_bench(config)``: the one entry point of the bench (the CLI and the tests call it).

The load mode runs up to three phases against one population and one set of receivers:
``liaison`` (the workload as configured), ``baseline`` (the same generator against the bare
stack, ``--baseline``) and ``half_peak`` (open loop at half the rate Liaison reached,
``--half-peak``). Each phase has its own warm-up and measured window; CPU is sampled at the
window's start and when its last send has returned.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import random
import secrets
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import aiohttp
from redis.asyncio import Redis

from messaging import redis_keys
from messaging.bench import queue_depth, redis_nodes, sockets
from messaging.bench.baseline import BaselineServer
from messaging.bench.config import BenchConfig
from messaging.bench.deployment import Endpoint, deployment, private_redis, scratch_dir
from messaging.bench.histogram import write_histogram
from messaging.bench.population import Population, create_population
from messaging.bench.procstat import (
    TreeSample,
    machine_busy_seconds,
    own_cpu_seconds,
    raise_open_files_limit,
)
from messaging.bench.progress import enabled, progress
from messaging.bench.receivers import Receivers
from messaging.bench.report import load_report, phase_figures, utc_now, versions, write_json
from messaging.bench.senders import SenderPool, SenderSpec, connector, pack
from messaging.bench.workload import (
    Load,
    PlanData,
    Planner,
    SendOne,
    SendStats,
    Window,
    baseline_sender,
    drive,
    liaison_sender,
)
from messaging.client import LiaisonClient

Target = Literal["liaison", "baseline"]
# Same read timeout as the SDK's own sessions: a stuck server fails a send, not the run.
HTTP_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=75)


def run_bench(config: BenchConfig) -> dict[str, Any]:
    """Run the configured mode and return its report (also written to ``--json-out``)."""
    started = utc_now()
    nofile = raise_open_files_limit() if config.mode == "sockets" else None
    quota = None
    if config.mode == "queue-depth":
        # The deepest queue plus the timed batch must fit under the per-device quota.
        quota = max(config.depths) + 2 * config.batch + 1000
    with contextlib.ExitStack() as stack:
        endpoint = stack.enter_context(deployment(config, queue_quota=quota))
        workdir = stack.enter_context(scratch_dir("liaison-bench-work-"))
        if config.mode == "load":
            baseline_redis: tuple[str, int | None] | None = None
            if config.baseline:
                # The baseline writes with a plain client: on a cluster it gets its own Redis.
                baseline_redis = (
                    (endpoint.redis_url, next(iter(endpoint.redis_pids), None))
                    if endpoint.redis_url is not None and not endpoint.redis_cluster
                    else stack.enter_context(private_redis(workdir / "redis", config.appendfsync))
                )
            body = asyncio.run(run_load(config, endpoint, workdir, baseline_redis))
        elif config.mode == "sockets":
            body = asyncio.run(sockets.run_sockets(config, endpoint))
            body["open_files_limit"] = list(nofile) if nofile else None
        else:
            body = asyncio.run(queue_depth.run_queue_depth(config, endpoint))
        redis_version = None
        if endpoint.redis_url is not None:
            redis_version = redis_nodes.version(endpoint.redis_url, cluster=endpoint.redis_cluster)
        server_version = _server_version(endpoint.url)
    report: dict[str, Any] = {
        "mode": config.mode,
        "started_at": started,
        "finished_at": utc_now(),
        "config": config.as_dict(),
        "deployment": {
            "url": endpoint.url,
            "self_started": endpoint.self_started,
            "workers": config.workers if endpoint.self_started else None,
            "server_pid": endpoint.server_pid,
            "redis_pids": list(endpoint.redis_pids),
            "redis_cluster": endpoint.redis_cluster,
        },
        "versions": versions(redis_version, server_version),
        **body,
    }
    if config.json_out is not None:
        write_json(report, config.json_out)
    return report


def _server_version(url: str) -> str | None:
    with (
        contextlib.suppress(OSError, ValueError, KeyError),
        urllib.request.urlopen(url + "/v1/server", timeout=5) as answer,  # noqa: S310
    ):
        return str(json.loads(answer.read())["version"])
    return None


# --- load mode --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Stage:
    """Everything a phase needs that outlives it."""

    config: BenchConfig
    endpoint: Endpoint
    population: Population
    plan: PlanData
    session: aiohttp.ClientSession
    clients: Sequence[LiaisonClient]
    receivers: Receivers


async def run_load(
    config: BenchConfig,
    endpoint: Endpoint,
    workdir: Path,
    baseline_redis: tuple[str, int | None] | None,
) -> dict[str, Any]:
    async with aiohttp.ClientSession(connector=connector(), timeout=HTTP_TIMEOUT) as session:
        weights = config.weights()
        population = await create_population(
            session,
            endpoint.url,
            endpoint.admin_token,
            professionals=config.professionals,
            org_size=config.org_size,
            patients=config.patients,
            with_dossiers=weights.get("dossier", 0) > 0,
        )
        clients = [
            LiaisonClient(endpoint.url, device, session=session) for device in population.devices()
        ]
        await asyncio.gather(*(client.login() for client in clients))
        receivers = Receivers(clients)
        await receivers.start()
        plan = PlanData(
            professionals=tuple(p.principal for p in population.professionals),
            org=population.org,
            org_members=population.org_members,
            patients=tuple(p.ins for p in population.patients),
            weights=config.mix,
        )
        stage = Stage(config, endpoint, population, plan, session, clients, receivers)
        seed = config.seed if config.seed is not None else secrets.randbelow(2**31)
        phases: dict[str, dict[str, Any] | None] = {"baseline": None, "half_peak": None}
        latencies: list[int] = []
        try:
            phases["liaison"], latencies = await run_phase(
                stage, "liaison", "liaison", config.rate, seed
            )
            if baseline_redis is not None:
                phases["baseline"] = await _baseline_phase(stage, workdir, baseline_redis, seed)
            if config.half_peak:
                half = (phases["liaison"] or {}).get("accepted_per_s", 0.0) / 2
                if half > 0:
                    phases["half_peak"], _ = await run_phase(
                        stage, "half_peak", "liaison", half, seed + 2
                    )
        finally:
            await receivers.stop()
    if config.histogram_png is not None:
        write_histogram(latencies, config.histogram_png)
    return load_report(config, population, phases)


async def _baseline_phase(
    stage: Stage, workdir: Path, redis: tuple[str, int | None], seed: int
) -> dict[str, Any]:
    redis_url, redis_pid = redis
    redis_pids = () if redis_pid is None else (redis_pid,)
    sign_keys = stage.population.sign_keys()
    config = stage.config
    server = await asyncio.to_thread(BaselineServer, redis_url, sign_keys, workdir, config.workers)
    try:
        figures, _ = await run_phase(
            stage,
            "baseline",
            "baseline",
            config.rate,
            seed + 1,
            server.url,
            server.pid,
            redis_pids,
            redis_url,
        )
    finally:
        await asyncio.to_thread(server.stop)
        await _drop_baseline_keys(redis_url)
    return figures


async def _drop_baseline_keys(redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    try:
        async for key in redis.scan_iter(match=f"{redis_keys.BASELINE_PREFIX}*", count=1000):
            await redis.delete(key)
    finally:
        await redis.aclose()


def _split(total: int, parts: int) -> int:
    return max(math.ceil(total / parts), 1)


async def run_phase(
    stage: Stage,
    name: str,
    target: Target,
    rate: float | None,
    seed: int,
    url: str | None = None,
    server_pid: int | None = None,
    redis_pids: tuple[int, ...] = (),
    redis_url_of_baseline: str | None = None,
) -> tuple[dict[str, Any], list[int]]:
    config, population = stage.config, stage.population
    if target == "liaison":
        endpoint = stage.endpoint
        url, server_pid, redis_pids = endpoint.url, endpoint.server_pid, endpoint.redis_pids
    assert url is not None
    procs = config.client_procs
    load = Load(
        payload_size=config.payload_size,
        concurrency=_split(config.concurrency, procs),
        rate=None if rate is None else rate / procs,
        max_inflight=_split(config.max_inflight, procs),
        quota=None if config.messages is None else _split(config.messages, procs),
        grace=config.drain_timeout,
    )
    loop: dict[str, Any] = {"loop": "closed" if rate is None else "open", "client_procs": procs}
    loop.update({"concurrency": config.concurrency} if rate is None else {"rate": round(rate, 1)})
    pros = population.professionals
    box_keys = population.box_keys()
    sent = SendStats()
    pool: SenderPool | None = None
    if procs > 1:
        specs = [
            SenderSpec(
                url,
                target,
                tuple(pack(identity) for identity in pros[k::procs]),
                stage.plan,
                load,
                box_keys,
                population.dossier_key,
                seed * 100 + k,
            )
            for k in range(procs)
        ]
        pool = SenderPool(specs)
        await pool.start()
    try:
        window = Window.after(config.warmup, config.window)
        received = stage.receivers.begin(window) if target == "liaison" else None
        finished = asyncio.Event()
        replica_pids: tuple[int, ...] = ()
        if target == "liaison":
            redis_url, cluster = stage.endpoint.redis_url, stage.endpoint.redis_cluster
            replica_pids = stage.endpoint.replica_pids
        else:
            redis_url, cluster = redis_url_of_baseline, False
        meter = asyncio.create_task(
            _meter(window, finished, server_pid, (redis_pids, replica_pids), redis_url, cluster)
        )
        shown = enabled(config.progress)
        total = config.warmup + config.window

        if pool is None:
            send: SendOne
            if target == "liaison":
                send = liaison_sender(stage.clients[: len(pros)])
            else:
                send = baseline_sender(stage.session, url, pros, box_keys, population.dossier_key)
            planner = Planner(stage.plan, [p.principal for p in pros], random.Random(seed))  # noqa: S311 (a workload draw, no secret)

            def counts() -> tuple[int, int, int]:
                delivered = stage.receivers.stats.delivered_total if received else 0
                return sent.started, delivered, sent.failed

            async with progress(name, total, counts, show=shown):
                await drive(load, window, planner, send, sent)
                finished.set()
        else:
            running = pool

            def counts() -> tuple[int, int, int]:
                started, failed = running.progress()
                delivered = stage.receivers.stats.delivered_total if received else 0
                return started, delivered, failed

            async with progress(name, total, counts, show=shown):
                running.release(window)
                sent = await running.collect(within=total + config.drain_timeout + 60)
                finished.set()
        window_s, cpu, calls = await meter
        cpu["client"] = (cpu["client"] or 0.0) + sent.client_cpu_s
        if cpu["machine"] is not None:
            ours = sum(cpu[k] or 0.0 for k in ("client", "server", "redis"))
            cpu["other_processes"] = max(cpu["machine"] - ours, 0.0)
        if received is not None:
            await stage.receivers.drain(sent.expected_deliveries, within=config.drain_timeout)
    finally:
        if pool is not None:
            pool.close()
    figures = phase_figures(
        target=target, loop=loop, window_s=window_s, sent=sent, received=received, cpu_s=cpu
    )
    figures["redis_calls_per_message"] = {
        name: round(count / sent.accepted, 2)
        for name, count in sorted(calls.items(), key=lambda item: -item[1])
        if sent.accepted and count
    }
    return figures, [] if received is None else list(received.latency_ns)


async def _meter(
    window: Window,
    finished: asyncio.Event,
    server_pid: int | None,
    redis_pids: tuple[tuple[int, ...], tuple[int, ...]],
    redis_url: str | None,
    cluster: bool,
) -> tuple[float, dict[str, float | None], dict[str, int]]:
    """CPU of the server tree, of Redis, of this process and of the whole machine over the
    measured window, and the Redis commands run in it (``INFO commandstats``)."""
    await asyncio.sleep(max(window.start_ns - time.time_ns(), 0) / 1e9)
    begin = time.monotonic()
    every, replicas = redis_pids
    server0, redis0 = TreeSample.take(server_pid), TreeSample.take(*every)
    replicas0 = TreeSample.take(*replicas)
    client0, machine0 = own_cpu_seconds(), machine_busy_seconds()
    calls0 = await _command_calls(redis_url, cluster)
    await finished.wait()
    client, machine = own_cpu_seconds() - client0, machine_busy_seconds() - machine0
    server = TreeSample.take(server_pid).seconds_since(server0)
    redis = TreeSample.take(*every).seconds_since(redis0)
    on_replicas = TreeSample.take(*replicas).seconds_since(replicas0)
    elapsed = time.monotonic() - begin
    calls1 = await _command_calls(redis_url, cluster)
    calls = {name: n - calls0.get(name, 0) for name, n in calls1.items()}
    # Minus the first INFO of this very measurement, on each node asked.
    calls["info"] = calls.get("info", 0) - (
        await asyncio.to_thread(redis_nodes.node_count, redis_url, cluster=cluster)
        if redis_url is not None
        else 0
    )
    return (
        elapsed,
        {
            "client": client,
            "server": server if server_pid is not None else None,
            "redis": redis if every else None,
            # Included in "redis": what a cluster's replicas spent applying the writes.
            **({"redis_replicas": on_replicas} if replicas else {}),
            "machine": machine,
        },
        calls,
    )


async def _command_calls(redis_url: str | None, cluster: bool) -> dict[str, int]:
    if redis_url is None:
        return {}
    return await asyncio.to_thread(redis_nodes.command_calls, redis_url, cluster=cluster)
