"""The ``liaison`` command against a real server (issue 9): the operator's principal listing,
the directory, linking and revoking devices, attachments saved from ``inbox``/``watch``,
warnings, local checks before sending, and each problem code as one sentence."""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import stat
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import get_args

import pytest
from aiohttp.test_utils import TestClient
from aiohttp.web import Application, Request

import dossier_link
import messaging
from dossier_link.state import ReasonCode
from messaging import canonical
from messaging.bench.cli import config_from
from messaging.cli import build_parser, main
from messaging.cli.sentences import SENTENCES
from messaging.client import Attachment, DeviceIdentity, LiaisonClient
from messaging.errors import LiaisonError
from messaging.identifiers import ins_key, rpps_luhn_ok
from messaging.server import problems
from messaging.settings import Settings
from tests.conftest import ADMIN_TOKEN
from tests.dossiers import create_dossier, eventually, patient
from tests.processes import watching
from tests.support import Device, World, new_rpps, run_cli

Liaison = Callable[..., Awaitable[tuple[int, str, str]]]


@pytest.fixture
def liaison(
    client: TestClient[Request, Application], capsys: pytest.CaptureFixture[str]
) -> Liaison:
    """``liaison ARGS --server URL``: exit code, stdout, stderr."""
    server = ["--server", str(client.make_url("")).rstrip("/")]

    async def run(*argv: str) -> tuple[int, str, str]:
        code = await run_cli([*argv, *server])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def _key_file(world: World, device: Device, directory: Path) -> str:
    path = directory / f"{device.device_id}.json"
    url = str(world.client.make_url("")).rstrip("/")
    DeviceIdentity(url, device.principal, device.device_id, device.keys).save(path)
    return str(path)


# --- problem codes ----------------------------------------------------------------------------


def _server_codes() -> set[str]:
    """Every ``code`` a problem document of the server can carry: each error class's, each
    refusal reason of the dossier rules, and the codes the problem middleware writes itself."""
    for package in (messaging, dossier_link):
        for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if not module.name.startswith(("messaging.web", "messaging.bench")):
                importlib.import_module(module.name)
    codes: set[str] = set()
    pending: list[type[LiaisonError]] = [LiaisonError]
    while pending:
        kind = pending.pop()
        codes.add(kind.code)
        pending += kind.__subclasses__()
    codes |= set(get_args(ReasonCode)) - {"ok"}
    codes |= {code for code, _ in problems._HTTP_CODES.values()}
    codes |= {"http_error", "internal_error", "invalid_ins", canonical.JSON_TOO_LARGE}
    return codes


def test_every_problem_code_the_server_can_send_has_a_sentence() -> None:
    codes = _server_codes()
    assert len(codes) > 60  # the walk found the dossier reasons and the error classes
    assert sorted(codes - SENTENCES.keys()) == []
    for code, sentence in SENTENCES.items():
        # One sentence: what happened; then what to do (after a semicolon or a comma).
        assert sentence[0].isupper(), code
        assert sentence.endswith("."), code
        assert sentence.count(". ") == 0, code


async def test_a_refusal_says_what_happened_and_what_to_do(
    world: World, liaison: Liaison, tmp_path: Path
) -> None:
    holder, ins = await patient(world)
    await create_dossier(world, holder, ins)
    stranger = await world.professional()
    code, out, err = await liaison(
        "dossier", "show", ins, "--key-file", _key_file(world, stranger, tmp_path)
    )
    assert (code, out) == (1, "")
    # Was "error: no_grant: refused: no_grant"; the server's detail only repeated the code.
    assert err == f"error: no_grant: {SENTENCES['no_grant']}\n"


# --- operator ---------------------------------------------------------------------------------


def _luhn_failing_rpps() -> str:
    return next(r for r in (new_rpps() for _ in range(20)) if not rpps_luhn_ok(r[5:]))


