"""Real ``liaison serve`` processes for end-to-end and crash tests."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path

from messaging.redis_server import pick_free_port

START_TIMEOUT = 60.0
"""A ceiling, not a target: on a busy shared machine, spawning and importing two workers is slow."""


class ServerProcess:
    """``liaison serve`` in a child process, on a free port, against a given Redis."""

    def __init__(
        self,
        redis_url: str,
        data_dir: Path,
        admin_token: str,
        *,
        workers: int = 1,
        redis_mode: str = "standalone",
        env: dict[str, str] | None = None,
    ) -> None:
        self.port = pick_free_port()
        self.data_dir = data_dir
        self.workers = workers
        self.env = {
            **os.environ,
            "LIAISON_REDIS_URL": redis_url,
            "LIAISON_DATA_DIR": str(data_dir),
            "LIAISON_ADMIN_TOKEN": admin_token,
            "LIAISON_HOST": "127.0.0.1",
            "LIAISON_PORT": str(self.port),
            "LIAISON_REDIS_MODE": redis_mode,
            # A shared machine, a Redis that fsyncs: no 503 for a busy moment (tests/conftest).
            "LIAISON_REDIS_CONNECT_TIMEOUT_SECONDS": "5",
            "LIAISON_REDIS_COMMAND_TIMEOUT_SECONDS": "5",
            "LIAISON_REDIS_POOL_TIMEOUT_SECONDS": "5",
            **(env or {}),
        }
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> ServerProcess:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def pid(self) -> int:
        """The ``liaison serve`` process (the master, with several workers)."""
        if self._process is None:
            raise RuntimeError("not started")
        return self._process.pid

    def workers_pids(self) -> set[int]:
        """The master's worker processes (children started by multiprocessing's spawn)."""
        found = set()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                command = (entry / "cmdline").read_bytes()
            except OSError:
                continue  # it ended meanwhile
            parent = int(stat.rpartition(")")[2].split()[1])
            if parent == self.pid and b"spawn_main" in command:
                found.add(int(entry.name))
        return found

    def wait(self, timeout: float) -> int:
        """Wait for the process to end; its exit status."""
        if self._process is None:
            raise RuntimeError("not started")
        return self._process.wait(timeout)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with (self.data_dir / "server.log").open("ab") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "messaging.cli", "serve", "--workers", str(self.workers)],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_tail()}")
            # "serving on" comes once every worker listens; /readyz alone may be one worker's.
            if "serving on" not in self.log:
                time.sleep(0.05)
                continue
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", timeout=1) as response:  # noqa: S310
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.05)
        self.stop()  # not left running behind a failed test
        raise RuntimeError(f"server did not become ready: {self.log_tail()}")

    @property
    def log(self) -> str:
        """Everything the server wrote, stdout and stderr."""
        path = self.data_dir / "server.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def log_tail(self, size: int = 2000) -> str:
        path = self.data_dir / "server.log"
        return path.read_text(errors="replace")[-size:] if path.exists() else ""

    def kill(self) -> None:
        """SIGKILL the whole process group: a crash, with no chance to clean up."""
        if self._process is not None and self._process.poll() is None:
            os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait(10)

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            os.killpg(self._process.pid, signal.SIGTERM)
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


class Watch:
    """``liaison watch`` in a child process (``watching``): its output so far, and its end."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.seen = ""
        self.errors = ""

    async def read_until(self, text: str) -> str:
        """Its output up to the line that holds ``text`` (within 30 s)."""
        assert self.process.stdout is not None
        async with asyncio.timeout(30):
            while text not in self.seen:
                line = await self.process.stdout.readline()
                assert line, f"watch ended before {text!r}: {self.seen}"
                self.seen += line.decode()
        return self.seen


ENDS_WITHIN_SECONDS = 20


def _as_from_a_terminal() -> None:
    # The test ends the child with Ctrl-C, which reaches a command run from a terminal. A child
    # of a background job (`cmd &` in a script, as some CI runners start the suite) inherits
    # SIGINT ignored, and Python then never raises KeyboardInterrupt: the watch would not end.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@contextlib.asynccontextmanager
async def watching(*argv: str) -> AsyncIterator[Watch]:
    """``liaison watch ARGV``, ended with Ctrl-C (SIGINT) when the block ends."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "messaging.cli",
        "watch",
        *argv,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        preexec_fn=_as_from_a_terminal,
    )
    watch = Watch(process)
    try:
        yield watch
    finally:
        process.send_signal(signal.SIGINT)
        try:
            async with asyncio.timeout(ENDS_WITHIN_SECONDS):
                _, errors = await process.communicate()
        except TimeoutError:
            # A watch that Ctrl-C does not end is a failure to report, never a hung suite.
            process.kill()
            _, errors = await process.communicate()
            raise AssertionError(
                f"liaison watch did not end within {ENDS_WITHIN_SECONDS} s of Ctrl-C: "
                f"{errors.decode()}"
            ) from None
        watch.errors = errors.decode()
