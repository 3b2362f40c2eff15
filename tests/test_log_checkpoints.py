"""Signed access-log checkpoints (DESIGN §4, TR-2): what the server signs and sends, and how the
SDK and ``liaison verify-log`` catch a log that was cut or rewritten, even with every hash
recomputed, against a checkpoint kept from before."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from aiohttp.web import Application, Request
from redis.asyncio import Redis

from dossier_link.access_log import entry_hash
from dossier_link.log_models import LogCheckpoint
from messaging import crypto, log_signing, redis_keys
from messaging.cli import main
from messaging.client import (
    CheckpointStore,
    DeviceIdentity,
    InvalidEvent,
    LiaisonClient,
    ReceivedNotification,
)
from messaging.delivery import ServerEvents
from messaging.server.appkeys import MAILBOX
from messaging.server_keys import load_or_create
from messaging.settings import Settings
from tests.dossiers import (
    attach_document,
    declare_mt,
    dossier_call,
    grant_access,
    notifications,
    open_dossier,
    open_emergency,
    send_linked,
    stored_log,
)
from tests.support import Device, World

Connect = Callable[..., LiaisonClient]


@pytest.fixture
def connect(client: TestClient[Request, Application]) -> Connect:
    """An SDK client for a test device; ``checkpoints`` is where it keeps them."""
    base_url = str(client.make_url(""))

    def make(device: Device, checkpoints: CheckpointStore | None = None) -> LiaisonClient:
        identity = DeviceIdentity(base_url, device.principal, device.device_id, device.keys)
        return LiaisonClient(base_url, identity, session=client.session, checkpoints=checkpoints)

    return make


async def _server_key(world: World) -> bytes:
    info = await (await world.client.get("/v1/server")).json()
    return crypto.b64u_decode(info["sign_key"])


async def _access_log(world: World, reader: Device, ins: str) -> dict[str, Any]:
    status, log = await dossier_call(world, reader, "GET", f"/v1/dossiers/{ins}/access-log")
    assert status == 200, log
    assert isinstance(log, dict)
    return log


def _assert_signed(checkpoint: dict[str, Any], server_key: bytes) -> None:
    body = {k: v for k, v in checkpoint.items() if k != "signature"}
    log_signing.verify_log_checkpoint(body, checkpoint["signature"], server_key)


async def _busy_dossier(world: World) -> tuple[Device, str, Device]:
    """A holder's dossier with a dozen entries: an MT who wrote, a grantee who read."""
    holder, ins = await open_dossier(world)
    gp, nurse = await world.professional(), await world.professional()
    await declare_mt(world, holder, ins, gp)
    await grant_access(world, holder, ins, nurse)
    for _ in range(2):
        await attach_document(world, gp, ins)
        await dossier_call(world, nurse, "GET", f"/v1/dossiers/{ins}/documents")
    return holder, ins, gp


# --- what the server signs and sends ------------------------------------------------------------


async def test_every_log_read_carries_the_latest_checkpoint_signed_by_the_server(
    world: World, redis: Redis
) -> None:
    """The checkpoint pins the whole log's end, whatever the reader's scope."""
    holder, ins, _ = await _busy_dossier(world)
    outsider = await world.professional()
    # A standard grantee reads the entries of their own actions (TR-3); a professional who
    # never had a right reads nothing (RD-12).
    await grant_access(world, holder, ins, outsider)
    await dossier_call(world, outsider, "GET", f"/v1/dossiers/{ins}/documents")
    key = await _server_key(world)

    # Each reader gets the log as it stood when they asked; their reading is logged after it.
    before_whole = (await stored_log(redis, ins))[-1]
    whole = await _access_log(world, holder, ins)
    before_own = (await stored_log(redis, ins))[-1]
    own = await _access_log(world, outsider, ins)

    for log, last in ((whole, before_whole), (own, before_own)):
        checkpoint = log["checkpoint"]
        assert set(checkpoint) == {"ins", "seq", "head", "at", "signature"}
        assert (checkpoint["ins"], checkpoint["seq"], checkpoint["head"]) == (
            ins,
            last["seq"],
            last["hash"],
        )
        _assert_signed(checkpoint, key)
    assert whole["scope"] == "all"
    assert whole["entries"][-1]["hash"] == whole["checkpoint"]["head"]
    assert own["scope"] == "own"
    assert {e["actor"] for e in own["entries"]} == {outsider.principal}
    with pytest.raises(crypto.CryptoError):  # signed as a checkpoint, not as a server event
        crypto.verify_server_event(
            {k: v for k, v in whole["checkpoint"].items() if k != "signature"},
            whole["checkpoint"]["signature"],
            key,
        )


