"""The computed vectors: envelopes, signatures and refusals, from fixed keys, nonces, content keys
and ephemeral secrets, so that every byte is reproducible.

Built from ``messaging.crypto``'s primitives, following DESIGN §3–§5 step by step rather than
through the SDK, which the vectors then test. The first envelope and the box-key binding are the
known answers pinned by hand in ``tests/test_crypto.py``.
"""

from __future__ import annotations

import json
from typing import Any, Final

from messaging import crypto
from messaging.canonical import (
    B64U_ALPHABET,
    DUPLICATE_MEMBER,
    INVALID_ENCODING,
    INVALID_JSON,
    NON_CANONICAL,
    UNPAIRED_SURROGATE,
    canonical_json,
)
from messaging.conformance.cases import REPLY_TO, refused
from messaging.models import DOSSIER_KEY, UNSUPPORTED_VERSION


def fixed(start: int, size: int = 32) -> bytes:
    """``size`` bytes counting up from ``start``: a fixed key no one would use for real."""
    return bytes((start + i) % 256 for i in range(size))


SENDER = "rpps:10003456789"
SENDER_DEVICE = "dev_abcdefghijklmnopqrstuvwxyz"
SENDER_KEYS: Final = crypto.DeviceKeys(crypto.SigningKey(fixed(0)), crypto.BoxKey(fixed(32)))
RECIPIENT = "rpps:10009876543"
RECIPIENT_DEVICE = "dev_bcdefghijklmnopqrstuvwxyz2"
RECIPIENT_KEYS: Final = crypto.DeviceKeys(crypto.SigningKey(fixed(128)), crypto.BoxKey(fixed(160)))
DOSSIER_BOX: Final = crypto.BoxKey(fixed(192))
SERVER_SIGN: Final = crypto.SigningKey(fixed(224))
CONTENT_KEY: Final = fixed(64)
NONCE: Final = fixed(96, crypto.NONCE_BYTES)
EPHEMERAL: Final = {RECIPIENT_DEVICE: fixed(100), DOSSIER_KEY: fixed(200)}
MESSAGE_ID = "0b9c4a8e-4a5e-4f7e-9d7e-2a0f6d1c3b5a"
INS = "146026322000196"


def _b64u(data: bytes) -> str:
    return crypto.b64u_encode(data)


def keys_document() -> dict[str, Any]:
    return {
        "sender": SENDER,
        "sender_device": SENDER_DEVICE,
        "sender_sign_seed_hex": SENDER_KEYS.sign.seed.hex(),
        "sender_sign_key": _b64u(SENDER_KEYS.sign.public),
        "sender_box_secret_hex": SENDER_KEYS.box.secret.hex(),
        "sender_box_key": _b64u(SENDER_KEYS.box.public),
        "recipient": RECIPIENT,
        "recipient_device": RECIPIENT_DEVICE,
        "recipient_box_secret_hex": RECIPIENT_KEYS.box.secret.hex(),
        "recipient_box_key": _b64u(RECIPIENT_KEYS.box.public),
        "dossier_box_secret_hex": DOSSIER_BOX.secret.hex(),
        "dossier_key": _b64u(DOSSIER_BOX.public),
        "server_sign_seed_hex": SERVER_SIGN.seed.hex(),
        "server_sign_key": _b64u(SERVER_SIGN.public),
    }


# --- envelopes --------------------------------------------------------------------------------

PLAIN: Final = {
    "subject": "Compte rendu",
    "body": "Bonjour, voici le compte rendu.",
    "attachments": [],
}
RICH: Final = {
    "subject": "Écho — résultat 🫀",
    "body": 'Ligne 1\u2028ligne 2\n\tfin \\ "citée"',
    "attachments": [
        {
            "name": "écho.pdf",
            "media_type": "application/pdf",
            "data": _b64u(b"%PDF-1.7\n\x00\xff"),
        }
    ],
    "in_reply_to": REPLY_TO,
}
DOSSIER: Final = {"ins": INS, "type": "CR", "title": "Compte rendu d'échographie", "masked": False}

_ABSENT = object()


