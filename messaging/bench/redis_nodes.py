"""Where the bench reads its Redis figures: one server, or a Redis Cluster (``--redis-cluster``),
whose command counts and client connections are summed over its primaries (what the server
sent) and whose CPU is summed over every node's process (replicas apply every write too)."""

from __future__ import annotations

from typing import Any, Literal

import redis

Nodes = Literal["primaries", "all"]


def infos(
    url: str, section: str, *, cluster: bool, nodes: Nodes = "primaries"
) -> list[dict[str, Any]]:
    """``INFO section`` of the server, or of each node of the cluster."""
    if not cluster:
        single = redis.Redis.from_url(url)
        try:
            return [single.info(section)]
        finally:
            single.close()
    client = redis.RedisCluster.from_url(url)
    try:
        targets = (
            redis.RedisCluster.PRIMARIES if nodes == "primaries" else redis.RedisCluster.ALL_NODES
        )
        answers: dict[str, dict[str, Any]] = client.info(section, target_nodes=targets)
        return list(answers.values())
    finally:
        client.close()


def command_calls(url: str, *, cluster: bool) -> dict[str, int]:
    """Calls per command since the servers started (``INFO commandstats``), summed."""
    calls: dict[str, int] = {}
    for info in infos(url, "commandstats", cluster=cluster):
        for name, value in info.items():
            if isinstance(value, dict):
                command = name.removeprefix("cmdstat_")
                calls[command] = calls.get(command, 0) + int(value["calls"])
    return calls


def node_count(url: str, *, cluster: bool) -> int:
    """How many servers ``infos`` asks (primaries only, on a cluster)."""
    return len(infos(url, "server", cluster=cluster))


def connected_clients(url: str, *, cluster: bool) -> int:
    """Client connections, summed; minus the one each node counts for this very question."""
    return sum(
        int(info["connected_clients"]) - 1 for info in infos(url, "clients", cluster=cluster)
    )


def process_ids(url: str, *, cluster: bool, replicas_only: bool = False) -> tuple[int, ...]:
    """Process ids of the server or of every node (of the replicas only, if asked)."""
    nodes = infos(url, "server", cluster=cluster, nodes="all")
    if replicas_only:
        roles = infos(url, "replication", cluster=cluster, nodes="all")
        nodes = [n for n, r in zip(nodes, roles, strict=True) if r.get("role") == "slave"]
    return tuple(int(n["process_id"]) for n in nodes if n.get("process_id") is not None)


def version(url: str, *, cluster: bool) -> str:
    return str(infos(url, "server", cluster=cluster)[0].get("redis_version"))
