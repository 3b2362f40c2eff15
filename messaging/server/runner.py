"""``liaison serve``: the embedded Redis when none is configured, then one or more workers.

Workers are separate processes sharing one port (SO_REUSEPORT), so a deployment uses every core;
none of them keeps state another needs (DESIGN §7). With several, the master supervises them
(``messaging.server.supervisor``).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import multiprocessing
import os
import signal
import sys
from collections.abc import Iterator
from multiprocessing.process import BaseProcess
from pathlib import Path
from types import FrameType

from aiohttp import web

from messaging.lifetime import exit_with_parent
from messaging.redis_server import RedisServer, pinned_binary
from messaging.server.app import create_app
from messaging.server.supervisor import Supervisor
from messaging.server_keys import ADMIN_TOKEN_FILE, load_or_create
from messaging.settings import Settings
from messaging.web import AssetsMissing, ensure_installed

log = logging.getLogger("liaison")


class DataDirInUse(Exception):
    """Another ``liaison serve`` already runs an embedded Redis on this data directory."""


@contextlib.contextmanager
def exclusive(directory: Path) -> Iterator[None]:
    """Hold a lock on ``directory`` while serving: two Redis servers on one AOF would corrupt it.

    The lock dies with the process, even a killed one, so a crash never leaves it stale.
    """
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / "serve.lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise DataDirInUse(
                f"another `liaison serve` uses {directory}; stop it or set LIAISON_DATA_DIR"
            ) from exc
        yield


@contextlib.contextmanager
def _redis_for(settings: Settings) -> Iterator[Settings]:
    """The settings with a Redis URL: the configured one, else a private embedded server."""
    if settings.redis_url is not None:
        yield settings
        return
    directory = settings.data_dir / "redis"
    with exclusive(directory):
        server = RedisServer(
            directory, appendfsync=settings.embedded_appendfsync, binary=pinned_binary(directory)
        )
        server.start()
        print(
            f"liaison: embedded redis-server on {server.url} "
            f"(AOF appendfsync {settings.embedded_appendfsync} in {server.data_dir})",
            flush=True,
        )
        try:
            yield settings.model_copy(update={"redis_url": server.url})
        finally:
            server.stop()


SHUTDOWN_TIMEOUT = 1.0
"""Seconds a request still running at shutdown is given; long polls and sockets are answered at
once (``WakeHub.shutdown``), so that SIGTERM ends the process within two seconds."""


def _run_worker(settings: Settings, reuse_port: bool) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    web.run_app(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        reuse_port=reuse_port,
        print=None,
        access_log=None,
        shutdown_timeout=SHUTDOWN_TIMEOUT,
    )


def _stop_on_term(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _install_web_client() -> None:
    """Install the browser client's npm packages if needed; the API serves without them."""
    try:
        ensure_installed(lambda line: print(line, flush=True))
    except AssetsMissing as error:
        print(f"liaison: web client unavailable: {error}", flush=True)


def serve(settings: Settings, workers: int = 1) -> None:
    signal.signal(signal.SIGTERM, _stop_on_term)
    _install_web_client()
    with _redis_for(settings) as ready:
        secrets = load_or_create(ready)
        if secrets.admin_token_created:
            print(
                f"liaison: operator token (kept in {ready.data_dir / ADMIN_TOKEN_FILE}): "
                f"{secrets.admin_token}",
                flush=True,
            )
        print(
            f"liaison: serving on http://{ready.host}:{ready.port} with {workers} worker(s)",
            flush=True,
        )
        print(f"liaison: web client on http://{ready.host}:{ready.port}/app/", flush=True)
        try:
            if workers == 1:
                _run_worker(ready, reuse_port=False)
            else:
                _run_workers(ready, workers)
        except KeyboardInterrupt:
            pass
    print("liaison: stopped", file=sys.stderr, flush=True)


def _worker_main(settings: Settings, master: int) -> None:
    exit_with_parent(master)  # never an orphan serving on the port after the master died
    _run_worker(settings, reuse_port=True)


def _run_workers(settings: Settings, workers: int) -> None:
    context = multiprocessing.get_context("spawn")

    def start(number: int) -> BaseProcess:
        process = context.Process(
            target=_worker_main, args=(settings, os.getpid()), name=f"liaison-worker-{number}"
        )
        process.start()
        return process

    Supervisor(start, workers).run()
