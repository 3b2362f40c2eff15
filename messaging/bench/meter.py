"""What a measured window costs: CPU of the server tree, of Redis, of the bench process and of
the whole machine, and the Redis commands run in it (``INFO commandstats``)."""

from __future__ import annotations

import asyncio
import time

from messaging.bench import redis_nodes
from messaging.bench.procstat import TreeSample, machine_busy_seconds, own_cpu_seconds
from messaging.bench.workload import Window


async def measure(
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
    calls0 = await command_calls(redis_url, cluster)
    await finished.wait()
    client, machine = own_cpu_seconds() - client0, machine_busy_seconds() - machine0
    server = TreeSample.take(server_pid).seconds_since(server0)
    redis = TreeSample.take(*every).seconds_since(redis0)
    on_replicas = TreeSample.take(*replicas).seconds_since(replicas0)
    elapsed = time.monotonic() - begin
    calls1 = await command_calls(redis_url, cluster)
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


async def command_calls(redis_url: str | None, cluster: bool) -> dict[str, int]:
    if redis_url is None:
        return {}
    return await asyncio.to_thread(redis_nodes.command_calls, redis_url, cluster=cluster)