async def test_principal_add_shows_the_luhn_warning_and_list_pages_through(
    world: World, liaison: Liaison
) -> None:
    """ID-3: the warning reaches the operator with --json too (it was dropped)."""
    operator = ["--admin-token", ADMIN_TOKEN]
    suspicious = _luhn_failing_rpps()
    add = ["admin", "principal", "add", suspicious, "--kind", "professional"]
    code, out, err = await liaison(*add, "--name", "Dr Luhn", "--json", *operator)
    assert code == 0
    assert json.loads(out)["warnings"] == [
        f"RPPS {suspicious[5:]} fails the Luhn check; accepted, please verify it"
    ]
    # (The in-process server logs the same warning on this stderr: a line of its own.)
    warning = f"warning: RPPS {suspicious[5:]} fails the Luhn check; accepted, please verify it"
    assert warning in err.splitlines()

    others = sorted([await world.principal(), await world.principal(), suspicious])
    await world.principal("org:cli-team", kind="organisation", display_name="Équipe CLI")
    await patient(world)  # patients are not indexed (DESIGN §4): never listed
    listing = ["admin", "principal", "list", "--kind", "professional", "--limit", "2"]
    code, out, _ = await liaison(*listing, "--json", *operator)
    first = json.loads(out)
    assert code == 0
    assert [p["id"] for p in first["principals"]] == others[:2]
    assert first["next"] == others[1]
    code, out, _ = await liaison(*listing, "--after", others[1], "--json", *operator)
    last = json.loads(out)
    assert ([p["id"] for p in last["principals"]], last["next"]) == ([others[2]], None)
    code, out, _ = await liaison("admin", "principal", "list", *operator)
    assert code == 0
    assert out.splitlines()[0].split() == ["PRINCIPAL", "KIND", "NAME", "PROFESSION"]
    assert out.splitlines()[1].split()[:4] == ["org:cli-team", "organisation", "Équipe", "CLI"]
    assert len(out.splitlines()) == 1 + 4

    response = await world.client.get(
        "/v1/admin/principals", params={"kind": "patient"}, headers=world.operator
    )
    assert (response.status, (await response.json())["code"]) == (400, "invalid_request")
    code, _, err = await liaison("admin", "principal", "list", "--admin-token", "not-it")
    assert err.startswith("error: operator_only: ")
    code, out, err = await liaison("admin", "principal", "list")
    assert (code, out) == (1, "")
    assert err.startswith(f"error: no_admin_token: {SENTENCES['no_admin_token']}")


# --- a device ---------------------------------------------------------------------------------


async def test_directory_search_then_link_a_second_device_and_revoke_it(
    world: World, liaison: Liaison, tmp_path: Path
) -> None:
    me = await world.professional(display_name="Dr Alice Lemoine")
    cardiologist = await world.principal(display_name="Dr Bruno Carré", profession="cardiologue")
    key_file = ["--key-file", _key_file(world, me, tmp_path)]

    code, out, _ = await liaison("directory", "search", "bru", "car", "--json", *key_file)
    assert code == 0
    assert [p["id"] for p in json.loads(out)["principals"]] == [cardiologist]
    code, out, _ = await liaison("directory", "search", "--profession", "cardiologue", *key_file)
    assert out.split("\n")[1].split()[:2] == [cardiologist, "professional"]

    # A second device of the same principal, linked from the first (POST /v1/devices/
    # enrollment-codes), then enrolled with the code it printed.
    code, out, _ = await liaison("devices", "link", "--json", *key_file)
    assert code == 0
    link = json.loads(out)
    assert link["principal"] == me.principal
    second = tmp_path / "second.json"
    code, out, err = await liaison(
        "enroll",
        "--principal",
        me.principal,
        "--code",
        link["code"],
        "--name",
        "tablette",
        "--key-file",
        str(second),
        "--json",
    )
    assert (code, err) == (0, ""), err
    second_id = json.loads(out)["device"]
    code, out, _ = await liaison("devices", "list", "--json", *key_file)
    listed = json.loads(out)
    assert sorted(d["id"] for d in listed["devices"]) == sorted([me.device_id, second_id])
    assert listed["current"] == me.device_id

    code, _, err = await liaison("devices", "revoke", me.device_id, *key_file)
    assert code == 1
    assert err.startswith("error: usage: that is this device: add --this-device")
    code, out, _ = await liaison("devices", "revoke", second_id, *key_file)
    assert (code, out) == (0, f"revoked {second_id}: its tokens and queue are gone\n")
    code, out, _ = await liaison("devices", *key_file)
    assert second_id not in out
    assert f"{me.device_id} *" in out
    code, out, err = await liaison("devices", "--key-file", str(second))
    assert (code, out) == (1, "")
    assert err.startswith("error: invalid_challenge: ")


