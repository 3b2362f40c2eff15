"""Enroll in the browser, then exchange with a Python-SDK device both ways: each side verifies
the other's signature and decrypts; receipts come back signed and are shown per device."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TypeVar

from playwright.async_api import expect

from messaging.client import AdminClient, LiaisonClient, ReceivedMessage, ReceivedReceipt, enroll
from tests.support import new_rpps
from tests.web.conftest import BROWSER, OpenPage

pytestmark = BROWSER

E = TypeVar("E", ReceivedMessage, ReceivedReceipt)

BODY = "Patiente vue ce jour.\nTA 12/8, traitement inchangé ; revoir dans un mois. 🩺"


async def professional(admin: AdminClient, name: str, profession: str) -> str:
    principal = new_rpps()
    await admin.create_principal(principal, "professional", name, profession=profession)
    return principal


async def sdk_device(admin: AdminClient, base_url: str, principal: str) -> LiaisonClient:
    code = (await admin.enrollment_code(principal)).code
    return LiaisonClient(base_url, await enroll(base_url, principal, code, "poste SDK"))


async def received(sdk: LiaisonClient, kind: type[E], count: int = 1) -> list[E]:
    """Events of ``kind`` for ``sdk`` (verified by the SDK), acking all it reads: waits for
    ``count`` of them; with ``count=0``, reads what is queued now."""
    found: list[E] = []
    deadline = asyncio.get_running_loop().time() + 10
    after = None
    while True:
        page = await sdk.fetch(after=after, wait=1 if count else 0)
        after = page.next or after
        found += [e for e in page.events if isinstance(e, kind)]
        if page.events:
            await sdk.ack([e.cursor for e in page.events if e.cursor])
        if len(found) >= count or asyncio.get_running_loop().time() > deadline:
            return found


async def test_a_browser_device_and_an_sdk_device_exchange_both_ways(
    open_page: OpenPage, admin: AdminClient, base_url: str, screenshots: Path
) -> None:
    alice = await professional(admin, "Dr Alice Martin", "médecin généraliste")
    bruno = await professional(admin, "Dr Bruno Petit", "cardiologue")
    web = await open_page()
    await web.enroll(alice, (await admin.enrollment_code(alice)).code)
    alice_device = await web.device_id()

    async with await sdk_device(admin, base_url, bruno) as sdk:
        result = await web.send(
            [("Bruno", bruno)],
            "Adressage cardiologie",
            BODY,
            files=[{"name": "ecg.txt", "mimeType": "text/plain", "buffer": b"rythme sinusal"}],
        )
        await expect(result.locator("p.ok")).to_contain_text("envoyé")
        [message] = await received(sdk, ReceivedMessage)
        assert (message.sender, message.sender_device) == (alice, alice_device)
        assert (message.subject, message.body) == ("Adressage cardiologie", BODY)
        assert [(a.name, a.media_type, a.data) for a in message.attachments] == [
            ("ecg.txt", "text/plain", b"rythme sinusal")
        ]

        # The SDK's ack made a signed receipt; the browser shows it against Bruno's device.
        await web.nav("Envoyés")
        await web.page.locator("#sent-list button", has_text="Adressage cardiologie").click()
        row = web.page.locator(f'#sent-reader tr[data-device="{sdk.identity.device_id}"]')
        await expect(row).to_contain_text("Distribué le")

        reply = await sdk.send(
            [alice], "Re : Adressage cardiologie", "Reçu, je la vois mardi.", in_reply_to=message.id
        )
        reader = await web.open_message("Re : Adressage cardiologie")
        await expect(reader).to_contain_text("Reçu, je la vois mardi.")
        await expect(reader).to_contain_text("Dr Bruno Petit")
        await expect(reader).to_contain_text("Signature de l'appareil expéditeur vérifiée")
        [receipt] = await received(sdk, ReceivedReceipt)
        assert (receipt.message_id, receipt.device) == (reply.id, alice_device)
        await sdk.send(
            [alice],
            "Résultats d'échographie",
            "Compte rendu joint.",
            [("echo.pdf", "application/pdf", b"%PDF-1.4 ...")],
        )
        await expect(web.page.locator("#inbox-list li.unread")).to_have_count(1)
        await web.screenshot(screenshots / "inbox.png")
