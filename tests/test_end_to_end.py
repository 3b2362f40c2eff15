"""Real processes: `liaison serve` in a child process, the SDK over HTTP and WebSocket."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from messaging.client import (
    AdminClient,
    BacklogDrained,
    LiaisonClient,
    ReceivedMessage,
    ReceivedReceipt,
    SdkError,
    enroll,
)
from messaging.redis_server import RedisServer
from tests.processes import ServerProcess
from tests.support import new_rpps

pytestmark = pytest.mark.slow
ALSO_ON_CLUSTER = True

ADMIN_TOKEN = "end-to-end-operator-token"


@pytest.fixture
def server(redis_url: str, redis_mode: str, tmp_path: Path) -> Iterator[ServerProcess]:
    with ServerProcess(
        redis_url, tmp_path / "server", ADMIN_TOKEN, redis_mode=redis_mode
    ) as process:
        yield process


@contextlib.asynccontextmanager
async def _devices(url: str, *counts: int) -> AsyncIterator[list[list[LiaisonClient]]]:
    """Professionals with ``counts[i]`` devices each, enrolled and logged in."""
    async with contextlib.AsyncExitStack() as stack:
        admin = await stack.enter_async_context(AdminClient(url, ADMIN_TOKEN))
        people: list[list[LiaisonClient]] = []
        for number, count in enumerate(counts):
            principal = new_rpps()
            await admin.create_principal(
                principal, "professional", f"Dr Test {number}", profession="médecin"
            )
            devices = []
            for _ in range(count):
                code = (await admin.enrollment_code(principal)).code
                identity = await enroll(url, principal, code, "poste")
                client = await stack.enter_async_context(LiaisonClient(url, identity))
                await client.login()
                devices.append(client)
            people.append(devices)
        yield people


async def _drain(
    client: LiaisonClient, events: list[ReceivedMessage | ReceivedReceipt] | None = None
) -> list[ReceivedMessage | ReceivedReceipt]:
    """Everything queued for ``client``, verified and decrypted, then acked; added to
    ``events`` as it comes, so that what was acked stays received if a later page fails."""
    events = [] if events is None else events
    after = None
    while True:
        page = await client.fetch(after=after, limit=100)
        for event in page.events:
            assert isinstance(event, ReceivedMessage | ReceivedReceipt), event
            events.append(event)
        if page.events:
            await client.ack([e.cursor for e in page.events if e.cursor is not None])
        if not page.events and page.next == after:
            return events
        after = page.next


async def test_professionals_and_an_organisation_exchange_over_http_and_websocket(
    server: ServerProcess,
) -> None:
    async with _devices(server.url, 2, 1, 1) as ([a1, a2], [b1], [c1]):
        async with AdminClient(server.url, ADMIN_TOKEN) as admin:
            await admin.create_principal(
                "org:e2e-cardiologie",
                "organisation",
                "Service de cardiologie",
                members=[b1.identity.principal, c1.identity.principal],
            )
        b_stream = b1.stream()
        assert isinstance(await anext(b_stream), BacklogDrained)

        direct = await a1.send([b1.identity.principal], "Direct", "Bonjour B")
        team = await a1.send(["org:e2e-cardiologie"], "Équipe", "Bonjour l'équipe")

        # b1 gets both live over the WebSocket and acks there.
        live = [await asyncio.wait_for(anext(b_stream), 10) for _ in range(2)]
        assert [(m.id, m.body) for m in live if isinstance(m, ReceivedMessage)] == [
            (direct.id, "Bonjour B"),
            (team.id, "Bonjour l'équipe"),
        ]
        await b1.ack([m.cursor for m in live if isinstance(m, ReceivedMessage)])

        # c1 polls over HTTP; a2 gets the sender's copies of both messages.
        [for_c] = await _drain(c1)
        assert isinstance(for_c, ReceivedMessage)
        assert for_c.body == "Bonjour l'équipe"
        copies = [m for m in await _drain(a2) if isinstance(m, ReceivedMessage)]
        assert sorted(m.id for m in copies) == sorted([direct.id, team.id])

        # The sender's device gets one signed receipt per acking recipient device.
        deadline = asyncio.get_running_loop().time() + 10
        receipts: list[ReceivedReceipt] = []
        while len(receipts) < 3 and asyncio.get_running_loop().time() < deadline:
            receipts += [r for r in await _drain(a1) if isinstance(r, ReceivedReceipt)]
        assert sorted((r.message_id, r.device) for r in receipts) == sorted(
            [
                (direct.id, b1.identity.device_id),
                (team.id, b1.identity.device_id),
                (team.id, c1.identity.device_id),
            ]
        )
        await b_stream.aclose()


async def _send_batch(sender: LiaisonClient, recipient: str, count: int) -> set[str]:
    sent = set()
    for number in range(count):
        result = await sender.send([recipient], f"Lot {number}", "corps")
        sent.add(result.id)
    return sent


async def _fetch_all_ids(client: LiaisonClient) -> list[str]:
    return [e.id for e in await _drain(client) if isinstance(e, ReceivedMessage)]


async def test_killed_server_loses_no_accepted_message(
    redis_url: str, redis_mode: str, tmp_path: Path
) -> None:
    first = ServerProcess(redis_url, tmp_path / "server", ADMIN_TOKEN, redis_mode=redis_mode)
    first.start()
    try:
        async with _devices(first.url, 1, 1) as ([alice], [bob]):
            sent = await _send_batch(alice, bob.identity.principal, 40)
    finally:
        first.kill()
    second = ServerProcess(redis_url, tmp_path / "server", ADMIN_TOKEN, redis_mode=redis_mode)
    second.start()
    try:
        async with LiaisonClient(second.url, bob.identity) as bob_again:
            received = await _fetch_all_ids(bob_again)
    finally:
        second.stop()
    assert sorted(received) == sorted(sent)


async def test_redis_restart_loses_no_accepted_message(
    server: ServerProcess, redis_server: RedisServer
) -> None:
    async with _devices(server.url, 1, 1) as ([alice], [bob]):
        sent = await _send_batch(alice, bob.identity.principal, 40)
        # SIGKILL: no shutdown save; only what appendfsync always wrote survives.
        redis_server.kill()
        redis_server.start()
        deadline = asyncio.get_running_loop().time() + 15
        events: list[ReceivedMessage | ReceivedReceipt] = []
        while True:
            try:
                await _drain(bob, events)
                break
            except SdkError:
                # Pages acked before the error are not queued any more: they stay received.
                if asyncio.get_running_loop().time() > deadline:
                    raise
                await asyncio.sleep(0.2)
    # At least once: a page whose ack failed comes again.
    assert {e.id for e in events if isinstance(e, ReceivedMessage)} == sent
