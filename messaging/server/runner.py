"""``liaison serve``: the embedded Redis when none is configured, then one or more workers.

Workers are separate processes sharing one port (SO_REUSEPORT), so a deployment uses every core;
none of them keeps state another needs (DESIGN §7). With several, the master supervises them
(``messaging.server.supervisor``).

Start-up says one thing at a time, and only what is true: Redis is checked first (a bounded
wait, then one line saying it does not answer); "serving on" is printed once every worker has
its socket bound and its Redis subscription up; a worker that cannot start (the port is taken)
stops the whole command with one line. ``StartupError`` carries that line.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import logging
import multiprocessing
import os
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from types import FrameType
from typing import NoReturn
from urllib.parse import urlsplit, urlunsplit

from aiohttp import web
from redis.asyncio import Redis
from redis.exceptions import AuthenticationError, RedisError

from messaging import logs
from messaging.lifetime import exit_with_parent
from messaging.private_files import random_secret
from messaging.redis_server import RedisServer, pinned_binary
from messaging.server.app import create_app
from messaging.server.metrics import MULTIPROC_VARIABLE, forget_process
from messaging.server.observe import quiet_malformed_requests
from messaging.server.supervisor import Supervisor
from messaging.server_keys import ADMIN_TOKEN_FILE, load_or_create
from messaging.settings import Settings
from messaging.web import AssetsMissing, ensure_installed

log = logging.getLogger("liaison")

REDIS_RETRY_SECONDS = 0.25
REDIS_PASSWORD_FILE = "redis-password"  # noqa: S105 (a file name)
"""In the embedded Redis's directory (0600): its ``requirepass``."""


class StartupError(Exception):
    """``liaison serve`` cannot start; the message is the one line that says why."""


def _say(settings: Settings, line: str) -> None:
    """A start-up or shutdown message: a ``liaison:`` line for a person, or a JSON log line
    when the logs go to a collector (``LIAISON_LOG_FORMAT=json``)."""
    if settings.log_format == "json":
        log.info(line)
    else:
        logs.flush()
        print(f"liaison: {line}", flush=True)


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
    # Its owner's only: the server's keys, the operator token and the AOF live here.
    settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    directory = settings.data_dir / "redis"
    directory.mkdir(mode=0o700, exist_ok=True)
    with exclusive(directory):
        server = RedisServer(
            directory,
            appendfsync=settings.embedded_appendfsync,
            binary=pinned_binary(directory),
            # Anyone with a local shell could otherwise write a token key and log in.
            password=random_secret(directory / REDIS_PASSWORD_FILE),
        )
        server.start()
        _say(
            settings,
            f"embedded redis-server on {redacted(server.url)} "
            f"(AOF appendfsync {settings.embedded_appendfsync} in {server.data_dir})",
        )
        try:
            yield settings.model_copy(update={"redis_url": server.url})
        finally:
            server.stop()