# --- attachments ------------------------------------------------------------------------------

HOSTILE = [
    Attachment("../../outside.sh", "text/x-sh", b"#!/bin/sh\n"),
    Attachment("cr.pdf", "application/pdf", b"%PDF-1 premier"),
    Attachment("cr.pdf", "application/pdf", b"%PDF-1 second"),
    Attachment(".bashrc", "text/plain", b"alias"),
    Attachment("\u202egpj.exe", "image/jpeg", b"\xff\xd8"),
    Attachment("", "application/octet-stream", b"\x00"),
]
SAVED_AS = {
    "_.._outside.sh": b"#!/bin/sh\n",
    "cr (2).pdf": b"%PDF-1 premier",
    "cr (3).pdf": b"%PDF-1 second",
    "bashrc": b"alias",
    "_gpj.exe": b"\xff\xd8",
    "attachment-6": b"\x00",
}


async def _send_hostile(world: World, alice: Device, bob: Device) -> str:
    url = str(world.client.make_url("")).rstrip("/")
    identity = DeviceIdentity(url, alice.principal, alice.device_id, alice.keys)
    async with LiaisonClient(url, identity) as sender:
        sent = await sender.send([bob.principal], "CR", "ci-joint", HOSTILE)
        return sent.id


def _files(directory: Path) -> Iterator[tuple[str, bytes, int]]:
    for path in sorted(directory.iterdir()):
        yield path.name, path.read_bytes(), stat.S_IMODE(path.stat().st_mode)


async def test_inbox_saves_attachments_inside_the_directory_before_acking(
    world: World, liaison: Liaison, tmp_path: Path
) -> None:
    """Was: "attached cr.pdf (27 bytes)", then acked: the file was lost without --json."""
    alice, bob = await world.professional(), await world.professional()
    message = await _send_hostile(world, alice, bob)
    inbox = tmp_path / "in" / "box"
    inbox.mkdir(parents=True)
    (inbox / "cr.pdf").write_bytes(b"mine")  # never overwritten
    key_file = ["--key-file", _key_file(world, bob, tmp_path)]

    code, out, _ = await liaison("inbox", "--save-attachments", str(inbox), "--json", *key_file)
    assert code == 0
    [event] = json.loads(out)["events"]
    assert event["id"] == message
    assert sorted(Path(p).name for p in event["saved"]) == sorted(SAVED_AS)
    assert list(_files(inbox)) == sorted(
        [("cr.pdf", b"mine", 0o644), *((n, d, 0o600) for n, d in SAVED_AS.items())]
    )
    assert sorted(p.name for p in (tmp_path / "in").iterdir()) == ["box"]  # nothing outside
    code, out, _ = await liaison("inbox", *key_file)
    assert (code, out) == (0, "no new events\n")  # acked once saved


async def test_watch_saves_attachments_then_acks(world: World, tmp_path: Path) -> None:
    alice, bob = await world.professional(), await world.professional()
    await _send_hostile(world, alice, bob)
    directory = tmp_path / "watched"
    key_file = _key_file(world, bob, tmp_path)
    async with watching("--save-attachments", str(directory), "--key-file", key_file) as watch:
        seen = await watch.read_until("backlog delivered")
        # The ack travels on the socket after the save: wait for the queue to empty.
        await eventually(lambda: _emptied(world, bob), within=20)
    assert watch.process.returncode == 0, watch.errors
    assert f"saved {directory / 'cr.pdf'}" in seen.splitlines()
    expected = dict(SAVED_AS)  # no cr.pdf there before: the first one takes the name
    expected["cr.pdf"], expected["cr (2).pdf"] = (
        expected.pop("cr (2).pdf"),
        expected.pop("cr (3).pdf"),
    )
    assert {name: data for name, data, _ in _files(directory)} == expected


