"""The computed vectors: envelopes and signatures, from fixed keys, nonces, content keys
and ephemeral secrets, so that every byte is reproducible.

Built from ``messaging.crypto``'s primitives, following DESIGN §3–§5 step by step rather than
through the SDK, which the vectors then test. The first envelope and the box-key binding are the
known answers pinned by hand in ``tests/test_crypto.py``. The refusals built from these
envelopes are in ``messaging.conformance.refusals``.
"""

from __future__ import annotations

from typing import Any, Final

from messaging import crypto, log_signing
from messaging.canonical import canonical_json
from messaging.conformance.cases import REPLY_TO
from messaging.models import DOSSIER_KEY


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


def build_envelope(
    plaintext: dict[str, Any], dossier: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
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
        envelope, made = build_envelope(plaintext, dossier)
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
            log_signing.sign_log_checkpoint(CHECKPOINT, SERVER_SIGN),
        ),
    ]
