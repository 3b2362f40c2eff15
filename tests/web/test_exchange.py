"""Enroll in the browser, then exchange with a Python-SDK device both ways: each side verifies
the other's signature and decrypts; receipts come back signed and are shown per device."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import expect

from messaging.client import AdminClient, ReceivedMessage, ReceivedReceipt
from tests.web.conftest import BROWSER
from tests.web.people import Pair, received, sdk_device

pytestmark = BROWSER

BODY = "Patiente vue ce jour.\nTA 12/8, traitement inchangé ; revoir dans un mois. 🩺"


async def test_a_browser_device_and_an_sdk_device_exchange_both_ways(
    people: Pair, screenshots: Path
) -> None:
    web, alice, bruno, sdk = people.web, people.alice, people.bruno, people.sdk
    alice_device = await web.device_id()

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


async def test_a_stale_directory_is_refreshed_silently_and_every_device_gets_the_message(
    people: Pair, admin: AdminClient, base_url: str
) -> None:
    web, bruno, sdk = people.web, people.bruno, people.sdk
    sends: list[int] = []
    web.page.on(
        "response",
        lambda response: (
            sends.append(response.status)
            if response.request.method == "POST" and response.url.endswith("/v1/messages")
            else None
        ),
    )
    await web.send([("Bruno", bruno)], "Premier", "Le premier.")
    [first] = await received(sdk, ReceivedMessage)
    assert first.subject == "Premier"

    # Bruno enrolls a second device: the browser's cached directory entry is now stale, the
    # server answers 409 stale_devices, and the client refreshes and sends again, unseen.
    async with await sdk_device(admin, base_url, bruno) as tablet:
        result = await web.send([("Bruno", bruno)], "Second", "Le second.")
        await expect(result.locator("p.ok")).to_contain_text("envoyé")
        await expect(result.locator("p.error")).to_have_count(0)
        for device in (sdk, tablet):
            [message] = await received(device, ReceivedMessage)
            assert (message.subject, message.body) == ("Second", "Le second.")
    assert sends == [202, 409, 202]