async def test_every_dossier_notification_carries_the_checkpoint_after_its_entry(
    world: World, redis: Redis
) -> None:
    holder, ins = await open_dossier(world)
    gp, urgentiste, stranger = (
        await world.professional(),
        await world.professional(),
        await world.professional(),
    )
    await declare_mt(world, holder, ins, gp)
    await attach_document(world, gp, ins)
    await open_emergency(world, urgentiste, ins)
    status, refused = await send_linked(world, stranger, [stranger], ins)
    assert (status, refused["dossier"]["status"]) == (202, "refused")
    key = await _server_key(world)
    log = await stored_log(redis, ins)

    told = [
        (holder, "dossier.accessed", gp.principal, "write"),
        (gp, "dossier.document_attached", gp.principal, "write"),
        (holder, "dossier.emergency_access", urgentiste.principal, "emergency_access"),
        (gp, "dossier.emergency_access", urgentiste.principal, "emergency_access"),
    ]
    for device, event, actor, action in told:
        [notification] = await notifications(world, device, event)
        checkpoint = notification["checkpoint"]
        _assert_signed(checkpoint, key)
        assert checkpoint["ins"] == ins
        entry = log[checkpoint["seq"] - 1]
        assert (entry["hash"], entry["actor"], entry["action"]) == (
            checkpoint["head"],
            actor,
            action,
        )

    # RD-12: the refused author may have no right on the dossier: nothing about its log.
    [link_refused] = await notifications(world, stranger, "dossier.link_refused")
    assert "checkpoint" not in link_refused


# --- what a store attacker does, and what the server then signs ---------------------------------


