"""A Redis Cluster failover under load: senders keep sending through ``liaison serve`` while the
primary holding the recipient's queue is killed with SIGKILL; its replica is promoted (node
timeout 1 s) and the same server process serves on. With ``LIAISON_REDIS_WAIT_REPLICAS=1`` no
accepted message is lost; without it, whatever the replica had not yet received when the primary
died is, and the test prints how many (docs/operations.md quotes these runs)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from messaging import redis_keys
from messaging.client import AdminClient, LiaisonClient, ReceivedMessage, SdkError, enroll
from tests.cluster import LocalCluster
from tests.processes import ServerProcess
from tests.support import new_rpps

pytestmark = [pytest.mark.slow, pytest.mark.cluster]

ADMIN_TOKEN = "failover-operator-token"
SENDERS = 4
BEFORE_KILL = 60
"""Messages accepted before the primary is killed, and again once the server has recovered."""


class Load:
    """Senders sending to one recipient until stopped; what was accepted, what was refused."""

    def __init__(self, senders: list[LiaisonClient], recipient: str) -> None:
        self.senders = senders
        self.recipient = recipient
        self.accepted: list[tuple[float, str]] = []
        self.refused = 0
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._send(s)) for s in self.senders]

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)

    async def accepted_since(self, moment: float, count: int, within: float = 60.0) -> None:
        deadline = time.monotonic() + within
        while sum(1 for at, _ in self.accepted if at > moment) < count:
            assert time.monotonic() < deadline, f"fewer than {count} sends accepted in time"
            await asyncio.sleep(0.05)

    async def _send(self, sender: LiaisonClient) -> None:
        number = 0
        while not self._stop.is_set():
            number += 1
            try:
                result = await sender.send([self.recipient], f"Lot {number}", "corps")
            except SdkError:
                # 503 while the slot has no primary (or no replica to confirm): not accepted,
                # so not counted; the next send is a new message.
                self.refused += 1
                await asyncio.sleep(0.05)
                continue
            self.accepted.append((time.monotonic(), result.id))


@contextlib.asynccontextmanager
async def _people(url: str) -> AsyncIterator[tuple[LiaisonClient, list[LiaisonClient]]]:
    async with contextlib.AsyncExitStack() as stack:
        admin = await stack.enter_async_context(AdminClient(url, ADMIN_TOKEN))
        clients = []
        for number in range(SENDERS + 1):
            principal = new_rpps()
            await admin.create_principal(principal, "professional", f"Dr Charge {number}")
            code = (await admin.enrollment_code(principal)).code
            identity = await enroll(url, principal, code, "poste")
            client = await stack.enter_async_context(LiaisonClient(url, identity))
            await client.login()
            clients.append(client)
        yield clients[0], clients[1:]


async def _received_ids(client: LiaisonClient) -> set[str]:
    ids: set[str] = set()
    after = None
    while True:
        page = await client.fetch(after=after, limit=500)
        ids |= {e.id for e in page.events if isinstance(e, ReceivedMessage)}
        if not page.events and page.next == after:
            return ids
        after = page.next


async def _promoted(cluster: LocalCluster, key: str, dead: int, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while True:
        with contextlib.suppress(Exception):
            if cluster.primary_of(key).port != dead:
                return
        assert time.monotonic() < deadline, "the replica was not promoted in time"
        await asyncio.sleep(0.1)


@pytest.mark.parametrize("wait_replicas", [1, 0])
@pytest.mark.parametrize("redis_mode", ["cluster"], indirect=True)
async def test_a_failover_under_load(
    redis_url: str, redis_cluster: LocalCluster, tmp_path: Path, wait_replicas: int
) -> None:
    env = {
        "LIAISON_REDIS_WAIT_REPLICAS": str(wait_replicas),
        "LIAISON_REDIS_WAIT_TIMEOUT_SECONDS": "0.5",
        "LIAISON_REDIS_COMMAND_TIMEOUT_SECONDS": "2",
    }
    server = ServerProcess(
        redis_url, tmp_path / "server", ADMIN_TOKEN, redis_mode="cluster", env=env
    )
    with server:
        async with _people(server.url) as (recipient, senders):
            queue = redis_keys.queue(recipient.identity.device_id)
            victim = redis_cluster.primary_of(queue)
            load = Load(senders, recipient.identity.principal)
            load.start()
            try:
                await load.accepted_since(0, BEFORE_KILL)
                killed_at = time.monotonic()
                victim.kill()
                await _promoted(redis_cluster, queue, victim.port)
                promoted_at = time.monotonic()
                if wait_replicas:
                    # The promoted primary has no replica left to confirm a write: every send to
                    # its slots waits for one until the old primary comes back as its replica.
                    victim.start()
                # The same server process serves on: more sends accepted after the promotion.
                await load.accepted_since(promoted_at, BEFORE_KILL)
            finally:
                await load.stop()
            if not wait_replicas:
                victim.start()

            # Live delivery works again too: the wake-up subscriptions moved to the new owner.
            stream = recipient.stream()
            received = await _received_ids(recipient)
            live = await senders[0].send([recipient.identity.principal], "Après", "bascule")
            async with asyncio.timeout(20):
                async for item in stream:
                    if isinstance(item, ReceivedMessage) and item.id == live.id:
                        break
            await stream.aclose()

    accepted = {message_id for _, message_id in load.accepted}
    lost = accepted - received
    print(
        f"\nfailover, LIAISON_REDIS_WAIT_REPLICAS={wait_replicas}: {len(accepted)} accepted, "
        f"{len(lost)} lost, {load.refused} refused (503) while "
        f"{promoted_at - killed_at:.1f} s passed between the kill and the promotion"
    )
    if wait_replicas:
        assert not lost
    redis_cluster.wait_until_healthy()
