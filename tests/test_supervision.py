"""``liaison serve --workers N`` with real processes: the master restarts a dead worker (and
waits longer each time one keeps dying), workers never outlive the master, and SIGTERM drains
everything: long polls answered, sockets closed with 1001, the process gone within 2 s."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from messaging import crypto
from messaging.client import AdminClient, LiaisonClient, enroll
from tests.processes import ServerProcess
from tests.support import new_rpps

pytestmark = pytest.mark.slow

ADMIN_TOKEN = "supervision-operator-token"
_RESTART = re.compile(
    r"liaison-worker-(\d) \(pid (\d+)\) exited with (-?\d+) after [\d.]+ s; "
    r"restarting it in ([\d.]+) s"
)


@pytest.fixture
def two_workers(redis_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    with ServerProcess(redis_url, tmp_path / "server", ADMIN_TOKEN, workers=2) as server:
        yield server


def _eventually(check: object, within: float = 20.0) -> None:
    assert callable(check)
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def _workers_replaced(server: ServerProcess, gone: int) -> set[int]:
    def ready() -> bool:
        pids = server.workers_pids()
        return len(pids) == 2 and gone not in pids

    _eventually(ready)
    return server.workers_pids()


def _restarts(server: ServerProcess) -> list[tuple[int, int, int, float]]:
    return [
        (int(slot), int(pid), int(code), float(delay))
        for slot, pid, code, delay in _RESTART.findall(server.log_tail(1_000_000))
    ]


def test_a_dead_worker_is_restarted_later_each_time_it_keeps_dying(
    two_workers: ServerProcess,
) -> None:
    _eventually(lambda: len(two_workers.workers_pids()) == 2)
    killed = []
    for _ in range(3):
        # Always the newest worker: the one of the slot restarted last time.
        victim = max(two_workers.workers_pids())
        os.kill(victim, signal.SIGKILL)
        killed.append(victim)
        _workers_replaced(two_workers, victim)
    restarts = _restarts(two_workers)
    # Each death logged, with the pid and the signal that ended it; the server serves on.
    assert [(pid, code) for _, pid, code, _ in restarts] == [
        (pid, -signal.SIGKILL) for pid in killed
    ]
    # Each death came soon after a start: the delays grow (0.25-0.5 s, then 0.5-1, then 1-2).
    delays = [delay for *_, delay in restarts]
    assert delays[2] > delays[0]


def test_workers_exit_when_the_master_is_killed(two_workers: ServerProcess) -> None:
    _eventually(lambda: len(two_workers.workers_pids()) == 2)
    workers = two_workers.workers_pids()
    os.kill(two_workers.pid, signal.SIGKILL)  # the master alone: no chance to stop them

    def gone() -> bool:
        return not any(Path(f"/proc/{pid}").exists() and _alive(pid) for pid in workers)

    _eventually(gone)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited; only its parent's wait is missing


async def _device(url: str) -> tuple[LiaisonClient, str]:
    """An enrolled device's SDK client, and a bearer token of its own for raw sockets."""
    async with AdminClient(url, ADMIN_TOKEN) as admin:
        principal = new_rpps()
        # Each device its own person: look-alike names would need the operator's flag.
        await admin.create_principal(principal, "professional", f"Dr Arrêt {principal}")
        code = (await admin.enrollment_code(principal)).code
    identity = await enroll(url, principal, code, "poste")
    device = {"device": identity.device_id}
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{url}/v1/auth/challenge", json=device) as answer:
            challenge = (await answer.json())["challenge"]
        signature = identity.keys.auth_signature(crypto.b64u_decode(challenge))
        login = device | {"challenge": challenge, "signature": crypto.b64u_encode(signature)}
        async with session.post(f"{url}/v1/auth/token", json=login) as answer:
            token: str = (await answer.json())["token"]
    return LiaisonClient(url, identity), token


async def _listeners(session: aiohttp.ClientSession, url: str) -> int:
    async with session.get(f"{url}/metrics") as response:
        text = await response.text()
    [line] = [x for x in text.splitlines() if x.startswith("liaison_wake_listeners ")]
    return int(float(line.split()[1]))


async def test_sigterm_answers_long_polls_closes_sockets_and_exits_within_two_seconds(
    redis_url: str, tmp_path: Path
) -> None:
    with ServerProcess(redis_url, tmp_path / "server", ADMIN_TOKEN, workers=1) as server:
        polling, _ = await _device(server.url)
        streaming, token = await _device(server.url)
        async with aiohttp.ClientSession() as session:
            socket = await session.ws_connect(
                f"{server.url}/v1/stream", headers={"Authorization": f"Bearer {token}"}
            )
            assert (await socket.receive_json())["type"] == "queue_empty"
            poll = asyncio.create_task(polling.fetch(wait=30))
            # Both wait in the server (the socket's listener, the long poll's): now stop it.
            deadline = asyncio.get_running_loop().time() + 20
            while await _listeners(session, server.url) < 2:
                assert asyncio.get_running_loop().time() < deadline
                await asyncio.sleep(0.05)
            stopped = time.monotonic()
            os.kill(server.pid, signal.SIGTERM)
            answered = await poll
            closing = await socket.receive()
            status = await asyncio.to_thread(server.wait, 10)
            took = time.monotonic() - stopped
            await socket.close()
        await polling.close()
        await streaming.close()
    assert answered.events == []  # the long poll got its answer, not a dropped connection
    assert (closing.type, closing.data) == (aiohttp.WSMsgType.CLOSE, aiohttp.WSCloseCode.GOING_AWAY)
    assert status == 0
    print(f"\nSIGTERM to exit: {took:.2f} s")
    assert took < 2.0, f"SIGTERM took {took:.2f} s"


async def test_the_masters_sigterm_drains_every_worker(
    two_workers: ServerProcess,
) -> None:
    devices = [await _device(two_workers.url) for _ in range(4)]
    async with aiohttp.ClientSession() as session:
        sockets = []
        for _, token in devices:
            # A new connection each: the kernel spreads them over both workers.
            socket = await session.ws_connect(
                f"{two_workers.url}/v1/stream", headers={"Authorization": f"Bearer {token}"}
            )
            assert (await socket.receive_json())["type"] == "queue_empty"
            sockets.append(socket)
        workers = two_workers.workers_pids()
        stopped = time.monotonic()
        os.kill(two_workers.pid, signal.SIGTERM)
        closes = [await socket.receive() for socket in sockets]
        status = await asyncio.to_thread(two_workers.wait, 10)
        took = time.monotonic() - stopped
        for socket in sockets:
            await socket.close()
    for client, _ in devices:
        await client.close()
    assert {(c.type, c.data) for c in closes} == {
        (aiohttp.WSMsgType.CLOSE, aiohttp.WSCloseCode.GOING_AWAY)
    }
    assert status == 0
    assert not any(_alive(pid) for pid in workers)
    print(f"\nSIGTERM to exit: {took:.2f} s")
    assert took < 2.0, f"SIGTERM took {took:.2f} s"
