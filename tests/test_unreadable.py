"""One bad message never jams a recipient (DESIGN §5): the SDK and the CLI show an unreadable
message with its sender and id, ack it and read on; nothing a sender writes can drive the
reader's terminal; and the SDK never sends what has no canonical form."""

from __future__ import annotations

import asyncio
import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from messaging.cli import main
from messaging.client import (
    DeviceIdentity,
    LiaisonClient,
    ReceivedMessage,
    SdkError,
    UnreadableMessage,
)
from tests.processes import watching
from tests.support import Device, World, compose, with_plaintext

HALF_AN_EMOJI = b'{"attachments":[],"body":"x","subject":"\\ud83d"}'


def _url(world: World) -> str:
    return str(world.client.make_url("")).rstrip("/")


def _identity(world: World, device: Device) -> DeviceIdentity:
    return DeviceIdentity(_url(world), device.principal, device.device_id, device.keys)


def _client(world: World, device: Device) -> LiaisonClient:
    return LiaisonClient(_url(world), _identity(world, device))


def _key_file(world: World, device: Device, directory: Path) -> str:
    path = directory / f"{device.device_id}.json"
    _identity(world, device).save(path)
    return str(path)


async def _send(world: World, sender: Device, envelope: dict[str, Any]) -> None:
    response = await world.client.post("/v1/messages", json=envelope, headers=sender.headers)
    assert response.status == 202, await response.text()


async def _queue(world: World, device: Device) -> list[dict[str, Any]]:
    response = await world.client.get("/v1/messages", headers=device.headers)
    events: list[dict[str, Any]] = (await response.json())["events"]
    return events


async def _jam(world: World) -> tuple[Device, Device, str, str]:
    """Alice sends Bob half an emoji, then an ordinary message; the ids of both."""
    alice, bob = await world.professional(), await world.professional()
    bad = with_plaintext(compose(alice, [bob.principal], [bob]), HALF_AN_EMOJI, alice, bob)
    await _send(world, alice, bad)
    good = compose(alice, [bob.principal], [bob], subject="La suite")
    await _send(world, alice, good)
    return alice, bob, bad["id"], good["id"]


@pytest.mark.parametrize("options", [[], ["--json"], ["--ack-invalid"]])
async def test_inbox_shows_an_unreadable_message_acks_it_and_reads_on(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str], options: list[str]
) -> None:
    alice, bob, bad, good = await _jam(world)
    key_file = _key_file(world, bob, tmp_path)

    assert await asyncio.to_thread(main, ["inbox", "--key-file", key_file, *options]) == 0
    out = capsys.readouterr().out
    if "--json" in options:
        events = json.loads(out)["events"]
        assert [(e["type"], e["id"]) for e in events] == [("unreadable", bad), ("message", good)]
        assert (events[0]["code"], events[0]["sender"]) == ("malformed_content", alice.principal)
    else:
        assert f"unreadable  {bad}" in out
        assert f"from        {alice.principal} ({alice.device_id})" in out
        assert "problem     malformed_content: " in out
        assert "La suite" in out

    # Both acked: gone from Bob's queue, and a delivery receipt for each went to Alice.
    assert await _queue(world, bob) == []
    assert sorted(await _receipts(world, alice, 2)) == sorted([bad, good])
    assert await asyncio.to_thread(main, ["inbox", "--key-file", key_file, *options]) == 0
    assert "unreadable" not in capsys.readouterr().out


async def _receipts(world: World, sender: Device, count: int) -> list[str]:
    """The message ids of the first ``count`` receipts queued for ``sender`` (long polls)."""
    ids: list[str] = []
    params = {"wait": "10"}
    while len(ids) < count:
        response = await world.client.get("/v1/messages", params=params, headers=sender.headers)
        page = await response.json()
        ids += [e["receipt"]["message_id"] for e in page["events"] if e["type"] == "receipt"]
        params = {"wait": "10", "after": page["next"]}
    return ids


async def test_watch_shows_an_unreadable_message_acks_it_and_streams_on(
    world: World, tmp_path: Path
) -> None:
    alice, bob, bad, good = await _jam(world)
    key_file = _key_file(world, bob, tmp_path)
    async with watching("--key-file", key_file) as watch:
        seen = await watch.read_until("backlog delivered")
        # Both acked: each ack sends Alice a delivery receipt.
        async with asyncio.timeout(30):
            assert sorted(await _receipts(world, alice, 2)) == sorted([bad, good])
    assert watch.process.returncode == 0, watch.errors
    assert seen.index(f"unreadable  {bad}") < seen.index(f"message  {good}")
    assert "malformed_content" in seen
    assert await _queue(world, bob) == []


