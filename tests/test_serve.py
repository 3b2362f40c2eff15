"""``liaison serve`` as an operator meets it, in real processes: "serving on" only when it is
true, one clear line when it cannot start, and logs (JSON here) without secrets or INS."""

from __future__ import annotations

import json
import os
import selectors
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import aiohttp
import pytest

from messaging.redis_server import pick_free_port
from tests.dossiers import ADULT_BIRTH, new_ins
from tests.processes import ServerProcess

pytestmark = pytest.mark.slow

ADMIN_TOKEN = "serve-operator-token"
TIMEOUT = 60.0


def _env(tmp_path: Path, port: int, **variables: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIAISON_")}
    return {
        **env,
        "LIAISON_DATA_DIR": str(tmp_path / "data"),
        "LIAISON_ADMIN_TOKEN": ADMIN_TOKEN,
        "LIAISON_HOST": "127.0.0.1",
        "LIAISON_PORT": str(port),
        **variables,
    }


def _serve(workers: int, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """A ``serve`` expected to give up by itself."""
    return subprocess.run(
        [sys.executable, "-m", "messaging.cli", "serve", "--workers", str(workers)],
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def _errors(result: subprocess.CompletedProcess[str]) -> list[str]:
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    assert "serving on" not in output
    return [line for line in output.splitlines() if line.startswith("error:")]


def _start(workers: int, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "messaging.cli", "serve", "--workers", str(workers)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _until_serving(process: subprocess.Popen[str]) -> list[str]:
    """The lines ``serve`` printed up to and including "serving on"."""
    assert process.stdout is not None
    lines: list[str] = []
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + TIMEOUT
        while not lines or "serving on" not in lines[-1]:
            assert selector.select(deadline - time.monotonic()), "no 'serving on' in time"
            lines.append(process.stdout.readline())
            assert lines[-1], f"serve exited with {process.wait()}"
    return lines


def _stop(process: subprocess.Popen[str]) -> None:
    os.killpg(process.pid, 15)
    process.wait(TIMEOUT)
    assert process.stdout is not None
    process.stdout.close()


@pytest.mark.parametrize("workers", [1, 2])
def test_serving_on_is_printed_once_bound_and_redis_answered(
    redis_url: str, tmp_path: Path, workers: int
) -> None:
    port = pick_free_port()
    process = _start(workers, _env(tmp_path, port, LIAISON_REDIS_URL=redis_url))
    try:
        line = _until_serving(process)[-1]
        assert line == f"liaison: serving on http://127.0.0.1:{port} with {workers} worker(s)\n"
        # At once, without a retry: the socket is bound and Redis answered before the line.
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as answer:
            assert answer.status == 200
    finally:
        _stop(process)


def test_stopped_is_the_last_line_after_the_access_lines_still_held(
    redis_url: str, tmp_path: Path
) -> None:
    """Access lines are written in batches up to 0.1 s late; a request just before SIGTERM
    had its line printed after "liaison: stopped"."""
    server = ServerProcess(redis_url, tmp_path / "server", ADMIN_TOKEN)
    server.start()
    try:
        with urllib.request.urlopen(f"{server.url}/healthz", timeout=5) as answer:  # noqa: S310
            assert answer.status == 200
    finally:
        server.stop()
    lines = server.log.splitlines()
    assert any("GET /healthz 200" in line for line in lines)
    assert lines[-1] == "liaison: stopped"


def test_the_embedded_redis_and_the_operator_token_stay_private(tmp_path: Path) -> None:
    """Issue 10: the embedded Redis needs its password, kept 0600 in its 0700 directory; the
    operator token is written 0600 and never printed (it ended up in container logs)."""
    port = pick_free_port()
    env = _env(tmp_path, port)
    del env["LIAISON_ADMIN_TOKEN"]
    process = _start(1, env)
    try:
        output = "".join(_until_serving(process))
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as answer:
            assert answer.status == 200
    finally:
        _stop(process)
    data = tmp_path / "data"
    token_file, password_file = data / "admin-token", data / "redis" / "redis-password"
    token, password = token_file.read_text().strip(), password_file.read_text().strip()
    assert f"operator token generated into {token_file}\n" in output
    assert token not in output
    assert password not in output
    assert ":***@127.0.0.1:" in output
    for secret in (token_file, password_file):
        assert secret.stat().st_mode & 0o777 == 0o600
    assert (data / "redis").stat().st_mode & 0o777 == 0o700
    assert data.stat().st_mode & 0o777 == 0o700


@pytest.mark.parametrize("workers", [1, 2])
def test_a_port_in_use_is_one_line(redis_url: str, tmp_path: Path, workers: int) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _serve(workers, _env(tmp_path, port, LIAISON_REDIS_URL=redis_url))

    assert result.returncode == 1
    assert _errors(result) == [
        f"error: 127.0.0.1:{port} is already in use; stop what listens there or choose another "
        "LIAISON_PORT (or --port)"
    ]


def test_an_unreachable_redis_fails_in_bounded_time_with_one_line(tmp_path: Path) -> None:
    dead = pick_free_port()  # nothing listens there
    env = _env(
        tmp_path,
        pick_free_port(),
        LIAISON_REDIS_URL=f"redis://:s3cret@127.0.0.1:{dead}/0",
        LIAISON_REDIS_START_TIMEOUT_SECONDS="1",
    )

    result = _serve(1, env)

    assert result.returncode == 1
    [line] = _errors(result)
    assert line.startswith(
        f"error: Redis at redis://:***@127.0.0.1:{dead}/0 did not answer within 1 s"
    )
    assert line.endswith("check LIAISON_REDIS_URL and that Redis is running")
    assert "s3cret" not in result.stdout + result.stderr


async def test_json_logs_are_one_object_per_line_without_secrets_or_ins(
    redis_url: str, tmp_path: Path
) -> None:
    ins = new_ins(ADULT_BIRTH)
    with ServerProcess(
        redis_url, tmp_path / "server", ADMIN_TOKEN, env={"LIAISON_LOG_FORMAT": "json"}
    ) as server:
        async with aiohttp.ClientSession() as session:
            operator = {"Authorization": f"Bearer {ADMIN_TOKEN}", "X-Request-Id": "op-1"}
            body = {"id": "rpps:10000000008", "kind": "professional", "display_name": "Dr Log"}
            async with session.post(
                f"{server.url}/v1/admin/principals", json=body, headers=operator
            ) as answer:
                assert answer.status == 201
            stranger = {"Authorization": "Bearer not-a-token"}
            async with session.get(f"{server.url}/v1/dossiers/{ins}", headers=stranger) as answer:
                assert answer.status == 401
        # aiohttp's report of a malformed request would quote this header's raw line.
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw:
            raw.sendall(b"GET / HTTP/1.1\r\nAuthorization: Bearer RAW-SECRET\x01\r\n\r\n")
            assert raw.recv(12).startswith(b"HTTP/1.0 400")
    log = server.log

    records = [json.loads(line) for line in log.splitlines()]  # every line is JSON
    access = [r for r in records if r["logger"] == "liaison.access"]
    assert {(r["method"], r["route"], r["status"]) for r in access} >= {
        ("POST", "/v1/admin/principals", 201),
        ("GET", "/v1/dossiers/{ins}", 401),
    }
    assert next(r for r in access if r["status"] == 201)["request_id"] == "op-1"
    assert any(
        r["message"] == "malformed request refused with 400 (BadHttpMessage)" for r in records
    )
    assert any(r["message"].startswith("serving on http://127.0.0.1:") for r in records)
    for secret in (ADMIN_TOKEN, "not-a-token", "RAW-SECRET", ins):
        assert secret not in log
