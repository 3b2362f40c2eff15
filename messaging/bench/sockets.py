"""``--mode sockets``: how much an idle WebSocket costs the server.

Enroll one device per socket, open every socket with its token, wait for each one's
``queue_empty``, then compare the server's RSS (``/proc/<pid>/status``) and Redis
``connected_clients`` before and after. The design promises O(1) Redis connections per process
however many sockets it holds (DESIGN §7), so the connection count must not move.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections import Counter
from typing import Any

import aiohttp

from messaging.bench import redis_nodes
from messaging.bench.config import BenchConfig
from messaging.bench.deployment import Endpoint
from messaging.bench.modes import (
    HTTP_TIMEOUT,
    SETTLE_SECONDS,
    SETUP_CONCURRENCY,
    enroll_many,
    note,
)
from messaging.bench.population import (
    bounded,
    device_token,
    run_number,
)
from messaging.bench.procstat import TreeSample, rss_kib, tree_rss_kib
from messaging.bench.report import (
    RSS_PER_SOCKET_KIB_MAX,
    render_targets,
    table,
    target,
)
from messaging.bench.senders import connector
from messaging.client import AdminClient

# Equal to the setup's concurrency, so that opening sockets adds no burst the setup did not
# already make: any Redis connection added afterwards is then due to the sockets themselves.
OPEN_CONCURRENCY = SETUP_CONCURRENCY


async def _connected_clients(endpoint: Endpoint) -> int | None:
    if endpoint.redis_url is None:
        return None
    return await asyncio.to_thread(
        redis_nodes.connected_clients, endpoint.redis_url, cluster=endpoint.redis_cluster
    )


async def _footprint(endpoint: Endpoint) -> dict[str, Any]:
    server = {} if endpoint.server_pid is None else tree_rss_kib(endpoint.server_pid)
    return {
        "server_rss_kib": sum(server.values()) if server else None,
        "server_rss_kib_by_pid": {str(pid): kib for pid, kib in server.items()},
        "redis_connected_clients": await _connected_clients(endpoint),
        "bench_rss_kib": rss_kib(os.getpid()),
    }


async def run_sockets(config: BenchConfig, endpoint: Endpoint) -> dict[str, Any]:
    url = endpoint.url
    connect = connector()
    async with aiohttp.ClientSession(connector=connect, timeout=HTTP_TIMEOUT) as session:
        admin = AdminClient(url, endpoint.admin_token, session=session)
        run = run_number()
        note(config, f"enrolling {config.sockets} devices")
        begin = time.monotonic()
        devices = await enroll_many(admin, session, url, run, config.sockets)
        tokens = await bounded(SETUP_CONCURRENCY, devices, lambda d: device_token(session, url, d))
        enroll_s = time.monotonic() - begin
        await asyncio.sleep(SETTLE_SECONDS)
        before = await _footprint(endpoint)
        sockets: list[aiohttp.ClientWebSocketResponse] = []
        failures: Counter[str] = Counter()
        examples: dict[str, str] = {}

        async def open_socket(token: str) -> None:
            try:
                ws = await session.ws_connect(
                    f"{url}/v1/stream", headers={"Authorization": f"Bearer {token}"}
                )
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                failures[f"{type(exc).__name__}:{getattr(exc, 'status', '')}"] += 1
                examples.setdefault(type(exc).__name__, str(exc)[:200])
                return
            seen = ""
            try:
                frame = await ws.receive(timeout=60)
                seen = f"{frame.type.name} {frame.data!r:.120} {frame.extra!r:.80}"
                kind = json.loads(frame.data).get("type") if frame.type.name == "TEXT" else None
            except (TimeoutError, ValueError, aiohttp.ClientError) as exc:
                kind = type(exc).__name__
            if kind == "queue_empty":
                sockets.append(ws)
            else:
                failures[f"no_queue_empty:{kind}"] += 1
                examples.setdefault("no_queue_empty", seen)
                await ws.close()

        note(config, f"opening {config.sockets} sockets")
        begin = time.monotonic()
        await bounded(OPEN_CONCURRENCY, tokens, open_socket)
        open_s = time.monotonic() - begin
        await asyncio.sleep(SETTLE_SECONDS)
        after = await _footprint(endpoint)
        idle0 = TreeSample.take(endpoint.server_pid)
        await asyncio.sleep(config.hold)
        idle_cpu = TreeSample.take(endpoint.server_pid).seconds_since(idle0)
        still_open = sum(1 for ws in sockets if not ws.closed)
        await bounded(OPEN_CONCURRENCY, sockets, lambda ws: ws.close())
        await asyncio.sleep(SETTLE_SECONDS)
        closed = await _footprint(endpoint)
    opened = len(sockets)
    growth = None
    if before["server_rss_kib"] is not None and after["server_rss_kib"] is not None and opened:
        growth = round((after["server_rss_kib"] - before["server_rss_kib"]) / opened, 2)
    connections_delta = None
    if after["redis_connected_clients"] is not None:
        connections_delta = after["redis_connected_clients"] - before["redis_connected_clients"]
    figures = {
        "requested": config.sockets,
        "opened": opened,
        "still_open_after_hold": still_open,
        "failures": dict(failures),
        "failure_examples": examples,
        "enroll_and_login_s": round(enroll_s, 2),
        "open_s": round(open_s, 2),
        "hold_s": config.hold,
        "server_cpu_s_while_idle": None if endpoint.server_pid is None else round(idle_cpu, 3),
        "before": before,
        "after": after,
        "after_close": closed,
        "rss_per_socket_kib": growth,
        "redis_connections_delta": connections_delta,
    }
    targets = [
        target("idle sockets held", float(opened), float(config.sockets), at_least=True),
        target("server RSS per socket (KiB)", growth, RSS_PER_SOCKET_KIB_MAX, at_least=False),
        target(
            "Redis connections added by the sockets",
            None if connections_delta is None else float(connections_delta),
            0.0,
            at_least=False,
        ),
    ]
    return {"sockets": figures, "targets": targets}


def render_sockets(report: dict[str, Any]) -> str:
    figures = report["sockets"]
    before, after = figures["before"], figures["after"]
    rows = [
        ["sockets opened", figures["opened"], None],
        ["server RSS KiB", before["server_rss_kib"], after["server_rss_kib"]],
        ["redis connected_clients", before["redis_connected_clients"],
         after["redis_connected_clients"]],
        ["bench RSS KiB", before["bench_rss_kib"], after["bench_rss_kib"]],
    ]  # fmt: skip
    lines = [
        table(["", "before", "after"], rows),
        "",
        f"RSS per socket: {figures['rss_per_socket_kib']} KiB; Redis connections added: "
        f"{figures['redis_connections_delta']}; open took {figures['open_s']} s; "
        f"failures: {figures['failures'] or 'none'}",
        render_targets(report["targets"]),
    ]
    return "\n".join(lines)
