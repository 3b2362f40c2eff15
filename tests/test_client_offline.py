"""The SDK and the CLI without a Liaison server: key files, envelopes, verification, arguments.

The few tests that need HTTP talk to a small fake of the server's API (the routes the SDK uses),
so that the SDK's own checks (signatures, key bindings, retries, dedupe) are tested on their own.
"""

from __future__ import annotations

import json
import socket
import stat
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from pytest_aiohttp import AiohttpServer

from messaging import crypto, models
from messaging.cli import main
from messaging.client import (
    Attachment,
    DeviceIdentity,
    IdentityFileError,
    InvalidEvent,
    LiaisonClient,
    MessageContent,
    ReceivedMessage,
    ReceivedReceipt,
    VerificationError,
    build_envelope,
    open_content,
)
from messaging.timeutil import now_ms, rfc3339

SENDER = "rpps:10000000001"
RECIPIENT = "rpps:10000000002"
INS = "180017512345678"


def _device_id() -> str:
    return "dev_" + "".join(
        "abcdefghijklmnopqrstuvwxyz234567"[b % 32] for b in crypto.random_bytes(26)
    )


@dataclass(frozen=True)
class Device:
    owner: str
    id: str = field(default_factory=_device_id)
    keys: crypto.DeviceKeys = field(default_factory=crypto.DeviceKeys.generate)

    def record(self) -> dict[str, str]:
        return {
            "id": self.id,
            "owner": self.owner,
            "sign_key": crypto.b64u_encode(self.keys.sign.public),
            "box_key": crypto.b64u_encode(self.keys.box.public),
            "box_key_signature": crypto.b64u_encode(self.keys.box_key_signature()),
            "created_at": "2024-01-01T00:00:00.000Z",
        }

    def identity(self, server_url: str = "http://liaison.invalid") -> DeviceIdentity:
        return DeviceIdentity(server_url, self.owner, self.id, self.keys)


def _envelope(
    sender: Device,
    recipients: list[Device],
    content: MessageContent,
    dossier_key: bytes | None = None,
) -> dict[str, Any]:
    dossier = None
    if dossier_key is not None:
        dossier = models.DossierHeader(ins=INS, type="letter", title="Discharge letter")
    return build_envelope(
        message_id=str(uuid.uuid4()),
        sender=sender.owner,
        sender_device=sender.id,
        sign_key=sender.keys.sign,
        recipients=sorted({d.owner for d in recipients}),
        created_at=rfc3339(now_ms()),
        content=content,
        box_keys={d.id: d.keys.box.public for d in recipients},
        dossier=dossier,
        dossier_key=dossier_key,
    )


CONTENT = MessageContent(
    subject="Patient transfer",
    body="Bonjour,\nplease find the letter attached.",
    attachments=(Attachment("letter.pdf", "application/pdf", b"%PDF-1.7 \x00\xff"),),
    in_reply_to="5f0c2b53-6f3c-4d58-9a5e-1d2b1b7c7e10",
)


# --- key file ---------------------------------------------------------------------------------


def test_identity_round_trips_through_a_private_file(tmp_path: Path) -> None:
    identity = Device(SENDER).identity("http://127.0.0.1:8080")
    path = tmp_path / "config" / "device.json"

    identity.save(path)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert DeviceIdentity.load(path) == identity
    assert list(path.parent.iterdir()) == [path]  # no temporary file left behind


def test_saving_over_a_readable_file_makes_it_private(tmp_path: Path) -> None:
    path = tmp_path / "device.json"
    path.write_text("{}")
    path.chmod(0o644)

    Device(SENDER).identity().save(path)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize(
    ("content", "code"), [(None, "no_key_file"), ("{}", "bad_key_file"), ("[", "bad_key_file")]
)
def test_loading_a_missing_or_broken_key_file_fails_clearly(
    tmp_path: Path, content: str | None, code: str
) -> None:
    path = tmp_path / "device.json"
    if content is not None:
        path.write_text(content)

    with pytest.raises(IdentityFileError) as raised:
        DeviceIdentity.load(path)

    assert raised.value.code == code


# --- envelopes --------------------------------------------------------------------------------


def test_built_envelope_is_valid_signed_and_opens_for_every_recipient_device() -> None:
    sender = Device(SENDER)
    recipients = [Device(RECIPIENT), Device(RECIPIENT)]

    envelope = _envelope(sender, recipients, CONTENT)

    models.Envelope.model_validate(envelope)
    crypto.verify_envelope(envelope, sender.keys.sign.public)
    assert set(envelope["keys"]) == {d.id for d in recipients}
    for device in recipients:
        wrap = crypto.b64u_decode(envelope["keys"][device.id])
        assert open_content(envelope, wrap, device.keys.box) == CONTENT


