"""The inbox over the WebSocket survives what real networks do: a second tab of the same device
displaces the first (4409) without either showing a message twice, and a server killed and
restarted is reconnected to, with every event shown exactly once even when the server delivers
again what the browser had already kept (its ack lost with the server)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import WebSocketRoute, expect

from messaging.client import AdminClient, LiaisonClient, ReceivedReceipt
from tests.conftest import ADMIN_TOKEN
from tests.processes import ServerProcess
from tests.web.conftest import BROWSER
from tests.web.pages import WebPage
from tests.web.people import OpenPage, Pair, professional, received, sdk_device

pytestmark = BROWSER


async def test_a_second_tab_displaces_the_first_and_nothing_is_shown_twice(
    people: Pair, base_url: str
) -> None:
    first, alice, sdk = people.web, people.alice, people.sdk
    await sdk.send([alice], "Avant", "Premier message.")
    await expect(first.inbox_items().filter(has_text="Avant")).to_have_count(1)

    # The same device (same profile) opened in a second tab: its socket takes over.
    second = WebPage(first.context, await first.context.new_page(), base_url)
    second.page.on("pageerror", lambda error: second.errors.append(str(error)))
    await second.page.goto(f"{base_url}/app/")
    await second.unlock()
    connection = first.by_id("connection")
    await expect(connection).to_have_attribute("data-state", "displaced")
    await expect(
        first.page.get_by_role("button", name="Reprendre la réception ici")
    ).to_be_visible()

    await sdk.send([alice], "Pendant", "Deuxième message.")
    await expect(second.inbox_items().filter(has_text="Pendant")).to_have_count(1)
    await expect(second.inbox_items()).to_have_count(2)

    # Back to the first tab: it takes in what the second kept, and shows each message once.
    await first.page.get_by_role("button", name="Reprendre la réception ici").click()
    await first.expect_live()
    await expect(second.by_id("connection")).to_have_attribute("data-state", "displaced")
    await sdk.send([alice], "Après", "Troisième message.")
    await expect(first.inbox_items().filter(has_text="Après")).to_have_count(1)
    await expect(first.inbox_items()).to_have_count(3)
    assert second.errors == []


@pytest.fixture
def process(redis_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    with ServerProcess(redis_url, tmp_path / "server", ADMIN_TOKEN) as server:
        yield server


@pytest_asyncio.fixture(loop_scope="session")
async def process_admin(process: ServerProcess) -> AsyncIterator[AdminClient]:
    async with AdminClient(process.url, ADMIN_TOKEN) as client:
        yield client


@pytest.mark.slow
async def test_a_killed_server_is_reconnected_to_and_redelivered_events_are_shown_once(
    open_page: OpenPage, process: ServerProcess, process_admin: AdminClient
) -> None:
    alice = await professional(process_admin, "Dr Alice Martin", "médecin généraliste")
    bruno = await professional(process_admin, "Dr Bruno Petit", "cardiologue")
    log = (process.data_dir / "server.log").read_text()
    assert f"liaison: web client on {process.url}/app/" in log
    web = await open_page(process.url)

    # Acks from the page are held back while ``holding``: the server never learns that the
    # browser kept the message, so it delivers it again after the restart.
    holding = True

    def relay(ws: WebSocketRoute) -> None:
        server = ws.connect_to_server()

        def upstream(message: str | bytes) -> None:
            if not (holding and isinstance(message, str) and '"type":"ack"' in message):
                server.send(message)

        ws.on_message(upstream)
        server.on_message(ws.send)

    await web.page.route_web_socket("**/v1/stream", relay)
    await web.enroll(alice, (await process_admin.enrollment_code(alice)).code)
    sdk: LiaisonClient
    async with await sdk_device(process_admin, process.url, bruno) as sdk:
        before = await sdk.send([alice], "Avant l'arrêt", "Gardé, non acquitté.")
        await expect(web.inbox_items().filter(has_text="Avant l'arrêt")).to_have_count(1)

        process.kill()
        await expect(web.by_id("connection")).to_have_attribute("data-state", "offline")
        holding = False
        process.start()
        await web.expect_live()

        after = await sdk.send([alice], "Après le redémarrage", "Nouveau message.")
        await expect(web.inbox_items().filter(has_text="Après le redémarrage")).to_have_count(1)
        await expect(web.inbox_items()).to_have_count(2)
        # The message delivered again was acked this time (without being shown twice): each
        # message got its delivery receipt.
        receipts = await received(sdk, ReceivedReceipt, count=2)
        assert sorted(r.message_id for r in receipts) == sorted([before.id, after.id])
        await web.page.reload()
        await web.unlock()
        await expect(web.inbox_items()).to_have_count(2)