def _envelope(plaintext: dict[str, Any], dossier: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The envelope (``keys`` last) and what the vector tells about how it was made."""
    plaintext_bytes = canonical_json(plaintext)
    aad = crypto.content_aad(MESSAGE_ID)
    ciphertext = crypto.aead_encrypt(plaintext_bytes, aad, NONCE, CONTENT_KEY)
    envelope: dict[str, Any] = {
        "v": 1,
        "id": MESSAGE_ID,
        "sender": SENDER,
        "sender_device": SENDER_DEVICE,
        "recipients": [RECIPIENT],
        "created_at": "2026-11-26T08:00:00.000Z",
    }
    if dossier is not _ABSENT:
        envelope["dossier"] = dossier
    envelope |= {"nonce": _b64u(NONCE), "ciphertext": _b64u(ciphertext)}
    signing_bytes = crypto.envelope_signing_bytes(envelope)
    envelope["signature"] = crypto.sign_envelope(envelope, SENDER_KEYS.sign)
    wraps = {RECIPIENT_DEVICE: RECIPIENT_KEYS.box.public}
    if dossier not in (None, _ABSENT):
        wraps[DOSSIER_KEY] = DOSSIER_BOX.public
    envelope["keys"] = {
        name: _b64u(crypto.seal_with_ephemeral(CONTENT_KEY, box_key, EPHEMERAL[name]))
        for name, box_key in wraps.items()
    }
    made = {
        "content_key_hex": CONTENT_KEY.hex(),
        "nonce_hex": NONCE.hex(),
        "ephemeral_secrets_hex": {name: EPHEMERAL[name].hex() for name in wraps},
        "plaintext": plaintext,
        "plaintext_canonical": plaintext_bytes.decode(),
        "aad_hex": aad.hex(),
        "signing_bytes": signing_bytes.decode(),
    }
    return envelope, made


ENVELOPES: Final[list[tuple[str, dict[str, Any], Any]]] = [
    ("the known answer of tests/test_crypto.py (dossier null)", PLAIN, None),
    ("accents, emoji, U+2028, escapes, an attachment, a reply and a dossier", RICH, DOSSIER),
    ("dossier absent: absent is not null, so another signature", PLAIN, _ABSENT),
]


def envelope_cases() -> list[dict[str, Any]]:
    cases = []
    for name, plaintext, dossier in ENVELOPES:
        envelope, made = _envelope(plaintext, dossier)
        cases.append({"name": name, **made, "envelope": envelope})
    return cases


# --- signatures -------------------------------------------------------------------------------

ENROLLMENT_CODE = "ABCD-EFGH-JKLM-NPQR"
CHALLENGE: Final = fixed(8)
RECEIPT: Final = {
    "message_id": MESSAGE_ID,
    "recipient": RECIPIENT,
    "device": RECIPIENT_DEVICE,
    "status": "delivered",
    "at": "2026-11-26T08:00:01.000Z",
}
NOTIFICATION: Final = {
    "event": "dossier.emergency_access",
    "ins": INS,
    "professional": RECIPIENT,
    "reason": "Patient inconscient — urgence vitale",
    "expires_at": "2026-11-26T20:00:00.000Z",
    "at": "2026-11-26T08:00:00.000Z",
}
CHECKPOINT: Final = {"ins": INS, "seq": 41, "head": "ab" * 32, "at": "2026-11-26T08:00:00.000Z"}


def signature_cases() -> list[dict[str, Any]]:
    device = SENDER_KEYS

    def raw(name: str, context: str, message: bytes, signature: bytes) -> dict[str, Any]:
        return {
            "name": name,
            "context": context,
            "signer": "sender device",
            "message_hex": message.hex(),
            "signature": _b64u(signature),
        }

    def signed(name: str, context: str, body: dict[str, Any], signature: str) -> dict[str, Any]:
        return {
            "name": name,
            "context": context,
            "signer": "server",
            "signed": body,
            "signing_bytes": canonical_json(body).decode(),
            "signature": signature,
        }

    return [
        raw(
            "box-key binding: the device's X25519 public key",
            crypto.CTX_BOX_KEY,
            device.box.public,
            device.box_key_signature(),
        ),
        raw(
            "enrollment proof: the code's UTF-8 bytes",
            crypto.CTX_ENROLL,
            ENROLLMENT_CODE.encode(),
            device.enrollment_proof(ENROLLMENT_CODE),
        ),
        raw(
            "authentication: the challenge's 32 bytes",
            crypto.CTX_AUTH,
            CHALLENGE,
            device.auth_signature(CHALLENGE),
        ),
        signed(
            "a delivery receipt",
            crypto.CTX_SERVER_EVENT,
            RECEIPT,
            crypto.sign_server_event(RECEIPT, SERVER_SIGN),
        ),
        signed(
            "a notification (non-ASCII text)",
            crypto.CTX_SERVER_EVENT,
            NOTIFICATION,
            crypto.sign_server_event(NOTIFICATION, SERVER_SIGN),
        ),
        signed(
            "an access-log checkpoint {ins, seq, head, at}",
            crypto.CTX_LOG_CHECKPOINT,
            CHECKPOINT,
            crypto.sign_log_checkpoint(CHECKPOINT, SERVER_SIGN),
        ),
    ]


# --- refusals ---------------------------------------------------------------------------------


def non_canonical_b64u(text: str) -> str:
    """Another spelling of the same bytes, with an unused trailing bit set."""
    unused = {2: 0b1111, 3: 0b11}[len(text) % 4]
    value = B64U_ALPHABET.index(text[-1])
    return text[:-1] + B64U_ALPHABET[value | (unused & -unused)]


def _compact(envelope: dict[str, Any]) -> str:
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False)


def _swap(text: str, old: str, new: str) -> str:
    if text.count(old) != 1:
        raise ValueError(f"{old!r} must occur once in the base envelope")
    return text.replace(old, new)


def refusal_cases() -> list[dict[str, Any]]:
    plain, _ = _envelope(PLAIN, None)
    rich, _ = _envelope(RICH, DOSSIER)
    base, with_dossier = _compact(plain), _compact(rich)
    signature, nonce, ciphertext = plain["signature"], plain["nonce"], plain["ciphertext"]
    wrap = plain["keys"][RECIPIENT_DEVICE]
    created = '"created_at":"2026-11-26T08:00:00.000Z"'
    title = '"title":"Compte rendu d\'échographie"'
    envelope_cases: list[tuple[str, str | bytes, dict[str, Any], bool]] = [
        ("v is 1.0", _swap(base, '"v":1,', '"v":1.0,'), refused(NON_CANONICAL, "/v"), True),
        ("v is 1e0", _swap(base, '"v":1,', '"v":1e0,'), refused(NON_CANONICAL, "/v"), True),
        ("v is true", _swap(base, '"v":1,', '"v":true,'), refused(NON_CANONICAL, "/v"), True),
        (
            "v is the string 1",
            _swap(base, '"v":1,', '"v":"1",'),
            refused(NON_CANONICAL, "/v"),
            True,
        ),
        ("v is -0", _swap(base, '"v":1,', '"v":-0,'), refused(NON_CANONICAL, "/v"), True),
        ("v is 2", _swap(base, '"v":1,', '"v":2,'), refused(UNSUPPORTED_VERSION, "/v"), True),
        (
            "the signature with an unused bit set (same bytes, another spelling)",
            _swap(base, signature, non_canonical_b64u(signature)),
            refused(NON_CANONICAL, "/signature"),
            True,
        ),
        (
            "the signature with padding",
            _swap(base, f'"{signature}"', f'"{signature}=="'),
            refused(NON_CANONICAL, "/signature"),
            True,
        ),
        (
            "the nonce in the standard alphabet",
            _swap(base, nonce, nonce[:-1] + "+"),
            refused(NON_CANONICAL, "/nonce"),
            True,
        ),
        (
            "the ciphertext with an unused bit set",
            _swap(base, ciphertext, non_canonical_b64u(ciphertext)),
            refused(NON_CANONICAL, "/ciphertext"),
            True,
        ),
        (
            "a key wrap with an unused bit set",
            _swap(base, wrap, non_canonical_b64u(wrap)),
            refused(NON_CANONICAL, f"/keys/{RECIPIENT_DEVICE}"),
            False,
        ),
        (
            "created_at on 30 February",
            _swap(base, created, created.replace("11-26", "02-30")),
            refused(NON_CANONICAL, "/created_at"),
            True,
        ),
        (
            "created_at on a leap second",
            _swap(base, created, created.replace("08:00:00", "23:59:60")),
            refused(NON_CANONICAL, "/created_at"),
            True,
        ),
        (
            "created_at with a lower-case z",
            _swap(base, created, created.replace("Z", "z")),
            refused(NON_CANONICAL, "/created_at"),
            True,
        ),
        (
            "created_at with an offset",
            _swap(base, created, created.replace("Z", "+00:00")),
            refused(NON_CANONICAL, "/created_at"),
            True,
        ),
        (
            "a recipient with an unpaired surrogate",
            _swap(base, f'"{RECIPIENT}"', f'"{RECIPIENT}\\udc00"'),
            refused(UNPAIRED_SURROGATE, "/recipients/0"),
            True,
        ),
        (
            "the dossier title with an emoji cut in half",
            _swap(with_dossier, title, title[:-1] + '\\ud83d"'),
            refused(UNPAIRED_SURROGATE, "/dossier/title"),
            True,
        ),
        (
            "a repeated member",
            _swap(base, '"v":1,', f'"v":1,"id":"{MESSAGE_ID}",'),
            refused(DUPLICATE_MEMBER, ""),
            True,
        ),
        (
            "a repeated member in the dossier header",
            _swap(with_dossier, title, f"{title},{title}"),
            refused(DUPLICATE_MEMBER, "/dossier"),
            True,
        ),
        ("NaN for v", _swap(base, '"v":1,', '"v":NaN,'), refused(INVALID_JSON, None), True),
        (
            "a byte-order mark",
            b"\xef\xbb\xbf" + base.encode(),
            refused(INVALID_ENCODING, None),
            False,
        ),
        ("UTF-16", base.encode("utf-16"), refused(INVALID_ENCODING, None), False),
        ("Latin-1", with_dossier.encode("latin-1"), refused(INVALID_ENCODING, None), False),
    ]
    cases = [
        _request(name, "/v1/messages", body, error, recipients=also)
        for (name, body, error, also) in envelope_cases
    ]
    signature_text = crypto.b64u_encode(SENDER_KEYS.box_key_signature())
    others = [
        (
            "an ack cursor with an unpaired surrogate",
            "/v1/messages/ack",
            '{"cursors":["1-0.\\ud800abc"]}',
            refused(UNPAIRED_SURROGATE, "/cursors/0"),
        ),
        (
            "an enrollment whose sign key has an unused bit set",
            "/v1/devices",
            json.dumps(
                {
                    "principal": SENDER,
                    "enrollment_code": ENROLLMENT_CODE,
                    "name": "poste",
                    "sign_key": non_canonical_b64u(_b64u(SENDER_KEYS.sign.public)),
                    "box_key": _b64u(SENDER_KEYS.box.public),
                    "box_key_signature": signature_text,
                    "proof": _b64u(SENDER_KEYS.enrollment_proof(ENROLLMENT_CODE)),
                },
                separators=(",", ":"),
            ),
            refused(NON_CANONICAL, "/sign_key"),
        ),
        (
            "a token request whose challenge has an unused bit set",
            "/v1/auth/token",
            json.dumps(
                {
                    "device": SENDER_DEVICE,
                    "challenge": non_canonical_b64u(_b64u(CHALLENGE)),
                    "signature": _b64u(SENDER_KEYS.auth_signature(CHALLENGE)),
                },
                separators=(",", ":"),
            ),
            refused(NON_CANONICAL, "/challenge"),
        ),
    ]
    cases += [
        _request(name, path, body, error, recipients=False) for name, path, body, error in others
    ]
    return cases


def _request(
    name: str, path: str, body: str | bytes, error: dict[str, Any], *, recipients: bool
) -> dict[str, Any]:
    sent = {"body": body} if isinstance(body, str) else {"body_hex": body.hex()}
    return {
        "name": name,
        "method": "POST",
        "path": path,
        **sent,
        "status": 400,
        **error,
        "also_for_recipients": recipients,
    }