def test_dossier_wrap_opens_with_the_dossier_key() -> None:
    dossier_store = crypto.BoxKey.generate()
    recipient = Device(RECIPIENT)

    envelope = _envelope(Device(SENDER), [recipient], CONTENT, dossier_store.public)

    models.Envelope.model_validate(envelope)
    assert envelope["dossier"] == {"ins": INS, "type": "letter", "title": "Discharge letter"}
    wrap = crypto.b64u_decode(envelope["keys"]["dossier"])
    assert open_content(envelope, wrap, dossier_store) == CONTENT


def test_envelope_times_are_utc_with_milliseconds() -> None:
    envelope = _envelope(Device(SENDER), [Device(RECIPIENT)], CONTENT)

    assert len(envelope["created_at"]) == len("2024-01-01T00:00:00.000Z")
    assert envelope["created_at"].endswith("Z")


TAMPERINGS: dict[str, Callable[[dict[str, Any]], None]] = {
    "v": lambda e: e.update(v=2),
    "id": lambda e: e.update(id=str(uuid.uuid4())),
    "sender": lambda e: e.update(sender="rpps:19999999999"),
    "sender_device": lambda e: e.update(sender_device=_device_id()),
    "recipients": lambda e: e.update(recipients=[*e["recipients"], "org:other-ward"]),
    "created_at": lambda e: e.update(created_at="2020-01-01T00:00:00.000Z"),
    "dossier": lambda e: e.update(dossier={"ins": INS, "type": "letter", "title": "x"}),
    "nonce": lambda e: e.update(nonce=crypto.b64u_encode(crypto.random_bytes(24))),
    "ciphertext": lambda e: e.update(ciphertext=e["ciphertext"][:-2] + "AA"),
    "extra field": lambda e: e.update(note="hello"),
}


@pytest.mark.parametrize("field_name", sorted(TAMPERINGS))
def test_tampering_with_a_signed_field_fails_verification(field_name: str) -> None:
    sender = Device(SENDER)
    envelope = _envelope(sender, [Device(RECIPIENT)], CONTENT)
    crypto.verify_envelope(envelope, sender.keys.sign.public)

    TAMPERINGS[field_name](envelope)

    with pytest.raises(crypto.CryptoError):
        crypto.verify_envelope(envelope, sender.keys.sign.public)


def test_a_key_wrap_from_another_message_does_not_open_the_content() -> None:
    sender, recipient = Device(SENDER), Device(RECIPIENT)
    first = _envelope(sender, [recipient], CONTENT)
    second = _envelope(sender, [recipient], CONTENT)

    wrap = crypto.b64u_decode(second["keys"][recipient.id])
    with pytest.raises(crypto.CryptoError):
        open_content(first, wrap, recipient.keys.box)


def test_another_device_cannot_open_a_wrap() -> None:
    recipient = Device(RECIPIENT)
    envelope = _envelope(Device(SENDER), [recipient], CONTENT)

    wrap = crypto.b64u_decode(envelope["keys"][recipient.id])
    with pytest.raises(crypto.CryptoError):
        open_content(envelope, wrap, crypto.BoxKey.generate())


# --- a fake server ----------------------------------------------------------------------------


