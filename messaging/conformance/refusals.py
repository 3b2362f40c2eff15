"""The refusal vectors: POST bodies that differ from a valid one (``messages``) by one spelling
or one encoding, each with the problem code and JSON Pointer every implementation must answer.
"""

from __future__ import annotations

import json
from typing import Any

from messaging import crypto
from messaging.canonical import (
    B64U_ALPHABET,
    DUPLICATE_MEMBER,
    INVALID_ENCODING,
    INVALID_JSON,
    NON_CANONICAL,
    UNPAIRED_SURROGATE,
)
from messaging.conformance.cases import refused
from messaging.conformance.messages import (
    CHALLENGE,
    DOSSIER,
    ENROLLMENT_CODE,
    MESSAGE_ID,
    PLAIN,
    RECIPIENT,
    RECIPIENT_DEVICE,
    RICH,
    SENDER,
    SENDER_DEVICE,
    SENDER_KEYS,
    build_envelope,
)
from messaging.wire_types import (
    UNSUPPORTED_VERSION,
)


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
    plain, _ = build_envelope(PLAIN, None)
    rich, _ = build_envelope(RICH, DOSSIER)
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
                    "sign_key": non_canonical_b64u(crypto.b64u_encode(SENDER_KEYS.sign.public)),
                    "box_key": crypto.b64u_encode(SENDER_KEYS.box.public),
                    "box_key_signature": signature_text,
                    "proof": crypto.b64u_encode(SENDER_KEYS.enrollment_proof(ENROLLMENT_CODE)),
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
                    "challenge": non_canonical_b64u(crypto.b64u_encode(CHALLENGE)),
                    "signature": crypto.b64u_encode(SENDER_KEYS.auth_signature(CHALLENGE)),
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
