"""Known answers that pin the byte format of DESIGN §2–§5, and the properties around them."""

from __future__ import annotations

from typing import Any

import pytest

from messaging import crypto, log_signing

SIGN = crypto.SigningKey(bytes(range(32)))
BOX = crypto.BoxKey(bytes(range(32, 64)))
CONTENT_KEY = bytes(range(64, 96))
NONCE = bytes(range(96, 120))
MESSAGE_ID = "0b9c4a8e-4a5e-4f7e-9d7e-2a0f6d1c3b5a"
PLAINTEXT = {
    "subject": "Compte rendu",
    "body": "Bonjour, voici le compte rendu.",
    "attachments": [],
}
CIPHERTEXT = (
    "7lySEQdzgEOQ1lkOKeDnsKELi9SSBZ9l2025pfk6MHfMKiBYPdseVFKfp_vGPDc_Os3pfwCRC6p8wKmsXzDkALEbwEkHO"
    "hxrWDj-jOsLCG8czK8p0RBu4a60DdQaoky_ifMfFA"
)
ENVELOPE_SIGNATURE = (
    "1pNMFhYy2aMCygHCL0oAP961tpQ16CsfmRZ-tOiXSWvqK5MvykeRDkc4vXm-OlYREQ4TW0zYHAQ2g6icb5d8Aw"
)
RECEIPT = {
    "message_id": MESSAGE_ID,
    "recipient": "rpps:10009876543",
    "device": "dev_abcdefghijklmnopqrstuvwxyz",
    "status": "delivered",
    "at": "2026-11-26T08:00:01.000Z",
}
RECEIPT_SIGNATURE = (
    "v_-w7Gc4fF1uTkPPHLrvdXKSY75zIvt2OMnBaW7oCvxLwAEtSLP_5WtdxqYqoeW_k9m4nw3AecjYOrDr7q3rDA"
)
CHECKPOINT = {
    "ins": "146026322000196",
    "seq": 7,
    "head": "5" * 64,
    "at": "2026-11-26T08:00:02.000Z",
}
CHECKPOINT_SIGNATURE = (
    "ScB19m1DFjTLb2mGDInf2cBmX_n9OO-GWwKPzE6v-3uEO541DCImATVMS4eRmgS8kSi91CgtU8JkwzjkT-zJDw"
)


def _envelope() -> dict[str, Any]:
    return {
        "v": 1,
        "id": MESSAGE_ID,
        "sender": "rpps:10003456789",
        "sender_device": "dev_abcdefghijklmnopqrstuvwxyz",
        "recipients": ["rpps:10009876543"],
        "created_at": "2026-11-26T08:00:00.000Z",
        "dossier": None,
        "nonce": crypto.b64u_encode(NONCE),
        "ciphertext": CIPHERTEXT,
    }


def test_public_keys_derive_from_fixed_secrets() -> None:
    assert crypto.b64u_encode(SIGN.public) == "A6EHv_POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg"
    assert crypto.b64u_encode(BOX.public) == "NYBy1jZYgNGu6jKa35EhODhR7SGijjt16WXQ0s0WYlQ"


def test_content_encryption_known_answer() -> None:
    sealed = crypto.encrypt_content(PLAINTEXT, MESSAGE_ID, CONTENT_KEY, NONCE)
    assert crypto.b64u_encode(sealed.ciphertext) == CIPHERTEXT
    opened = crypto.decrypt_content(sealed.ciphertext, MESSAGE_ID, CONTENT_KEY, NONCE)
    assert opened == PLAINTEXT


def test_envelope_signing_bytes_are_canonical_json_without_keys_and_signature() -> None:
    envelope = {**_envelope(), "keys": {"dev_x": "AAAA"}, "signature": "AAAA"}
    assert crypto.envelope_signing_bytes(envelope) == (
        b'{"ciphertext":"' + CIPHERTEXT.encode() + b'","created_at":"2026-11-26T08:00:00.000Z",'
        b'"dossier":null,"id":"' + MESSAGE_ID.encode() + b'","nonce":"YGFiY2RlZmdoaWprbG1ub3Bx'
        b'cnN0dXZ3","recipients":["rpps:10009876543"],"sender":"rpps:10003456789",'
        b'"sender_device":"dev_abcdefghijklmnopqrstuvwxyz","v":1}'
    )


def test_envelope_signature_known_answer() -> None:
    assert crypto.sign_envelope(_envelope(), SIGN) == ENVELOPE_SIGNATURE
    crypto.verify_envelope({**_envelope(), "signature": ENVELOPE_SIGNATURE}, SIGN.public)


def test_server_event_signature_known_answer() -> None:
    assert crypto.sign_server_event(RECEIPT, SIGN) == RECEIPT_SIGNATURE
    crypto.verify_server_event(RECEIPT, RECEIPT_SIGNATURE, SIGN.public)