@dataclass
class FakeServer:
    """Just enough of DESIGN §4 for the SDK: auth, directory, send, fetch, ack."""

    devices: dict[str, list[Device]]
    sign: crypto.SigningKey = field(default_factory=crypto.SigningKey.generate)
    dossier: crypto.BoxKey = field(default_factory=crypto.BoxKey.generate)
    queue: list[dict[str, Any]] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)
    acked: list[str] = field(default_factory=list)
    hidden: set[str] = field(default_factory=set)
    """Device ids left out of the directory (a stale view), until the first stale answer."""
    bad_binding: set[str] = field(default_factory=set)
    tokens: set[str] = field(default_factory=set)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/auth/challenge", self.challenge)
        app.router.add_post("/v1/auth/token", self.token)
        app.router.add_get("/v1/server", self.server_info)
        app.router.add_get("/v1/directory/{principal}", self.directory)
        app.router.add_post("/v1/messages", self.send)
        app.router.add_get("/v1/messages", self.fetch)
        app.router.add_post("/v1/messages/ack", self.ack)
        return app

    def authed(self, request: web.Request) -> None:
        header = request.headers.get("Authorization", "")
        if header.removeprefix("Bearer ") not in self.tokens:
            raise web.HTTPUnauthorized(
                text=json.dumps({"status": 401, "code": "invalid_token", "detail": "expired"}),
                content_type="application/problem+json",
            )

    async def challenge(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"challenge": crypto.b64u_encode(crypto.random_bytes(32)), "expires_in": 60}
        )

    async def token(self, request: web.Request) -> web.Response:
        body = await request.json()
        owner = next(d.owner for ds in self.devices.values() for d in ds if d.id == body["device"])
        token = crypto.b64u_encode(crypto.random_bytes(16))
        self.tokens.add(token)
        return web.json_response({"token": token, "expires_in": 3600, "principal": owner})

    async def server_info(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "version": "test",
                "sign_key": crypto.b64u_encode(self.sign.public),
                "dossier_key": crypto.b64u_encode(self.dossier.public),
            }
        )

    async def directory(self, request: web.Request) -> web.Response:
        self.authed(request)
        principal = request.match_info["principal"]
        records = []
        for device in self.devices[principal]:
            if device.id in self.hidden:
                continue
            record = device.record()
            if device.id in self.bad_binding:
                record["box_key"] = crypto.b64u_encode(crypto.BoxKey.generate().public)
            records.append(record)
        return web.json_response(
            {
                "id": principal,
                "kind": "professional",
                "display_name": "Dr Test",
                "profession": None,
                "roles": [],
                "devices": records,
            }
        )

    async def send(self, request: web.Request) -> web.Response:
        self.authed(request)
        envelope = await request.json()
        self.sent.append(envelope)
        expected = {d.id for p in envelope["recipients"] for d in self.devices[p]}
        own_others = {d.id for d in self.devices[envelope["sender"]]} - {envelope["sender_device"]}
        named = set(envelope["keys"])
        missing, extra = expected - named, named - expected - own_others
        if missing or extra:
            self.hidden.clear()
            problem = {
                "status": 409,
                "code": "stale_devices",
                "detail": "refresh",
                "missing": sorted(missing),
                "extra": sorted(extra),
            }
            return web.json_response(problem, status=409, content_type="application/problem+json")
        return web.json_response(
            {"id": envelope["id"], "accepted_at": rfc3339(now_ms()), "dossier": None}, status=202
        )

    async def fetch(self, request: web.Request) -> web.Response:
        self.authed(request)
        events = [e for e in self.queue if e["cursor"] not in self.acked]
        return web.json_response(
            {"events": events, "next": events[-1]["cursor"] if events else None}
        )

    async def ack(self, request: web.Request) -> web.Response:
        self.authed(request)
        self.acked += (await request.json())["cursors"]
        return web.Response(status=204)

    def deliver(self, envelope: dict[str, Any], device: Device) -> str:
        cursor = f"{len(self.queue)}-0.AAAAAAAAAAAA"  # the form of a real cursor
        self.queue.append(
            {
                "type": "message",
                "cursor": cursor,
                "envelope": {k: v for k, v in envelope.items() if k != "keys"},
                "key": envelope["keys"][device.id],
                "received_at": rfc3339(now_ms()),
            }
        )
        return cursor

    def receipt(self, message_id: str, by: Device, key: crypto.SigningKey | None = None) -> str:
        body = {
            "message_id": message_id,
            "recipient": by.owner,
            "device": by.id,
            "status": "delivered",
            "at": rfc3339(now_ms()),
        }
        cursor = f"{len(self.queue)}-0.AAAAAAAAAAAA"  # the form of a real cursor
        signature = crypto.sign_server_event(body, key or self.sign)
        self.queue.append(
            {"type": "receipt", "cursor": cursor, "receipt": body, "signature": signature}
        )
        return cursor


Connect = Callable[[FakeServer, Device], Awaitable[LiaisonClient]]


@pytest.fixture
def connect(aiohttp_server: AiohttpServer) -> Connect:
    async def start(fake: FakeServer, device: Device) -> LiaisonClient:
        server = await aiohttp_server(fake.app())
        return LiaisonClient(str(server.make_url("")), device.identity())

    return start