async def test_the_sdk_hands_over_an_unreadable_message_then_the_next(world: World) -> None:
    alice, bob, bad, good = await _jam(world)
    async with _client(world, bob) as client:
        unreadable, message = (await client.fetch()).events
        assert isinstance(unreadable, UnreadableMessage)
        assert (unreadable.id, unreadable.sender, unreadable.code) == (
            bad,
            alice.principal,
            "malformed_content",
        )
        assert "unpaired surrogate" in unreadable.detail
        assert isinstance(message, ReceivedMessage)
        assert message.id == good


async def test_members_a_later_version_adds_are_kept_and_ignored(world: World) -> None:
    alice, bob = await world.professional(), await world.professional()
    later = b'{"attachments":[],"body":"x","priority":"urgent","subject":"s"}'
    await _send(
        world, alice, with_plaintext(compose(alice, [bob.principal], [bob]), later, alice, bob)
    )
    async with _client(world, bob) as client:
        (message,) = (await client.fetch()).events
    assert isinstance(message, ReceivedMessage)
    assert (message.subject, message.extra) == ("s", {"priority": "urgent"})
    assert message.as_dict()["extra"] == {"priority": "urgent"}


HOSTILE = "\x1b]0;owned\x07\x1b[2J\u202egnp.exe\x9b31m"


async def test_nothing_a_sender_writes_reaches_the_terminal_raw(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    alice, bob = await world.professional(), await world.professional()
    async with _client(world, alice) as client:
        await client.send(
            [bob.principal],
            f"objet {HOSTILE}\nfrom        rpps:00000000000",
            f"ligne 1\n{HOSTILE}\r\nligne 3",
            [(f"{HOSTILE}.pdf", "application/pdf", b"%PDF")],
        )
    key_file = _key_file(world, bob, tmp_path)

    for options in ([], ["--json", "--no-ack"]):
        assert (
            await asyncio.to_thread(main, ["inbox", "--no-ack", "--key-file", key_file, *options])
            == 0
        )
        out = capsys.readouterr().out
        for raw in ("\x1b", "\x07", "\u202e", "\x9b", "\r"):
            assert raw not in out
        assert "\\u001b]0;owned" in out
    # The subject's line break cannot forge a "from" row; the body keeps its own lines.
    assert "objet \\u001b]0;owned\\u0007\\u001b[2J\\u202egnp.exe\\u009b31m\\u000afrom" in (
        await _inbox_text(key_file, capsys)
    )


async def _inbox_text(key_file: str, capsys: pytest.CaptureFixture[str]) -> str:
    assert await asyncio.to_thread(main, ["inbox", "--no-ack", "--key-file", key_file]) == 0
    return capsys.readouterr().out


async def test_a_terminal_without_unicode_gets_escapes_not_a_crash(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice, bob = await world.professional(), await world.professional()
    await _send(world, alice, compose(alice, [bob.principal], [bob], subject="Écho 🫀"))
    terminal = io.TextIOWrapper(io.BytesIO(), encoding="ascii")
    monkeypatch.setattr(sys, "stdout", terminal)
    argv = ["inbox", "--key-file", _key_file(world, bob, tmp_path)]
    assert await asyncio.to_thread(main, argv) == 0
    terminal.flush()
    assert isinstance(terminal.buffer, io.BytesIO)
    assert b"\\xc9cho \\U0001fac0" in terminal.buffer.getvalue()


async def test_the_sdk_refuses_to_send_half_an_emoji(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    alice, bob = await world.professional(), await world.professional()
    async with _client(world, alice) as client:
        with pytest.raises(SdkError) as refused:
            await client.send([bob.principal], "Résultat 😀"[:-1] + "\ud83d", "x")
    assert refused.value.code == "invalid_content"
    assert "unpaired surrogate" in refused.value.detail
    assert "/subject" in refused.value.detail

    # From the command line, bytes that are not UTF-8 arrive as lone surrogates too.
    argv = ["send", "--key-file", _key_file(world, alice, tmp_path), "--to", bob.principal]
    code = await asyncio.to_thread(main, [*argv, "--subject", "\udcff", "--body", "x"])
    assert code == 1
    assert "error: invalid_content: " in capsys.readouterr().err
    assert await _queue(world, bob) == []
