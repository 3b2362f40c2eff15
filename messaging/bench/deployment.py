"""What the bench talks to: a fresh deployment it starts itself, or a server given by ``--server``.

A fresh deployment is a private ``redis-server`` (``messaging.redis_server``) and ``liaison
serve --workers N`` as a child process, both on free 127.0.0.1 ports in a temporary data
directory that is deleted afterwards, so that one command measures this machine from scratch.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from messaging.bench import redis_nodes
from messaging.bench.config import BenchConfig
from messaging.redis_server import RedisServer, pick_free_port

HOST = "127.0.0.1"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


class DeploymentError(RuntimeError):
    """A process of the deployment did not start, or the target is not usable."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    url: str
    admin_token: str
    redis_url: str | None
    """Known when self-started or given with ``--redis-url``: then Redis figures are reported."""
    server_pid: int | None
    """Root of the server's process tree; None for a remote server without ``--server-pid``."""
    redis_pids: tuple[int, ...]
    """Local Redis processes, for their CPU: one server, or every node of a cluster."""
    replica_pids: tuple[int, ...]
    """Those of ``redis_pids`` that are replicas (their CPU is also reported apart)."""
    redis_cluster: bool
    self_started: bool
    data_dir: Path | None


def wait_ready(url: str, path: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise DeploymentError(f"{url} exited with {process.returncode}: {tail(log)}")
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(url + path, timeout=1) as answer,  # noqa: S310 (http only)
        ):
            if answer.status == 200:
                return
        time.sleep(0.05)
    raise DeploymentError(f"{url} did not become ready in {START_TIMEOUT:.0f} s: {tail(log)}")


def tail(log: Path, size: int = 2000) -> str:
    return log.read_text(errors="replace")[-size:] if log.exists() else "(no log)"


class ChildServer:
    """A Python server in its own process group (so that its workers stop with it)."""

    def __init__(self, command: list[str], env: Mapping[str, str], log: Path) -> None:
        self.log = log
        self._handle: IO[bytes] = log.open("ab")
        self.process = subprocess.Popen(
            command,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=self._handle,
            stderr=subprocess.STDOUT,
            # Ctrl-C on the bench reaches the bench only; it stops its children in order.
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        try:
            if self.process.poll() is None:
                os.killpg(self.process.pid, signal.SIGTERM)
                try:
                    self.process.wait(STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    os.killpg(self.process.pid, signal.SIGKILL)
                    self.process.wait(STOP_TIMEOUT)
        except ProcessLookupError:
            self.process.wait(STOP_TIMEOUT)
        finally:
            self._handle.close()


@contextlib.contextmanager
def private_redis(data_dir: Path, appendfsync: str) -> Iterator[tuple[str, int | None]]:
    server = RedisServer(data_dir, appendfsync=appendfsync)
    server.start()
    try:
        pids = redis_nodes.process_ids(server.url, cluster=False)
        yield server.url, pids[0] if pids else None
    finally:
        server.stop()


@contextlib.contextmanager
def scratch_dir(prefix: str) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


BENCH_LIMITS: dict[str, str] = {
    # Every simulated device enrolls and logs in from this one address: no address budget.
    **{f"LIAISON_LIMIT_{budget}_PER_MINUTE": "0" for budget in ("CHALLENGE", "TOKEN", "ENROLL")},
    # A handful of devices send, fetch and look up as fast as the server goes, as no real
    # device does; their budgets stay on, so that the checks' cost is part of what is measured.
    **{
        f"LIAISON_LIMIT_{budget}_{size}": "100000000"
        for budget in ("SEND", "FETCH", "DIRECTORY", "CALLS")
        for size in ("PER_MINUTE", "BURST")
    },
}
"""The rate limits of a self-started server (``--url`` targets keep their own)."""


@contextlib.contextmanager
def deployment(config: BenchConfig, *, queue_quota: int | None = None) -> Iterator[Endpoint]:
    """The target of the run: ``--server`` as given, else a fresh Redis + ``liaison serve``."""
    if config.url is not None:
        assert config.admin_token is not None  # BenchConfig checks the pair
        redis_pids: tuple[int, ...] = ()
        replica_pids: tuple[int, ...] = ()
        # A remote Redis's pid means nothing here: only read /proc for a local one.
        if config.redis_url is not None and _is_local(config.redis_url):
            cluster = config.redis_cluster
            redis_pids = redis_nodes.process_ids(config.redis_url, cluster=cluster)
            replica_pids = redis_nodes.process_ids(
                config.redis_url, cluster=cluster, replicas_only=True
            )
        yield Endpoint(
            config.url.rstrip("/"),
            config.admin_token,
            config.redis_url,
            config.server_pid,
            redis_pids,
            replica_pids,
            config.redis_cluster,
            self_started=False,
            data_dir=None,
        )
        return
    with (
        scratch_dir("liaison-bench-") as root,
        private_redis(root / "redis", config.appendfsync) as (redis_url, redis_pid),
    ):
        port = pick_free_port()
        admin_token = secrets.token_urlsafe(24)
        env = {
            **os.environ,
            "LIAISON_REDIS_URL": redis_url,
            "LIAISON_DATA_DIR": str(root / "data"),
            "LIAISON_ADMIN_TOKEN": admin_token,
            "LIAISON_HOST": HOST,
            "LIAISON_PORT": str(port),
            **BENCH_LIMITS,
        }
        if queue_quota is not None:
            env["LIAISON_QUEUE_QUOTA"] = str(queue_quota)
            # The depth mode fills one device's queue from one sender, who may then hold all of
            # it: the fair share (a quarter) stopped the fill at 25,500 of 100,000.
            env["LIAISON_SENDER_SHARE"] = "1"
        command = [sys.executable, "-m", "messaging.cli", "serve", "--workers", str(config.workers)]
        server = ChildServer(command, env, root / "server.log")
        try:
            url = f"http://{HOST}:{port}"
            wait_ready(url, "/readyz", server.process, server.log)
            pids = () if redis_pid is None else (redis_pid,)
            yield Endpoint(url, admin_token, redis_url, server.pid, pids, (), False, True, root)
        finally:
            server.stop()


def _is_local(url: str) -> bool:
    return any(host in url for host in ("127.0.0.1", "localhost", "[::1]", "unix://"))