async def test_send_retries_once_with_the_same_id_when_devices_are_stale(connect: Connect) -> None:
    me, other_screen = Device(SENDER), Device(SENDER)
    phone, desktop = Device(RECIPIENT), Device(RECIPIENT)
    fake = FakeServer({SENDER: [me, other_screen], RECIPIENT: [phone, desktop]})
    fake.hidden.add(desktop.id)

    async with await connect(fake, me) as client:
        result = await client.send([RECIPIENT], "Hello", "Body", [("a.txt", "text/plain", b"a")])

    first, second = fake.sent
    assert result.id == first["id"] == second["id"]
    assert set(second["keys"]) == {phone.id, desktop.id, other_screen.id}
    crypto.verify_envelope(second, me.keys.sign.public)
    wrap = crypto.b64u_decode(second["keys"][desktop.id])
    assert open_content(second, wrap, desktop.keys.box).attachments == (
        Attachment("a.txt", "text/plain", b"a"),
    )


async def test_send_refuses_a_device_whose_box_key_is_not_bound(connect: Connect) -> None:
    me, forged = Device(SENDER), Device(RECIPIENT)
    fake = FakeServer({SENDER: [me], RECIPIENT: [forged]}, bad_binding={forged.id})

    async with await connect(fake, me) as client:
        with pytest.raises(VerificationError) as raised:
            await client.send([RECIPIENT], "Hello", "Body")

    assert raised.value.code == "bad_box_key_binding"
    assert fake.sent == []


async def test_fetch_verifies_events_and_reports_the_bad_ones(connect: Connect) -> None:
    sender, me = Device(SENDER), Device(RECIPIENT)
    fake = FakeServer({SENDER: [sender], RECIPIENT: [me]})
    good = _envelope(sender, [me], CONTENT)
    forged = _envelope(sender, [me], CONTENT)
    forged["created_at"] = "2020-01-01T00:00:00.000Z"
    fake.deliver(good, me)
    fake.deliver(forged, me)
    fake.receipt(good["id"], me)
    fake.receipt(good["id"], me, key=crypto.SigningKey.generate())

    async with await connect(fake, me) as client:
        events = (await client.fetch()).events

    message, bad_message, receipt, bad_receipt = events
    assert isinstance(message, ReceivedMessage)
    assert (message.id, message.sender, message.subject) == (good["id"], SENDER, CONTENT.subject)
    assert message.attachments == CONTENT.attachments
    assert isinstance(bad_message, InvalidEvent)
    assert bad_message.code == "bad_signature"
    assert isinstance(receipt, ReceivedReceipt)
    assert receipt.message_id == good["id"]
    assert isinstance(bad_receipt, InvalidEvent)
    assert bad_receipt.code == "bad_server_signature"
    assert fake.acked == []  # nothing is acked behind the caller's back


async def test_an_acked_message_delivered_again_is_skipped_and_acked(connect: Connect) -> None:
    sender, me = Device(SENDER), Device(RECIPIENT)
    fake = FakeServer({SENDER: [sender], RECIPIENT: [me]})
    envelope = _envelope(sender, [me], CONTENT)
    first = fake.deliver(envelope, me)

    async with await connect(fake, me) as client:
        (delivered,) = (await client.fetch()).events
        assert isinstance(delivered, ReceivedMessage)
        assert delivered.cursor == first
        await client.ack([first])
        again = fake.deliver(envelope, me)
        assert (await client.fetch()).events == []

    assert fake.acked == [first, again]


async def test_an_expired_token_is_renewed_once(connect: Connect) -> None:
    me = Device(RECIPIENT)
    fake = FakeServer({RECIPIENT: [me]})

    async with await connect(fake, me) as client:
        await client.fetch()
        fake.tokens.clear()
        assert (await client.fetch()).events == []

    assert len(fake.tokens) == 1


# --- CLI --------------------------------------------------------------------------------------

COMMANDS = [
    [],
    ["serve"],
    ["admin"],
    ["admin", "principal"],
    ["admin", "principal", "add"],
    ["admin", "enroll-code"],
    ["enroll"],
    ["send"],
    ["inbox"],
    ["watch"],
    ["devices"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "liaison")
def test_cli_help_exits_zero(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        main([*command, "--help"])

    assert raised.value.code == 0
    assert "usage: liaison" in capsys.readouterr().out


def test_cli_usage_error_exits_two(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        main(["send", "--subject", "x"])

    assert raised.value.code == 2
    assert "--to" in capsys.readouterr().err


def test_cli_reports_a_missing_key_file_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["devices", "--key-file", str(tmp_path / "absent.json")])

    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("error: no_key_file: ")
    assert "Traceback" not in err


def test_cli_reports_a_refused_connection_without_a_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there

    code = main(
        [
            *("--server", f"http://127.0.0.1:{port}", "--admin-token", "t"),
            *("admin", "enroll-code", SENDER),
        ]
    )

    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("error: server_unreachable: ")
    assert "Traceback" not in err
