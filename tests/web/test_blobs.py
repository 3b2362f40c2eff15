"""Large attachments between the browser and a Python-SDK device (docs/protocol.md, "Blobs"): a
file over 256 KiB leaves the browser as a blob (its upload cut once and resumed from the
server's offset) and reaches the SDK byte for byte; one the SDK sends is downloaded in the
browser, checked and saved byte for byte (and the sender's own, from its sent messages); a
tampered or truncated blob is refused, visibly, and nothing is saved."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from playwright.async_api import Download, Route, expect

from messaging.blob_stream import SEALED_CHUNK_BYTES, sealed_size
from messaging.client import ReceivedMessage
from messaging.client.blobs import BLOB_THRESHOLD
from messaging.settings import Settings
from tests.web.conftest import BROWSER
from tests.web.people import Pair, received

pytestmark = BROWSER

CUT_AT = 700_000
"""Bytes of the first PATCH that reach the server before its connection fails."""


async def test_a_large_file_from_the_browser_reaches_the_sdk_as_a_blob_resumed_after_a_cut(
    people: Pair, tmp_path: Path
) -> None:
    web, bruno, sdk = people.web, people.bruno, people.sdk
    scan = os.urandom(1_500_000)
    offsets: list[str] = []

    async def cut_once(route: Route) -> None:
        request = route.request
        if request.method != "PATCH":
            await route.continue_()
            return
        offsets.append(await request.header_value("upload-offset") or "")
        body = request.post_data_buffer or b""
        if len(offsets) > 1:
            await route.continue_()
            return
        # The server gets the first CUT_AT bytes, the browser a failed request: as a
        # connection lost mid-upload, after the server kept what arrived.
        await route.fetch(post_data=body[:CUT_AT])
        await route.abort("connectionreset")

    await web.page.route("**/v1/blobs/*", cut_once)
    result = await web.send(
        [("Bruno", bruno)],
        "Scanner thoracique",
        "Images jointes.",
        files=[
            {"name": "scanner.dcm", "mimeType": "application/dicom", "buffer": scan},
            {"name": "note.txt", "mimeType": "text/plain", "buffer": b"inline"},
        ],
    )
    await expect(result.locator("p.ok")).to_contain_text("envoyé")
    await expect(result.locator('p[data-upload="scanner.dcm"]')).to_contain_text("100 %")
    assert offsets == ["0", str(CUT_AT)]

    [message] = await received(sdk, ReceivedMessage)
    assert [(a.name, a.data) for a in message.attachments] == [("note.txt", b"inline")]
    [blob] = message.blobs
    assert (blob.name, blob.media_type, blob.blob.size) == (
        "scanner.dcm",
        "application/dicom",
        len(scan),
    )
    saved = await sdk.blobs.download(blob, tmp_path)
    assert saved.read_bytes() == scan

    # The sender's device may read its own blob back, from « Envoyés ».
    await web.nav("Envoyés")
    await web.page.locator("#sent-list button", has_text="Scanner thoracique").click()
    async with web.page.expect_download() as started:
        await web.by_id("sent-reader").get_by_role("button", name="Télécharger scanner.dcm").click()
    assert (await (await started.value).path()).read_bytes() == scan


async def test_a_blob_from_the_sdk_is_downloaded_checked_and_saved_in_the_browser(
    people: Pair, tmp_path: Path
) -> None:
    source = tmp_path / "irm.bin"
    source.write_bytes(os.urandom(2_300_000))
    await people.sdk.send([people.alice], "IRM", "Séquences jointes.", files=[source])
    reader = await people.web.open_message("IRM")
    async with people.web.page.expect_download() as started:
        await reader.get_by_role("button", name="Télécharger irm.bin").click()
    download = await started.value
    assert download.suggested_filename == "irm.bin"
    saved = await download.path()
    assert (
        hashlib.blake2b(saved.read_bytes()).digest()
        == hashlib.blake2b(source.read_bytes()).digest()
    )
    await expect(reader.locator("[data-saved]")).to_contain_text("Fichier vérifié")


async def test_a_tampered_or_truncated_blob_is_refused_in_the_browser(
    people: Pair, settings: Settings, tmp_path: Path, screenshots: Path
) -> None:
    web, sdk = people.web, people.sdk
    files = []
    for name, extra in (("altere.bin", 200_000), ("tronque.bin", 300_000)):
        path = tmp_path / name
        path.write_bytes(os.urandom(BLOB_THRESHOLD + extra))
        files.append(path)
    await sdk.send([people.alice], "Deux fichiers", "Ci-joints.", files=files)
    # Each file's blob on the server's disk, told apart by its size.
    by_size = {p.stat().st_size: p for p in settings.blob_root.glob("*/blb_*")}
    stored = {f.name: by_size[sealed_size(f.stat().st_size)] for f in files}
    data = bytearray(stored["altere.bin"].read_bytes())
    data[24 + SEALED_CHUNK_BYTES + 100] ^= 0x01  # one bit of the second chunk
    stored["altere.bin"].write_bytes(data)
    whole = stored["tronque.bin"].read_bytes()
    stored["tronque.bin"].write_bytes(whole[: 24 + 2 * SEALED_CHUNK_BYTES])

    downloads: list[Download] = []
    web.page.on("download", lambda download: downloads.append(download))
    reader = await web.open_message("Deux fichiers")
    for name in ("altere.bin", "tronque.bin"):
        await reader.get_by_role("button", name=f"Télécharger {name}").click()
        refusal = reader.locator(f'li:has-text("{name}") p[data-error="blob_refused"]')
        await expect(refusal).to_contain_text("Fichier refusé")
        await expect(refusal).to_contain_text("altéré ou tronqué")
    assert downloads == []
    assert await web.axe() == []
    await web.screenshot(screenshots / "blob-refused.png")