async def _emptied(world: World, device: Device) -> bool:
    response = await world.client.get("/v1/messages", headers=device.headers)
    events: list[object] = (await response.json())["events"]
    return events == []


# --- local checks and the rest ----------------------------------------------------------------


async def test_send_refuses_an_ins_with_a_wrong_key_before_sending(
    world: World, liaison: Liaison, tmp_path: Path
) -> None:
    """ID-1: was sent anyway, exit 0."""
    alice, bob = await world.professional(), await world.professional()
    _, ins = await patient(world)
    wrong = ins[:13] + f"{(int(ins[13:]) % 97) + 1:02d}"
    assert ins_key(ins[:13]) != int(wrong[13:])
    send = ["send", "--to", bob.principal, "--subject", "CR", "--body", "texte"]
    dossier = ["--dossier-type", "CR", "--dossier-title", "Compte rendu"]
    key_file = ["--key-file", _key_file(world, alice, tmp_path)]
    code, out, err = await liaison(*send, "--dossier-ins", wrong, *dossier, *key_file)
    assert (code, out) == (1, "")
    assert err.splitlines() == [
        f"error: invalid_ins: {SENTENCES['invalid_ins']}",
        f"error: invalid_ins: detail: {wrong}: the INS key does not match its first 13 characters",
    ]
    code, _, err = await liaison(*send[:2], "rpps:123", *send[3:], *key_file)
    assert (code, err.splitlines()[0]) == (1, f"error: invalid_rpps: {SENTENCES['invalid_rpps']}")
    response = await world.client.get("/v1/messages", headers=bob.headers)
    assert (await response.json())["events"] == []  # nothing was sent

    # A valid INS whose dossier does not exist: delivered, and the refusal said in words (the
    # same no_grant as for a dossier one may not write to: no existence oracle, RD-10).
    code, out, err = await liaison(*send, "--dossier-ins", ins, *dossier, "--json", *key_file)
    assert code == 0
    assert json.loads(out)["dossier"] == {"status": "refused", "code": "no_grant"}
    assert err == (
        f"warning: delivered, but not filed in the dossier: no_grant: {SENTENCES['no_grant']}\n"
    )


def _leaf_parsers(parser: argparse.ArgumentParser) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    children = [
        action.choices
        for action in parser._actions
        if isinstance(action, argparse._SubParsersAction)
    ]
    if not children:
        yield parser.prog, parser
    for choices in children:
        for child in choices.values():
            yield from _leaf_parsers(child)


def test_every_command_takes_server_and_json_and_none_takes_url() -> None:
    """Was: bench alone used --url and ignored --json."""
    leaves = dict(_leaf_parsers(build_parser()))
    assert {"liaison bench", "liaison devices revoke", "liaison directory search"} <= set(leaves)
    for name, parser in leaves.items():
        options = {option for action in parser._actions for option in action.option_strings}
        assert {"--server", "--json"} <= options, name
        assert "--url" not in options, name
    args = build_parser().parse_args(
        ["bench", "--server", "http://127.0.0.1:1", "--admin-token", "t", "--json"]
    )
    config = config_from(args)
    assert (config.url, config.admin_token, args.json) == ("http://127.0.0.1:1", "t", True)


def test_bench_json_prints_the_report_as_one_document(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The measuring itself is tests/test_bench.py's; here only what --json prints."""
    report = {"mode": "sockets", "sockets": {"opened": 3}}
    monkeypatch.setattr("messaging.bench.runner.run_bench", lambda config: report)
    assert main(["bench", "--mode", "sockets", "--sockets", "3", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == report


def test_serve_json_makes_the_server_log_json_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    """--json on serve: its output is its log (the logging itself is tests/test_logs.py's)."""
    started: list[Settings] = []
    monkeypatch.setattr(
        "messaging.server.runner.serve", lambda settings, workers: started.append(settings)
    )
    monkeypatch.setattr("messaging.server.runner.exit_at_once", lambda: None)
    monkeypatch.delenv("LIAISON_LOG_FORMAT", raising=False)
    main(["serve", "--port", "18999"])
    main(["serve", "--port", "18999", "--json"])
    assert [s.log_format for s in started] == ["text", "json"]
