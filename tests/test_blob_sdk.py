"""Blobs through the SDK (docs/protocol.md, "Blobs"): ``send(files=...)`` switches to a blob
above the threshold, recipients download, check and write it; a connection cut in either
direction is resumed; a tampered, truncated or mis-described blob is refused and leaves no file.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient
from aiohttp.web import Application, Request

from messaging import crypto
from messaging.blob_models import BlobStatus
from messaging.blob_stream import CHUNK_BYTES, SEALED_CHUNK_BYTES
from messaging.client import DeviceIdentity, LiaisonClient, ReceivedMessage, VerificationError
from messaging.client.blobs import BLOB_THRESHOLD
from messaging.client.content import BlobAttachment
from messaging.settings import Settings
from tests.relay import cutting_proxy
from tests.support import Device, World, run_cli

Connect = Callable[[Device], LiaisonClient]


@pytest.fixture
def base_url(client: TestClient[Request, Application]) -> str:
    return str(client.make_url(""))


def _identity(device: Device, url: str) -> DeviceIdentity:
    return DeviceIdentity(url, device.principal, device.device_id, device.keys)


@pytest.fixture
def connect(client: TestClient[Request, Application], base_url: str) -> Connect:
    def make(device: Device) -> LiaisonClient:
        return LiaisonClient(base_url, _identity(device, base_url), session=client.session)

    return make


def _file(directory: Path, name: str, size: int) -> Path:
    path = directory / name
    path.write_bytes(bytes((i * 7 + i // 251) % 256 for i in range(size)))
    return path


async def _received(device: LiaisonClient) -> ReceivedMessage:
    fetched = await device.fetch()
    [message] = fetched.events
    assert isinstance(message, ReceivedMessage), message
    await device.ack([message.cursor])
    return message


async def test_a_large_file_travels_as_a_blob_to_every_device(
    world: World, connect: Connect, tmp_path: Path
) -> None:
    alice = await world.professional()
    bob = await world.professional()
    bob_phone = await world.enroll(bob.principal)
    small = _file(tmp_path, "ordonnance.txt", 1000)
    large = _file(tmp_path, "scanner.dcm", BLOB_THRESHOLD + 1)
    seen: list[tuple[int, int]] = []
    sender = connect(alice)
    await sender.send(
        [bob.principal],
        "Résultats",
        "Ci-joint.",
        files=[small, large],
        progress=lambda path: lambda done, total: seen.append((done, total)),
    )
    assert seen
    assert seen[-1][0] == seen[-1][1]
    for number, device in enumerate((bob, bob_phone)):
        message = await _received(connect(device))
        assert [a.name for a in message.attachments] == ["ordonnance.txt"]
        assert message.attachments[0].data == small.read_bytes()
        [attachment] = message.blobs
        assert (attachment.name, attachment.media_type) == ("scanner.dcm", "application/dicom")
        saved = tmp_path / f"inbox-{number}"
        saved.mkdir()
        path = await connect(device).blobs.download(attachment, saved)
        assert path == saved / "scanner.dcm"
        assert path.read_bytes() == large.read_bytes()
        # A second copy never overwrites the first.
        again = await connect(device).blobs.download(attachment, saved)
        assert again.name == "scanner (2).dcm"
        assert sorted(p.name for p in saved.iterdir()) == ["scanner (2).dcm", "scanner.dcm"]


async def _one_blob(
    world: World, connect: Connect, tmp_path: Path
) -> tuple[LiaisonClient, BlobAttachment, Path]:
    alice, bob = await world.professional(), await world.professional()
    source = _file(tmp_path, "cr.pdf", 5 * CHUNK_BYTES)
    await connect(alice).send([bob.principal], "CR", "", files=[source])
    reader = connect(bob)
    [attachment] = (await _received(reader)).blobs
    return reader, attachment, source


def _stored(settings: Settings, attachment: BlobAttachment) -> Path:
    blob = attachment.blob.id
    return settings.blob_root / blob[4:6] / blob


@pytest.mark.parametrize(
    ("spoil", "reason"),
    [
        ("tamper", "does not authenticate"),
        ("truncate", "cut short"),
        ("digest", "digest"),
    ],
)
async def test_a_spoilt_blob_is_refused_and_nothing_is_written(
    world: World, connect: Connect, tmp_path: Path, settings: Settings, spoil: str, reason: str
) -> None:
    reader, attachment, _ = await _one_blob(world, connect, tmp_path)
    stored = _stored(settings, attachment)
    data = bytearray(stored.read_bytes())
    if spoil == "tamper":  # one bit of the second chunk, as a disk or a server could
        data[24 + SEALED_CHUNK_BYTES + 100] ^= 0x01
        stored.write_bytes(data)
    elif spoil == "truncate":  # the final chunk gone: every byte left still authenticates
        stored.write_bytes(data[: 24 + 2 * SEALED_CHUNK_BYTES])
    else:  # a reference naming another digest (a blob swapped for another)
        wrong = dataclasses.replace(attachment.blob, digest=crypto.digest(b"another"))
        attachment = dataclasses.replace(attachment, blob=wrong)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    with pytest.raises(VerificationError, match=reason) as refused:
        await reader.blobs.download(attachment, inbox)
    assert refused.value.code == "blob_refused"
    assert list(inbox.iterdir()) == []


async def test_a_cut_upload_and_a_cut_download_resume(
    world: World, base_url: str, connect: Connect, tmp_path: Path
) -> None:
    alice, bob = await world.professional(), await world.professional()
    source = _file(tmp_path, "irm.dcm", 1_500_000)
    resumed_at: list[int] = []
    cuts = {"up": 600_000, "down": 0}
    async with (
        cutting_proxy(base_url, cuts) as via,
        LiaisonClient(via, _identity(alice, via)) as sender,
    ):
        real_status = sender.blobs.status

        async def watched(blob_id: str) -> BlobStatus:
            status = await real_status(blob_id)
            resumed_at.append(status.held)
            return status

        sender.blobs.status = watched  # type: ignore[method-assign]
        await sender.send([bob.principal], "IRM", "", files=[source])
    # The server kept what arrived before the cut, and the rest came from there.
    assert cuts["up"] == 0
    assert resumed_at
    assert 0 < resumed_at[0] < 1_500_000
    [attachment] = (await _received(connect(bob))).blobs
    cuts["down"] = 700_000
    async with (
        cutting_proxy(base_url, cuts) as via,
        LiaisonClient(via, _identity(bob, via)) as reader,
    ):
        (tmp_path / "inbox").mkdir()
        path = await reader.blobs.download(attachment, tmp_path / "inbox")
    assert cuts["down"] == 0  # cut mid-download, resumed with a Range
    assert path.read_bytes() == source.read_bytes()


async def test_the_cli_sends_a_large_attachment_as_a_blob_and_saves_it(
    world: World, base_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    alice, bob = await world.professional(), await world.professional()
    keys = {}
    for device in (alice, bob):
        keys[device] = str(tmp_path / f"{device.device_id}.json")
        _identity(device, base_url.rstrip("/")).save(Path(keys[device]))
    small = _file(tmp_path, "note.txt", 100)
    large = _file(tmp_path, "echo.mp4", BLOB_THRESHOLD + 10)
    send = ["send", "--key-file", keys[alice], "--to", bob.principal, "--subject", "Écho"]
    send += ["--body", "ci-joint", "--attach", str(small), "--attach", str(large)]
    assert await run_cli(send) == 0
    inbox = tmp_path / "inbox"
    command = ["inbox", "--key-file", keys[bob], "--save-attachments", str(inbox)]
    assert await run_cli(command) == 0
    out = capsys.readouterr()
    assert f"echo.mp4 (video/mp4, {BLOB_THRESHOLD + 10} bytes, to download)" in out.out
    assert f"saved {inbox / 'echo.mp4'}" in out.out
    assert (inbox / "note.txt").read_bytes() == small.read_bytes()
    assert (inbox / "echo.mp4").read_bytes() == large.read_bytes()