def test_log_checkpoint_signature_known_answer() -> None:
    assert log_signing.checkpoint_signing_bytes(CHECKPOINT) == (
        b'{"at":"2026-11-26T08:00:02.000Z","head":"' + b"5" * 64 + b'","ins":"146026322000196",'
        b'"seq":7}'
    )
    assert log_signing.sign_log_checkpoint(CHECKPOINT, SIGN) == CHECKPOINT_SIGNATURE
    log_signing.verify_log_checkpoint(CHECKPOINT, CHECKPOINT_SIGNATURE, SIGN.public)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("ins", "253072A07300443"),
        ("seq", 6),
        ("head", "6" * 64),
        ("at", "2026-11-26T08:00:03.000Z"),
    ],
)
def test_tampering_with_a_checkpoint_breaks_its_signature(field: str, value: Any) -> None:
    with pytest.raises(crypto.CryptoError):
        log_signing.verify_log_checkpoint(
            {**CHECKPOINT, field: value}, CHECKPOINT_SIGNATURE, SIGN.public
        )


@pytest.mark.parametrize(
    "checkpoint",
    [
        {**CHECKPOINT, "extra": 1},
        {k: v for k, v in CHECKPOINT.items() if k != "at"},
        {**CHECKPOINT, "seq": 7.0},
        {**CHECKPOINT, "seq": True},
        {**CHECKPOINT, "seq": -1},
        {**CHECKPOINT, "seq": 2**53},
        {**CHECKPOINT, "head": None},
    ],
)
def test_a_malformed_checkpoint_is_neither_signed_nor_verified(checkpoint: Any) -> None:
    with pytest.raises(crypto.CryptoError):
        log_signing.sign_log_checkpoint(checkpoint, SIGN)
    with pytest.raises(crypto.CryptoError):
        log_signing.verify_log_checkpoint(checkpoint, CHECKPOINT_SIGNATURE, SIGN.public)


def test_a_checkpoint_signature_is_no_server_event_signature() -> None:
    """Domain separation: the same bytes signed as a server event do not verify as a
    checkpoint, and the reverse."""
    as_event = crypto.sign_server_event(CHECKPOINT, SIGN)
    with pytest.raises(crypto.CryptoError):
        log_signing.verify_log_checkpoint(CHECKPOINT, as_event, SIGN.public)
    with pytest.raises(crypto.CryptoError):
        crypto.verify_server_event(CHECKPOINT, CHECKPOINT_SIGNATURE, SIGN.public)


def test_box_key_binding_known_answer() -> None:
    keys = crypto.DeviceKeys(SIGN, BOX)
    assert crypto.b64u_encode(keys.box_key_signature()) == (
        "aj64zNs3c2__RUT4C-BknDp2YYJU_JkwIvhVI7XZ8ikN3is5kARXlUTk-ls-PkWmS2KjrfNq1RXy3jRNCMC8BQ"
    )


def test_canonical_json_keeps_unicode_and_sorts_keys() -> None:
    assert crypto.canonical_json({"é": "à", "a": [1, {"c": 2, "b": None}]}) == (
        '{"a":[1,{"b":null,"c":2}],"é":"à"}'.encode()
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("recipients", ["rpps:10000000000"]),
        ("sender", "rpps:10000000001"),
        ("created_at", "2026-11-26T08:00:00.001Z"),
        ("ciphertext", CIPHERTEXT[:-2] + "AA"),
        ("dossier", {"ins": "146026322000196", "type": "CR", "title": "x"}),
    ],
)
def test_tampering_with_any_signed_field_breaks_the_signature(field: str, value: Any) -> None:
    tampered = {**_envelope(), field: value, "signature": ENVELOPE_SIGNATURE}
    with pytest.raises(crypto.CryptoError):
        crypto.verify_envelope(tampered, SIGN.public)


def test_signatures_do_not_cross_contexts() -> None:
    challenge = bytes(32)
    auth = crypto.DeviceKeys(SIGN, BOX).auth_signature(challenge)
    crypto.verify(SIGN.public, crypto.CTX_AUTH, challenge, auth)
    with pytest.raises(crypto.CryptoError):
        crypto.verify(SIGN.public, crypto.CTX_ENROLL, challenge, auth)


def test_content_is_bound_to_its_message_id() -> None:
    sealed = crypto.encrypt_content(PLAINTEXT, MESSAGE_ID, CONTENT_KEY, NONCE)
    with pytest.raises(crypto.CryptoError):
        crypto.decrypt_content(
            sealed.ciphertext, MESSAGE_ID.replace("0b", "0c"), CONTENT_KEY, NONCE
        )


def test_sealed_content_key_opens_only_with_its_box_key() -> None:
    wrap = crypto.seal(CONTENT_KEY, BOX.public)
    assert BOX.open(wrap) == CONTENT_KEY
    with pytest.raises(crypto.CryptoError):
        crypto.BoxKey.generate().open(wrap)


@pytest.mark.parametrize("text", ["AA==", "a+b/", "a b", "A"])
def test_b64u_decode_is_strict(text: str) -> None:
    with pytest.raises(crypto.CryptoError):
        crypto.b64u_decode(text)


def test_key_sizes_are_checked() -> None:
    with pytest.raises(crypto.CryptoError):
        crypto.SigningKey(bytes(31))
    with pytest.raises(crypto.CryptoError):
        crypto.seal(CONTENT_KEY, bytes(16))
