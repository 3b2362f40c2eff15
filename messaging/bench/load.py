"""The load mode: up to three phases against one population and one set of receivers:
``liaison`` (the workload as configured), ``baseline`` (the same generator against the bare
stack, ``--baseline``) and ``half_peak`` (open loop at half the rate Liaison reached,
``--half-peak``). Each phase has its own warm-up and measured window; CPU is sampled at the
window's start and when its last send has returned. ``--mode soak`` runs the ``liaison`` phase
of the same machinery (``messaging.bench.soak``).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import secrets
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import aiohttp
from redis.asyncio import Redis

from messaging import redis_keys
from messaging.bench.attachments import attachment_file
from messaging.bench.baseline import BaselineServer
from messaging.bench.config import BenchConfig
from messaging.bench.deployment import Endpoint
from messaging.bench.histogram import write_histogram
from messaging.bench.meter import measure
from messaging.bench.population import Population, create_population, device_token
from messaging.bench.progress import enabled, progress
from messaging.bench.receivers import AckOnlyReceivers, Receivers
from messaging.bench.report import load_report, phase_figures
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


@contextlib.asynccontextmanager
async def staged(config: BenchConfig, endpoint: Endpoint) -> AsyncIterator[Stage]:
    """The population, its logged-in clients and the running receivers, for the phases."""
    async with aiohttp.ClientSession(connector=connector(), timeout=HTTP_TIMEOUT) as session:
        population = await populate(config, endpoint, session)
        clients = [
            LiaisonClient(endpoint.url, device, session=session) for device in population.devices()
        ]
        await asyncio.gather(*(client.login() for client in clients))
        receivers = await make_receivers(config, endpoint, session, population, clients)
        await receivers.start()
        plan = plan_of(config, population)
        try:
            yield Stage(config, endpoint, population, plan, session, clients, receivers)
        finally:
            await receivers.stop()


async def populate(
    config: BenchConfig, endpoint: Endpoint, session: aiohttp.ClientSession
) -> Population:
    return await create_population(
        session,
        endpoint.url,
        endpoint.admin_token,
        professionals=config.professionals,
        org_size=config.org_size,
        patients=config.patients,
        with_dossiers=config.weights().get("dossier", 0) > 0,
    )


def plan_of(config: BenchConfig, population: Population) -> PlanData:
    return PlanData(
        professionals=tuple(p.principal for p in population.professionals),
        org=population.org,
        org_members=population.org_members,
        patients=tuple(p.ins for p in population.patients),
        weights=config.mix,
    )


def seed_of(config: BenchConfig) -> int:
    return config.seed if config.seed is not None else secrets.randbelow(2**31)


async def run_load(
    config: BenchConfig,
    endpoint: Endpoint,
    workdir: Path,
    baseline_redis: tuple[str, int | None] | None,
) -> dict[str, Any]:
    phases: dict[str, dict[str, Any] | None] = {"baseline": None, "half_peak": None}
    async with staged(config, endpoint) as stage:
        seed = seed_of(config)
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
    if config.histogram_png is not None:
        write_histogram(latencies, config.histogram_png)
    return load_report(config, stage.population, phases)


async def make_receivers(
    config: BenchConfig,
    endpoint: Endpoint,
    session: aiohttp.ClientSession,
    population: Population,
    clients: Sequence[LiaisonClient],
) -> Receivers:
    if config.receivers == "sdk":
        return Receivers(clients)
    tokens = await asyncio.gather(
        *(device_token(session, endpoint.url, device) for device in population.devices())
    )
    return AckOnlyReceivers(endpoint.url, session, tokens)


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
        await drop_baseline_keys(redis_url)
    return figures


async def drop_baseline_keys(redis_url: str) -> None:
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
        attachment_size=config.attachment_size if config.attachments else None,
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
            measure(window, finished, server_pid, (redis_pids, replica_pids), redis_url, cluster)
        )
        shown = enabled(config.progress)
        total = config.warmup + config.window

        if pool is None:
            send: SendOne
            planner = Planner(stage.plan, [p.principal for p in pros], random.Random(seed))  # noqa: S311 (a workload draw, no secret)

            def counts() -> tuple[int, int, int]:
                delivered = stage.receivers.stats.delivered_total if received else 0
                return sent.started, delivered, sent.failed

            with attachment_file(load.attachment_size) as attachment:
                if target == "liaison":
                    send = liaison_sender(stage.clients[: len(pros)], attachment)
                else:
                    send = baseline_sender(
                        stage.session, url, pros, box_keys, population.dossier_key
                    )
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
        target=target,
        loop=loop,
        window_s=window_s,
        sent=sent,
        received=received,
        cpu_s=cpu,
        attachments=config.attachments,
    )
    figures["redis_calls_per_message"] = {
        name: round(count / sent.accepted, 2)
        for name, count in sorted(calls.items(), key=lambda item: -item[1])
        if sent.accepted and count
    }
    return figures, [] if received is None else list(received.latency_ns)
