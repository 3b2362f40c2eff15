"""``--mode soak``: what Redis keeps per message once every device has acked it.

Messages go out at ``--rate`` (200/s) for ``--duration`` (60 s) while the receivers ack every
event (receipts too). Redis memory is read when the warm-up traffic has been acked and settled,
and again once the soak's own has: the growth, divided by the messages accepted, is what each
delivered message leaves behind (its idempotency record, and anything that leaks).

The memory counted is ``used_memory`` less the clients' buffers (``mem_clients_normal`` and
``mem_clients_slaves``): those follow the connections and the last burst, not the messages kept,
and moved by up to 320 KB between two readings of one run (more than 150 B for each of its
2,000 messages). The raw ``used_memory`` growth is reported beside it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any

import redis

from messaging import redis_keys
from messaging.bench import redis_nodes
from messaging.bench.config import BenchConfig
from messaging.bench.deployment import DeploymentError, Endpoint
from messaging.bench.load import Stage, run_phase, seed_of, staged
from messaging.bench.report import render_targets, table, target

RETAINED_BYTES_PER_MESSAGE_MAX = 150.0
SETTLE_TIMEOUT = 30.0
SETTLE_QUIET = 1.0
"""Seconds without a change in ``used_memory`` once the queues are empty: settled."""


def _client(url: str, cluster: bool) -> redis.Redis | redis.RedisCluster:
    return redis.RedisCluster.from_url(url) if cluster else redis.Redis.from_url(url)


@dataclasses.dataclass(frozen=True, slots=True)
class Memory:
    used: int
    """``used_memory`` summed over the nodes."""
    client_buffers: int
    """The part of it that is the clients' buffers and structures."""

    @property
    def kept(self) -> int:
        return self.used - self.client_buffers


def memory(url: str, cluster: bool) -> Memory:
    infos = redis_nodes.infos(url, "memory", cluster=cluster)
    return Memory(
        sum(int(info["used_memory"]) for info in infos),
        sum(int(info["mem_clients_normal"]) + int(info["mem_clients_slaves"]) for info in infos),
    )


def _pending(client: redis.Redis | redis.RedisCluster, devices: list[str]) -> int:
    """Events still queued, and index entries not yet dropped, over the devices."""
    left = 0
    for device in devices:
        left += int(client.xlen(redis_keys.queue(device)))
        left += int(client.exists(redis_keys.seen(device)))
    return left


def settle(url: str, cluster: bool, devices: list[str]) -> tuple[Memory, int]:
    """Wait until every event is acked and the memory kept stops moving; then read it (and
    what is still pending)."""
    client = _client(url, cluster)
    try:
        deadline = time.monotonic() + SETTLE_TIMEOUT
        last, still_since = memory(url, cluster), time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.2)
            now = memory(url, cluster)
            if now.kept != last.kept:
                still_since = time.monotonic()
            last = now
            pending = _pending(client, devices)
            if pending == 0 and time.monotonic() - still_since >= SETTLE_QUIET:
                break
        return last, _pending(client, devices)
    finally:
        client.close()


async def run_soak(config: BenchConfig, endpoint: Endpoint) -> dict[str, Any]:
    if endpoint.redis_url is None:
        raise DeploymentError("--mode soak reads Redis used_memory: give --redis-url with --url")
    url, cluster = endpoint.redis_url, endpoint.redis_cluster
    rate = config.soak_rate
    async with staged(config, endpoint) as stage:
        devices = [device.device_id for device in stage.population.devices()]
        seed = seed_of(config)
        # The warm-up fills what the first messages create once (caches, connection pools, the
        # first hash of each sender's records, stream nodes): not per-message growth.
        warm = dataclasses.replace(config, warmup=0.0, duration=max(config.warmup, 0.1))
        await run_phase(_with(stage, warm), "soak warm-up", "liaison", rate, seed)
        before, _ = await asyncio.to_thread(settle, url, cluster, devices)
        figures, _ = await run_phase(
            _with(stage, dataclasses.replace(config, warmup=0.0)), "soak", "liaison", rate, seed + 1
        )
        after, pending = await asyncio.to_thread(settle, url, cluster, devices)
    messages = int(figures["accepted_total"])
    growth = after.kept - before.kept
    raw_growth = after.used - before.used
    per_message = round(growth / messages, 1) if messages else None
    return {
        "phases": {"soak": figures},
        "memory": {
            "used_memory_before": before.used,
            "used_memory_after": after.used,
            "client_buffers_before": before.client_buffers,
            "client_buffers_after": after.client_buffers,
            "growth_bytes": growth,
            "used_memory_growth_bytes": raw_growth,
            "used_memory_growth_per_message": round(raw_growth / messages, 1) if messages else None,
            "messages": messages,
            "left_queued_or_indexed": pending,
        },
        "retained_bytes_per_message": per_message,
        "targets": [
            target(
                "retained_bytes_per_message (used_memory less client buffers, growth / message,"
                " all acked)",
                per_message,
                RETAINED_BYTES_PER_MESSAGE_MAX,
                at_least=False,
            )
        ],
    }


def _with(stage: Stage, config: BenchConfig) -> Stage:
    return dataclasses.replace(stage, config=config)


def render_soak(report: dict[str, Any]) -> str:
    soak, memory = report["phases"]["soak"], report["memory"]
    rows = [
        ["rate (messages/s)", soak["load"].get("rate")],
        ["messages accepted", memory["messages"]],
        ["delivered (in window)", soak.get("delivered")],
        ["receipts", soak.get("receipts")],
        ["used_memory before (B)", memory["used_memory_before"]],
        ["used_memory after (B)", memory["used_memory_after"]],
        ["  of which client buffers, before (B)", memory["client_buffers_before"]],
        ["  of which client buffers, after (B)", memory["client_buffers_after"]],
        ["used_memory growth per message (B)", memory["used_memory_growth_per_message"]],
        ["growth less client buffers (B)", memory["growth_bytes"]],
        ["retained per message (B)", report["retained_bytes_per_message"]],
        ["left queued or indexed", memory["left_queued_or_indexed"]],
        ["errors", soak.get("errors")],
    ]
    return "\n".join([table(["", "soak"], rows), "", render_targets(report["targets"])])
