"""A real Redis Cluster for the tests: 3 primaries and 3 replicas of one ``redis-server``.

Every node is a private ``RedisServer`` (it dies with the test process, even a killed one) on a
free port whose cluster bus port (port + 10000) is free too; ``redis-cli --cluster create``
joins them. Nothing runs on a fixed port and nothing outlives ``stop()``.
"""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import time
from pathlib import Path

import redis

from messaging.redis_server import HOST, RedisServer, RedisStartFailed

PRIMARIES = 3
BUS_OFFSET = 10_000
_PORT_RANGE = (20_000, 65_535 - BUS_OFFSET)
_START_ATTEMPTS = 10
READY_TIMEOUT = 30.0


def _free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
        return True


def _pick_node_port(taken: set[int]) -> int:
    while True:
        port = random.randrange(*_PORT_RANGE)
        if port not in taken and _free(port) and _free(port + BUS_OFFSET):
            return port


def redis_cli(binary: str) -> str:
    """The ``redis-cli`` shipped beside ``binary`` (same version), else the one on PATH."""
    beside = Path(binary).with_name("redis-cli")
    if beside.is_file():
        return str(beside)
    found = shutil.which("redis-cli")
    if found is None:
        raise FileNotFoundError("no redis-cli beside the redis-server binary nor on PATH")
    return found


class LocalCluster:
    def __init__(
        self,
        directory: Path,
        binary: str,
        *,
        node_timeout_ms: int = 1000,
        appendfsync: str = "everysec",
    ) -> None:
        self.directory = directory
        self.binary = binary
        self.node_timeout_ms = node_timeout_ms
        self.appendfsync = appendfsync
        self.nodes: list[RedisServer] = []

    @property
    def url(self) -> str:
        """Any node will do: the client discovers the others."""
        return self.nodes[0].url

    def start(self) -> None:
        try:
            for number in range(2 * PRIMARIES):
                self.nodes.append(self._start_node(number))
            addresses = [f"{HOST}:{node.port}" for node in self.nodes]
            create = [redis_cli(self.binary), "--cluster", "create", *addresses]
            create += ["--cluster-replicas", "1", "--cluster-yes"]
            subprocess.run(create, check=True, capture_output=True, timeout=READY_TIMEOUT)
            self.wait_until_healthy()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def _start_node(self, number: int) -> RedisServer:
        taken = {node.port for node in self.nodes}
        settings = ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]
        settings += ["--cluster-node-timeout", str(self.node_timeout_ms)]
        for attempt in range(_START_ATTEMPTS):
            port = _pick_node_port(taken)
            node = RedisServer(
                self.directory / f"node-{number}-{port}",
                port=port,
                appendfsync=self.appendfsync,
                binary=self.binary,
                extra_args=settings,
            )
            try:
                node.start()
            except RedisStartFailed:
                # Another process took the port or its bus port meanwhile: pick again.
                if attempt == _START_ATTEMPTS - 1:
                    raise
                continue
            return node
        raise RedisStartFailed("no free port pair for a cluster node")

    def client(self, node: RedisServer) -> redis.Redis:
        return redis.Redis(host=HOST, port=node.port, socket_timeout=5)

    def role(self, node: RedisServer) -> str:
        with self.client(node) as conn:
            return str(conn.execute_command("ROLE")[0].decode())

    def primaries(self) -> list[RedisServer]:
        return [n for n in self.nodes if n.running and self.role(n) == "master"]

    def primary_of(self, key: str) -> RedisServer:
        """The node serving ``key``'s slot now, as the cluster itself says."""
        live = next(n for n in self.nodes if n.running)
        with self.client(live) as conn:
            slot = int(conn.execute_command("CLUSTER", "KEYSLOT", key))
            for start, end, primary, *_ in conn.execute_command("CLUSTER", "SLOTS"):
                if start <= slot <= end:
                    port = int(primary[1])
                    return next(n for n in self.nodes if n.port == port)
        raise LookupError(f"no node serves slot {slot}")

    def replica_of(self, primary: RedisServer) -> RedisServer:
        with self.client(primary) as conn:
            [[_host, port, _offset], *_] = conn.execute_command("ROLE")[2]
        return next(n for n in self.nodes if n.port == int(port))

    def calls(self, node: RedisServer, command: str) -> int:
        """How many times ``node`` ran ``command`` (``INFO commandstats``)."""
        with self.client(node) as conn:
            stats = conn.info("commandstats").get(f"cmdstat_{command.lower()}", {})
        return int(stats.get("calls", 0))

    def flush(self) -> None:
        for node in self.primaries():
            with self.client(node) as conn:
                conn.flushall()

    def wait_until_healthy(self, timeout: float = READY_TIMEOUT) -> None:
        """Every running node sees the cluster ok with 3 primaries, each with a synced
        replica."""
        deadline = time.monotonic() + timeout
        while True:
            problem = self._health_problem()
            if problem is None:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"the cluster did not become healthy: {problem}")
            time.sleep(0.1)

    def _health_problem(self) -> str | None:
        try:
            running = [n for n in self.nodes if n.running]
            for node in running:
                with self.client(node) as conn:
                    info = conn.execute_command("CLUSTER", "INFO").decode()
                    if "cluster_state:ok" not in info:
                        return f"node {node.port}: not ok"
                    role = conn.execute_command("ROLE")
                    if role[0] == b"slave" and role[3] != b"connected":
                        return f"replica {node.port}: {role[3]!r}"
                    if role[0] == b"master" and len(role[2]) == 0 and len(running) == 6:
                        return f"primary {node.port}: no replica yet"
            if len(self.primaries()) != PRIMARIES:
                return "not 3 primaries"
        except redis.RedisError as exc:
            return str(exc)
        return None