def _rechained(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    previous = "0" * 64
    for entry in entries:
        entry["prev"] = previous
        entry["hash"] = previous = entry_hash(entry)
    return entries


async def _replace_log(redis: Redis, ins: str, entries: list[dict[str, Any]]) -> None:
    """Replace the stored log and point the dossier's head at its end, as someone who holds the
    store would: the server then signs checkpoints of the forged log."""
    state = json.loads(await redis.hget(redis_keys.dossier(ins), "state") or b"{}")
    state.update(log_seq=entries[-1]["seq"], log_head=entries[-1]["hash"])
    async with redis.pipeline(transaction=True) as pipe:
        pipe.delete(redis_keys.dossier_log(ins))
        pipe.rpush(redis_keys.dossier_log(ins), *(json.dumps(e) for e in entries))
        pipe.hset(redis_keys.dossier(ins), "state", json.dumps(state))
        await pipe.execute()


async def _truncate(redis: Redis, ins: str, count: int, kept: int) -> None:
    """Cut ``count`` entries off the log as ``kept`` (a checkpoint's seq) saw it; the readings
    logged since (TR-6) go with them."""
    await _replace_log(redis, ins, (await stored_log(redis, ins))[: kept - count])


FORGED_ACTOR = "rpps:99999999999"


async def _rewrite(redis: Redis, ins: str, seq: int) -> None:
    """Entry ``seq`` now names another actor; every hash from it on is recomputed."""
    entries = await stored_log(redis, ins)
    assert entries[seq - 1]["actor"] != FORGED_ACTOR
    entries[seq - 1]["actor"] = FORGED_ACTOR
    await _replace_log(redis, ins, _rechained(entries))


# --- liaison verify-log ---------------------------------------------------------------------


def _write(path: Path, document: Any) -> str:
    path.write_text(json.dumps(document), encoding="utf-8")
    return str(path)


@pytest.mark.parametrize(
    ("attack", "code", "detail"),
    [
        pytest.param("truncate_1", "log_truncated", "1 entry is missing", id="truncated by 1"),
        pytest.param("truncate_3", "log_truncated", "3 entries are missing", id="truncated by 3"),
        pytest.param("rewrite", "log_rewritten", "rewritten at or before", id="rewritten"),
        pytest.param("forged", "checkpoint_forged", "not signed by the server", id="forged"),
        pytest.param("other", "checkpoint_other_dossier", "is of dossier", id="other dossier"),
    ],
)
async def test_verify_log_fails_naming_the_seq(
    world: World,
    redis: Redis,
    connect: Connect,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    attack: str,
    code: str,
    detail: str,
) -> None:
    holder_device, ins, _ = await _busy_dossier(world)
    holder = connect(holder_device)
    kept = (await holder.dossiers.access_log(ins)).checkpoint
    assert kept.seq >= 8
    checkpoint = kept.model_dump()
    if attack == "forged":
        checkpoint["signature"] = log_signing.sign_log_checkpoint(
            kept.body(), crypto.SigningKey.generate()
        )
    elif attack == "other":
        other_holder, other_ins = await open_dossier(world)
        checkpoint = (await _access_log(world, other_holder, other_ins))["checkpoint"]
    elif attack == "rewrite":
        await _rewrite(redis, ins, 3)
    else:
        await _truncate(redis, ins, int(attack[-1]), kept.seq)

    log = await holder.dossiers.access_log(ins)
    if attack in ("rewrite", "truncate_1", "truncate_3"):
        # The forged log is whole and its served checkpoint honest: only the kept one tells.
        assert log.check.ok
        assert log.server_chain_ok
        assert log.failure is not None
        assert (log.failure.code, log.failure.seq) == (code, kept.seq)
    saved = _write(tmp_path / "log.json", log.as_dict())
    cp = _write(tmp_path / "cp.json", checkpoint)
    server_key = crypto.b64u_encode(await _server_key(world))
    command = ["verify-log", saved, "--checkpoint", cp, "--server-key=" + server_key]
    command += ["--key-file", str(tmp_path / "none.json")]

    assert main(command) == 1
    out = capsys.readouterr().out
    assert out.startswith(f"{code} at seq {checkpoint['seq']}: ")
    assert detail in out
    assert main([*command, "--json"]) == 1
    verdict = json.loads(capsys.readouterr().out)
    assert verdict["verified"] is False
    assert (verdict["failure"]["code"], verdict["failure"]["seq"]) == (code, checkpoint["seq"])


async def test_verify_log_passes_a_grown_log_against_an_older_checkpoint(
    world: World,
    connect: Connect,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    holder_device, ins, gp = await _busy_dossier(world)
    holder = connect(holder_device)
    older = (await holder.dossiers.access_log(ins)).checkpoint
    await attach_document(world, gp, ins)
    log = await holder.dossiers.access_log(ins)
    assert log.ok
    assert log.checkpoint.seq > older.seq
    saved = _write(tmp_path / "log.json", log.as_dict())
    cp = _write(tmp_path / "cp.json", older.model_dump())
    server_key = crypto.b64u_encode(await _server_key(world))

    command = ["verify-log", saved, "--checkpoint", cp, "--server-key=" + server_key]
    assert main([*command, "--key-file", str(tmp_path / "none.json")]) == 0
    out = capsys.readouterr().out
    assert f"chain verified: {len(log.entries)} entries" in out
    assert f"checkpoint verified: {ins} seq {log.checkpoint.seq}" in out
    assert "consistent with 1 kept checkpoint(s)" in out


@pytest.mark.parametrize(
    ("edit", "code"),
    [
        pytest.param("drop_last", "log_truncated", id="newest entry dropped from the file"),
        pytest.param("rewrite", "log_rewritten", id="entry rewritten, hashes recomputed"),
        pytest.param("checkpoint_seq", "checkpoint_forged", id="its checkpoint edited"),
    ],
)
async def test_a_saved_log_edited_afterwards_fails_against_its_own_checkpoint(
    world: World,
    connect: Connect,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    edit: str,
    code: str,
) -> None:
    """A saved log is proof in itself: the checkpoint saved with it pins its end."""
    holder_device, ins, _ = await _busy_dossier(world)
    document = (await connect(holder_device).dossiers.access_log(ins)).as_dict()
    if edit == "drop_last":
        document["entries"].pop()
    elif edit == "rewrite":
        document["entries"][1]["actor"] = FORGED_ACTOR
        _rechained(document["entries"])
    else:
        document["checkpoint"]["seq"] -= 1
        document["entries"].pop()
    saved = _write(tmp_path / "log.json", document)
    server_key = crypto.b64u_encode(await _server_key(world))

    command = ["verify-log", saved, "--server-key=" + server_key, "--json"]
    assert main([*command, "--key-file", str(tmp_path / "none.json")]) == 1
    assert json.loads(capsys.readouterr().out)["failure"]["code"] == code


def test_verify_log_needs_the_server_key_to_check_a_kept_checkpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = crypto.SigningKey.generate()
    body = {"ins": "146026322000196", "seq": 1, "head": "a" * 64, "at": "2026-01-01T00:00:00Z"}
    cp = _write(
        tmp_path / "cp.json", {**body, "signature": log_signing.sign_log_checkpoint(body, key)}
    )
    saved = _write(tmp_path / "log.json", [])
    command = ["verify-log", saved, "--checkpoint", cp, "--key-file", str(tmp_path / "k.json")]
    assert main(command) == 1
    assert "error: no_server_key" in capsys.readouterr().err


# --- the SDK keeps checkpoints -------------------------------------------------------------


async def test_the_sdk_keeps_checkpoints_beside_the_key_file_across_processes(
    world: World, redis: Redis, connect: Connect, tmp_path: Path
) -> None:
    holder_device, ins, _ = await _busy_dossier(world)
    store_path = tmp_path / "liaison" / "device.checkpoints.json"
    first = connect(holder_device, CheckpointStore.beside(tmp_path / "liaison" / "device.json"))
    seen = (await first.dossiers.access_log(ins)).checkpoint
    assert stat.S_IMODE(os.stat(store_path).st_mode) == 0o600
    saved = json.loads(store_path.read_text(encoding="utf-8"))
    assert saved["server_key"] == crypto.b64u_encode(await _server_key(world))
    assert [LogCheckpoint.model_validate(c) for c in saved["dossiers"][ins]] == [seen]

    await _truncate(redis, ins, 1, seen.seq)
    # Another process of the same device, reading the file afresh.
    later = connect(holder_device, CheckpointStore.beside(tmp_path / "liaison" / "device.json"))
    log = await later.dossiers.access_log(ins)
    assert not log.ok
    assert log.failure is not None
    assert (log.failure.code, log.failure.seq) == ("log_truncated", seen.seq)
    # A failed check keeps the evidence: the kept checkpoint is not replaced.
    assert later.checkpoints.kept(ins) == [seen]


async def test_checkpoints_from_notifications_catch_a_rewrite_between_two_of_them(
    world: World, redis: Redis, connect: Connect
) -> None:
    """The SDK keeps every checkpoint seen since the log last verified, not only the newest: a
    log rewritten after one notification passes against the next, signed after the rewrite."""
    holder_device, ins = await open_dossier(world)
    gp = await world.professional()
    await declare_mt(world, holder_device, ins, gp)
    holder = connect(holder_device)
    read = (await holder.dossiers.access_log(ins)).checkpoint

    await attach_document(world, gp, ins)
    first = await holder.fetch()
    [told] = first.events
    assert isinstance(told, ReceivedNotification)
    assert told.event == "dossier.accessed"
    written = told.notification["checkpoint"]["seq"]
    assert written > read.seq
    # The entry the holder was told about is rewritten, every later hash recomputed; the next
    # notification's checkpoint is signed over the forged log.
    await _rewrite(redis, ins, written)
    await attach_document(world, gp, ins)
    second = await holder.fetch(after=first.next)
    assert [type(e) for e in second.events] == [ReceivedNotification]
    assert [k.seq for k in holder.checkpoints.kept(ins)] == [
        read.seq,
        written,
        written + 1,
    ]

    log = await holder.dossiers.access_log(ins)
    assert log.check.ok
    assert not log.ok
    assert log.failure is not None
    assert (log.failure.code, log.failure.seq) == ("log_rewritten", written)


async def _notify(
    client: TestClient[Request, Application],
    settings: Settings,
    holder: Device,
    ins: str,
    checkpoint: dict[str, Any],
) -> None:
    """A notification about ``ins`` signed with the server key, carrying ``checkpoint``."""
    events = ServerEvents(client.app[MAILBOX], load_or_create(settings).sign)
    body = {"event": "dossier.accessed", "ins": ins, "checkpoint": checkpoint}
    await events.emit([holder.device_id], "notification", body, f"n:{crypto.random_bytes(4).hex()}")


async def test_a_notification_checkpoint_that_does_not_verify_makes_the_event_invalid(
    world: World,
    connect: Connect,
    client: TestClient[Request, Application],
    settings: Settings,
) -> None:
    holder_device, ins, _ = await _busy_dossier(world)
    other_holder, other_ins = await open_dossier(world)
    holder = connect(holder_device)
    served = (await holder.dossiers.access_log(ins)).checkpoint
    server = load_or_create(settings).sign
    forged = served.body() | {"seq": served.seq + 5}
    forged["signature"] = log_signing.sign_log_checkpoint(forged, crypto.SigningKey.generate())
    other = (await _access_log(world, other_holder, other_ins))["checkpoint"]
    fork = served.body() | {"head": "f" * 64}
    fork["signature"] = log_signing.sign_log_checkpoint(fork, server)
    for checkpoint in (forged, other, fork):
        await _notify(client, settings, holder_device, ins, checkpoint)

    events = (await holder.fetch()).events
    codes = [e.code for e in events if isinstance(e, InvalidEvent)]
    assert codes == ["checkpoint_forged", "checkpoint_other_dossier", "checkpoint_conflict"]
    # The conflicting checkpoint is kept as evidence: every later log fails against one of them.
    assert {k.head for k in holder.checkpoints.kept(ins) if k.seq == served.seq} == {
        served.head,
        "f" * 64,
    }
    log = await holder.dossiers.access_log(ins)
    assert log.failure is not None
    assert (log.failure.code, log.failure.seq) == ("log_rewritten", served.seq)


# --- the check itself, on logs built here ----------------------------------------------------

_KEY = crypto.SigningKey(bytes(range(32)))
_INS = "146026322000196"


def _log(length: int) -> list[dict[str, Any]]:
    at = "2026-01-01T00:00:00.000Z"
    entries = [
        {"seq": seq, "at": at, "actor": "operator", "action": "x", "outcome": "allowed"}
        for seq in range(1, length + 1)
    ]
    return _rechained(entries)


def _checkpoint(entries: list[dict[str, Any]], seq: int, ins: str = _INS) -> LogCheckpoint:
    body = {
        "ins": ins,
        "seq": seq,
        "head": entries[seq - 1]["hash"],
        "at": f"2026-01-0{seq}T00:00:00Z",
    }
    return LogCheckpoint(**body, signature=log_signing.sign_log_checkpoint(body, _KEY))


@pytest.mark.parametrize(
    ("case", "code", "seq"),
    [
        pytest.param("served_other_dossier", "checkpoint_other_dossier", 5, id="served swapped"),
        pytest.param("behind", "checkpoint_behind", 5, id="log past its checkpoint"),
        pytest.param("own_rollback", "log_truncated", 5, id="own scope, server rolled back"),
        pytest.param("own_rewritten", "log_rewritten", 3, id="own scope, own entry rewritten"),
        pytest.param("own_fork", "log_rewritten", 4, id="own scope, served head forked"),
        pytest.param("own_link", "chain_broken", 3, id="own scope, consecutive link broken"),
    ],
)
def test_verify_log_cases(case: str, code: str, seq: int) -> None:
    from messaging.client import verify_log

    entries = _log(5)
    scope: Any = "all"
    served, kept = _checkpoint(entries, 5), [_checkpoint(entries, 3)]
    if case == "served_other_dossier":
        served = _checkpoint(entries, 5, "253072A07300443")
    elif case == "behind":
        served = _checkpoint(entries, 4)
        kept = []
    elif case == "own_rollback":
        scope, kept, served = "own", [_checkpoint(entries, 5)], _checkpoint(entries, 4)
        entries = [entries[1]]
    elif case == "own_rewritten":
        scope, kept = "own", [_checkpoint(entries, 3)]
        forged = _rechained(_log(5))
        forged[2]["actor"] = FORGED_ACTOR
        entries = [_rechained(forged)[2]]
    elif case == "own_fork":
        fork = _log(4)
        fork[3]["action"] = "y"
        scope, kept, served = "own", [_checkpoint(_rechained(fork), 4)], _checkpoint(entries, 4)
        entries = [entries[0]]
    else:
        scope = "own"
        entries = [entries[1], {**entries[2], "prev": "0" * 64}]
        entries[1]["hash"] = entry_hash(entries[1])
    verdict = verify_log(entries, scope, ins=_INS, served=served, kept=kept, server_key=_KEY.public)
    assert verdict.failure is not None
    assert (verdict.failure.code, verdict.failure.seq) == (code, seq)
    assert not verdict.ok


def test_verify_log_own_scope_passes_what_it_cannot_contradict() -> None:
    """A reader of their own entries cannot see a rewrite of others' entries below the served
    checkpoint; what it can check passes, and the newest checkpoint is the one to keep."""
    from messaging.client import verify_log

    entries = _log(6)
    kept = [_checkpoint(entries, 2), _checkpoint(entries, 4)]
    served = _checkpoint(entries, 6)
    verdict = verify_log(
        [entries[3], entries[4]], "own", ins=_INS, served=served, kept=kept, server_key=None
    )
    assert verdict.ok
    assert verdict.checkpoint == served
    assert verdict.signatures_checked is False


def test_verify_log_refuses_a_malformed_checkpoint_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    entries = _log(2)
    checkpoint = _checkpoint(entries, 2).model_dump()
    for bad in ({**checkpoint, "seq": 2.0}, {**checkpoint, "seq": True}, {**checkpoint, "x": 1}):
        cp = _write(tmp_path / "cp.json", bad)
        saved = _write(tmp_path / "log.json", {"scope": "all", "entries": entries})
        key = crypto.b64u_encode(_KEY.public)
        command = ["verify-log", saved, "--checkpoint", cp, "--server-key=" + key, "--ins", _INS]
        assert main(command) == 1
        assert "error: bad_checkpoint:" in capsys.readouterr().err