def redacted(url: str) -> str:
    """``url`` without its password, fit for a log line."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


async def _wait_for_redis(url: str, seconds: float) -> None:
    client = Redis.from_url(url, socket_connect_timeout=1.0, socket_timeout=1.0)
    deadline = time.monotonic() + seconds
    try:
        while True:
            try:
                await client.ping()
                return
            except AuthenticationError as exc:
                raise StartupError(
                    f"Redis at {redacted(url)} refused the credentials ({exc}); "
                    "check the password in LIAISON_REDIS_URL"
                ) from None
            except (RedisError, OSError) as exc:
                if time.monotonic() >= deadline:
                    raise StartupError(
                        f"Redis at {redacted(url)} did not answer within {seconds:g} s "
                        f"({exc or type(exc).__name__}); check LIAISON_REDIS_URL and that "
                        "Redis is running"
                    ) from None
            await asyncio.sleep(REDIS_RETRY_SECONDS)
    finally:
        await client.aclose()


def _listen_error(exc: OSError, settings: Settings) -> StartupError | None:
    where = f"{settings.host}:{settings.port}"
    if exc.errno == errno.EADDRINUSE:
        return StartupError(
            f"{where} is already in use; stop what listens there or choose another "
            "LIAISON_PORT (or --port)"
        )
    if exc.errno in (errno.EADDRNOTAVAIL, errno.EACCES):
        return StartupError(
            f"cannot listen on {where}: {exc.strerror} (LIAISON_HOST, LIAISON_PORT)"
        )
    return None


LINGERING_SECONDS = 2.0
"""How long aiohttp reads and drops what a client still sends after an answer that did not read
its whole body (a 408, a 413), before it closes (aiohttp's default: 10 s)."""

SHUTDOWN_TIMEOUT = 1.0
"""Seconds a request still running at shutdown is given; long polls and sockets are answered at
once (``WakeHub.shutdown``), so that SIGTERM ends the process within two seconds."""


def _run_worker(settings: Settings, reuse_port: bool, started: Callable[[], None]) -> None:
    """Serve until stopped; ``started`` is called once the socket is bound and the app is up
    (its start-up connected to Redis and subscribed to wake-ups)."""
    quiet_malformed_requests()
    try:
        web.run_app(
            create_app(settings),
            host=settings.host,
            port=settings.port,
            reuse_port=reuse_port,
            # run_app calls ``print`` once, after every site started: the moment to announce.
            print=lambda *_: started(),
            access_log=None,
            shutdown_timeout=SHUTDOWN_TIMEOUT,
            # aiohttp closes a connection that has not sent a whole request this long after
            # it opened or after its last response: a half-sent header holds no slot forever.
            keepalive_timeout=settings.header_timeout_seconds,
            lingering_time=LINGERING_SECONDS,
        )
    except OSError as exc:
        error = _listen_error(exc, settings)
        if error is None:
            raise
        raise error from None


def _stop_on_term(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _install_web_client(settings: Settings) -> None:
    """Install the browser client's npm packages if needed; the API serves without them."""
    try:
        ensure_installed(lambda line: _say(settings, line.removeprefix("liaison: ")))
    except AssetsMissing as error:
        _say(settings, f"web client unavailable: {error}")


def _check_port_free(settings: Settings) -> None:
    """Workers bind with SO_REUSEPORT, which would let them share a port with another server
    of this user: try a plain bind first, so that a taken port is refused."""
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((settings.host, settings.port))
        except OSError as exc:
            error = _listen_error(exc, settings)
            if error is None:
                raise
            raise error from None


def serve(settings: Settings, workers: int = 1) -> None:
    logs.configure(settings.log_format, settings.log_level)
    signal.signal(signal.SIGTERM, _stop_on_term)
    _install_web_client(settings)
    with _redis_for(settings) as ready:
        assert ready.redis_url is not None  # _redis_for provides one
        asyncio.run(_wait_for_redis(ready.redis_url, ready.redis_start_timeout_seconds))
        secrets = load_or_create(ready)
        if secrets.admin_token_created:
            # Output ends up in terminals' scrollback and container logs: say where the token
            # is, never what it is.
            _say(settings, f"operator token generated into {ready.data_dir / ADMIN_TOKEN_FILE}")
        where = f"http://{ready.host}:{ready.port}"

        def announce() -> None:
            _say(settings, f"serving on {where} with {workers} worker(s)")
            _say(settings, f"web client on {where}/app/")

        try:
            if workers == 1:
                _run_worker(ready, reuse_port=False, started=announce)
            else:
                _check_port_free(ready)
                _run_workers(ready, workers, announce)
        except KeyboardInterrupt:
            pass
    _say(settings, "stopped")


def _worker_main(settings: Settings, master: int, report: Connection) -> None:
    """A worker process: report ``None`` once serving, or the line that stopped it."""
    exit_with_parent(master)  # never an orphan serving on the port after the master died
    logs.configure(settings.log_format, settings.log_level)
    try:
        _run_worker(settings, reuse_port=True, started=lambda: report.send(None))
    except StartupError as exc:
        report.send(str(exc))
        return
    except KeyboardInterrupt:
        pass
    exit_at_once()


def exit_at_once() -> NoReturn:
    """End a process that stopped cleanly (a worker, or ``serve`` itself) without the
    interpreter's teardown of every module: everything is closed (sockets, Redis, the app's
    cleanup ran), metrics live in shared memory and the logs are written, and on a busy machine
    that teardown took longer than the whole shutdown (1.6 s of the 2 s a SIGTERM may take; a
    rolling restart waits for it)."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _run_workers(settings: Settings, workers: int, announce: Callable[[], None]) -> None:
    # Every worker's metrics go to one private directory, so that a scrape of any worker reports
    # them all (messaging.server.metrics). Spawned workers import prometheus_client afresh, after
    # the variable is set: the library reads it once, at import.
    with tempfile.TemporaryDirectory(prefix="liaison-metrics-") as metrics_dir:
        os.environ[MULTIPROC_VARIABLE] = metrics_dir
        context = multiprocessing.get_context("spawn")
        reports: dict[int, Connection] = {}

        def start(number: int) -> BaseProcess:
            receiving, sending = context.Pipe(duplex=False)
            process = context.Process(
                target=_worker_main,
                args=(settings, os.getpid(), sending),
                name=f"liaison-worker-{number}",
            )
            process.start()
            sending.close()
            reports[number] = receiving
            return process

        def started(processes: Sequence[BaseProcess]) -> None:
            _await_workers(processes, [reports[n] for n in range(len(processes))])
            announce()

        def ended(process: BaseProcess) -> None:
            # Its live gauges (open sockets, pool use) leave the sums; its counters stay.
            if process.pid is not None:
                forget_process(process.pid, metrics_dir)

        try:
            Supervisor(start, workers, started=started, ended=ended).run()
        finally:
            os.environ.pop(MULTIPROC_VARIABLE, None)


def _await_workers(processes: Sequence[BaseProcess], reports: Sequence[Connection]) -> None:
    """Return once every worker reported it serves; raise the first worker's failure."""
    waiting = dict(zip(reports, processes, strict=True))
    while waiting:
        ready = wait([*waiting, *(p.sentinel for p in waiting.values())])
        # Reports first: a worker that failed said why before it exited.
        for report in [r for r in ready if isinstance(r, Connection)]:
            try:
                failure = report.recv()
            except EOFError:
                continue  # it exited without a word: its sentinel tells
            if failure is not None:
                raise StartupError(str(failure))
            del waiting[report]
        for report, process in waiting.items():
            if process.sentinel in ready and not report.poll():
                raise StartupError(f"{process.name} exited with {process.exitcode} while starting")
