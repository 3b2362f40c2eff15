"""The conformance vectors of docs/vectors/: committed exactly as generated, and every one of them
passed by the Python implementation (reader, canonical writer, crypto, SDK, server)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from messaging import canonical, crypto, log_signing, models, wire_types
from messaging.client import Attachment, MessageContent, UnreadableContent, open_content
from messaging.client.content import SignedEnvelope
from messaging.conformance import __main__ as conformance_main
from messaging.conformance import documents, render, stale
from tests.support import World

VECTORS = Path(__file__).parents[1] / "docs" / "vectors"


def _load(name: str) -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = json.loads((VECTORS / name).read_text("utf-8"))["cases"]
    return cases


def _cases(name: str) -> list[Any]:
    return [pytest.param(case, id=case["name"]) for case in _load(name)]


def _keys() -> dict[str, Any]:
    keys: dict[str, Any] = json.loads((VECTORS / "envelope.json").read_text())["keys"]
    return keys


def _input(case: dict[str, Any], name: str) -> bytes:
    return bytes.fromhex(case[f"{name}_hex"]) if f"{name}_hex" in case else case[name].encode()


# --- the files themselves ---------------------------------------------------------------------


def test_committed_vectors_are_exactly_what_the_generator_writes() -> None:
    assert stale(VECTORS) == []
    assert sorted(path.name for path in VECTORS.glob("*.json")) == sorted(documents())


def test_the_generator_writes_and_checks_a_directory(tmp_path: Path) -> None:
    assert conformance_main.main(["--write", str(tmp_path)]) == 0
    for name, document in documents().items():
        assert (tmp_path / name).read_bytes() == render(document)
    assert conformance_main.main(["--check", str(tmp_path)]) == 0
    (tmp_path / "times.json").write_bytes(b"{}\n")
    assert conformance_main.main(["--check", str(tmp_path)]) == 1


# --- encodings --------------------------------------------------------------------------------


@pytest.mark.parametrize("case", _cases("canonical-json.json"))
def test_canonical_json_vector(case: dict[str, Any]) -> None:
    data = _input(case, "input")
    if "error" in case:
        with pytest.raises(canonical.EncodingError) as refused:
            canonical.canonical_json(canonical.loads(data))
        assert (refused.value.code, refused.value.field) == (
            case["error"]["code"],
            case["error"]["field"],
        )
    else:
        assert canonical.canonical_json(canonical.loads(data)) == case["canonical"].encode()


@pytest.mark.parametrize("case", _cases("b64u.json"))
def test_b64u_vector(case: dict[str, Any]) -> None:
    adapter = TypeAdapter(wire_types.B64u)
    if "error" in case:
        with pytest.raises(crypto.CryptoError):
            crypto.b64u_decode(case["text"])
        with pytest.raises(ValidationError) as refused:
            adapter.validate_python(case["text"])
        assert refused.value.errors()[0]["type"] == case["error"]["code"]
    else:
        assert crypto.b64u_decode(case["text"]).hex() == case["bytes_hex"]
        assert crypto.b64u_encode(bytes.fromhex(case["bytes_hex"])) == case["text"]
        assert adapter.validate_python(case["text"]) == case["text"]


@pytest.mark.parametrize("case", _cases("times.json"))
def test_time_vector(case: dict[str, Any]) -> None:
    adapter = TypeAdapter(wire_types.Timestamp)
    if "error" in case:
        with pytest.raises(ValidationError) as refused:
            adapter.validate_python(case["text"])
        assert refused.value.errors()[0]["type"] == case["error"]["code"]
    else:
        assert case["valid"] is True
        assert adapter.validate_python(case["text"]) == case["text"]


# --- messages ---------------------------------------------------------------------------------


@pytest.mark.parametrize("case", _cases("envelope.json"))
def test_envelope_vector_as_sender(case: dict[str, Any]) -> None:
    keys = _keys()
    sender = crypto.SigningKey(bytes.fromhex(keys["sender_sign_seed_hex"]))
    envelope = case["envelope"]
    content_key, nonce = bytes.fromhex(case["content_key_hex"]), bytes.fromhex(case["nonce_hex"])

    assert crypto.b64u_encode(sender.public) == keys["sender_sign_key"]
    assert canonical.canonical_json(case["plaintext"]) == case["plaintext_canonical"].encode()
    assert crypto.content_aad(envelope["id"]).hex() == case["aad_hex"]
    sealed = crypto.encrypt_content(case["plaintext"], envelope["id"], content_key, nonce)
    assert crypto.b64u_encode(sealed.ciphertext) == envelope["ciphertext"]
    assert crypto.envelope_signing_bytes(envelope) == case["signing_bytes"].encode()
    assert crypto.sign_envelope(envelope, sender) == envelope["signature"]
    boxes = {keys["recipient_device"]: keys["recipient_box_key"], "dossier": keys["dossier_key"]}
    for name, wrap in envelope["keys"].items():
        ephemeral = bytes.fromhex(case["ephemeral_secrets_hex"][name])
        box_key = crypto.b64u_decode(boxes[name])
        assert crypto.b64u_encode(crypto.seal_with_ephemeral(content_key, box_key, ephemeral)) == (
            wrap
        )
    models.Envelope.model_validate(envelope)  # the server takes it


@pytest.mark.parametrize("case", _cases("envelope.json"))
def test_envelope_vector_as_recipient(case: dict[str, Any]) -> None:
    keys = _keys()
    relayed = {k: v for k, v in case["envelope"].items() if k != "keys"}
    SignedEnvelope.model_validate(relayed)
    crypto.verify_envelope(relayed, crypto.b64u_decode(keys["sender_sign_key"]))
    readers = {
        keys["recipient_device"]: crypto.BoxKey(bytes.fromhex(keys["recipient_box_secret_hex"])),
        "dossier": crypto.BoxKey(bytes.fromhex(keys["dossier_box_secret_hex"])),
    }
    for name, wrap in case["envelope"]["keys"].items():
        opened = open_content(relayed, crypto.b64u_decode(wrap), readers[name])
        assert opened.plaintext() == case["plaintext"]
        assert readers[name].open(crypto.b64u_decode(wrap)).hex() == case["content_key_hex"]


@pytest.mark.parametrize("case", _cases("plaintext.json"))
def test_plaintext_vector(case: dict[str, Any]) -> None:
    # Encrypted as a sender would have, then opened by the SDK as a recipient does.
    reader = crypto.BoxKey.generate()
    key, nonce, message_id = bytes(32), bytes(24), "5f0c2b53-6f3c-4d58-9a5e-1d2b1b7c7e10"
    ciphertext = crypto.aead_encrypt(
        _input(case, "plaintext"), crypto.content_aad(message_id), nonce, key
    )
    envelope = {
        "id": message_id,
        "nonce": crypto.b64u_encode(nonce),
        "ciphertext": crypto.b64u_encode(ciphertext),
    }
    wrap = crypto.seal(key, reader.public)
    if "error" in case:
        with pytest.raises(UnreadableContent) as unreadable:
            open_content(envelope, wrap, reader)
        assert unreadable.value.code == case["error"]["code"]
        return
    opened = open_content(envelope, wrap, reader)
    expected = case["content"]
    assert opened == MessageContent(
        expected["subject"],
        expected["body"],
        tuple(
            Attachment(a["name"], a["media_type"], bytes.fromhex(a["data_hex"]))
            for a in expected["attachments"]
        ),
        expected["in_reply_to"],
        expected["extra"],
    )
    # What this SDK would send back holds the known members only.
    assert set(opened.plaintext()) <= {"subject", "body", "attachments", "in_reply_to"}


@pytest.mark.parametrize("case", _cases("signatures.json"))
def test_signature_vector(case: dict[str, Any]) -> None:
    keys = _keys()
    role = "server" if case["signer"] == "server" else "sender"
    signer = crypto.SigningKey(bytes.fromhex(keys[f"{role}_sign_seed_hex"]))
    if "signed" in case:
        message = canonical.canonical_json(case["signed"])
        assert message == case["signing_bytes"].encode()
    else:
        message = bytes.fromhex(case["message_hex"])
    assert crypto.b64u_encode(signer.sign(case["context"], message)) == case["signature"]
    crypto.verify(
        crypto.b64u_decode(keys[f"{role}_sign_key"]),
        case["context"],
        message,
        crypto.b64u_decode(case["signature"]),
    )


def test_the_signature_vectors_use_the_libraries_own_signers() -> None:
    cases = {case["name"]: case for case in _load("signatures.json")}
    keys = _keys()
    server = crypto.b64u_decode(keys["server_sign_key"])
    receipt = cases["a delivery receipt"]
    crypto.verify_server_event(receipt["signed"], receipt["signature"], server)
    checkpoint = cases["an access-log checkpoint {ins, seq, head, at}"]
    log_signing.verify_log_checkpoint(checkpoint["signed"], checkpoint["signature"], server)


# --- refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize("case", _cases("refusals.json"))
async def test_refusal_vector_on_the_server(world: World, case: dict[str, Any]) -> None:
    device = await world.professional()
    response = await world.client.request(
        case["method"],
        case["path"],
        data=_input(case, "body"),
        headers={**device.headers, "Content-Type": "application/json"},
    )
    problem = await response.json()
    assert response.status == case["status"], problem
    assert (problem["code"], problem.get("field")) == (case["code"], case["field"])
    assert response.content_type == "application/problem+json"


@pytest.mark.parametrize(
    "case",
    [pytest.param(c, id=c["name"]) for c in _load("refusals.json") if c["also_for_recipients"]],
)
def test_refusal_vector_as_recipient(case: dict[str, Any]) -> None:
    def read_relayed(body: bytes) -> SignedEnvelope:
        relayed = canonical.loads(body)
        relayed.pop("keys")
        return SignedEnvelope.model_validate(relayed)

    with pytest.raises((canonical.EncodingError, ValidationError)):
        read_relayed(_input(case, "body"))
