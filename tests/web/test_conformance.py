"""The browser's protocol code against the Python implementation, byte for byte: constants,
canonical JSON, strict base64url, the INS key, every signature, AEAD and sealed box with fixed
keys (the known answers of tests/test_crypto.py), and the receiver against forged events. The
JavaScript runs in Chromium, from the very modules the client loads (docs/vectors: see
test_vectors.py)."""

from __future__ import annotations

from typing import Annotated, Any, cast

import pytest
from pydantic import StringConstraints, TypeAdapter, ValidationError

from messaging import crypto, identifiers, models, wire_types
from tests.test_crypto import (
    BOX,
    CHECKPOINT,
    CHECKPOINT_SIGNATURE,
    CIPHERTEXT,
    CONTENT_KEY,
    ENVELOPE_SIGNATURE,
    MESSAGE_ID,
    NONCE,
    PLAINTEXT,
    RECEIPT,
    RECEIPT_SIGNATURE,
    SIGN,
)
from tests.test_crypto import _envelope as known_envelope
from tests.web.conftest import BROWSER
from tests.web.modules import run
from tests.web.pages import WebPage

pytestmark = BROWSER


async def test_protocol_constants_match_the_wire_models(web: WebPage) -> None:
    constants = await run(
        web,
        "return {...L.p, patterns: Object.fromEntries("
        "Object.entries(L.p).filter(([, v]) => v instanceof RegExp)"
        ".map(([k, v]) => [k, v.source]))};",
    )
    assert constants["CTX"] == {
        "BOX_KEY": crypto.CTX_BOX_KEY,
        "ENROLL": crypto.CTX_ENROLL,
        "AUTH": crypto.CTX_AUTH,
        "ENVELOPE": crypto.CTX_ENVELOPE,
        "CONTENT": crypto.CTX_CONTENT,
        "SERVER_EVENT": crypto.CTX_SERVER_EVENT,
        "LOG_CHECKPOINT": crypto.CTX_LOG_CHECKPOINT,
        "BLOB": crypto.CTX_BLOB,
    }
    assert (constants["KEY_BYTES"], constants["NONCE_BYTES"], constants["SIGNATURE_BYTES"]) == (
        crypto.KEY_BYTES,
        crypto.NONCE_BYTES,
        crypto.SIGNATURE_BYTES,
    )
    assert (constants["CLOSE_AUTH_FAILED"], constants["CLOSE_DISPLACED"]) == (
        models.CLOSE_AUTH_FAILED,
        models.CLOSE_DISPLACED,
    )
    assert constants["DOSSIER_KEY"] == models.DOSSIER_KEY
    # The envelope model's bound on its signed blob ids, tried on each side of the browser's.
    blobs: TypeAdapter[Any] = TypeAdapter(
        cast(Any, models.Envelope.model_fields["blobs"].annotation)
    )
    ids = [f"blb_{chr(97 + n // 26)}{chr(97 + n % 26)}" + "a" * 24 for n in range(32)]
    blobs.validate_python(ids[: constants["MAX_BLOBS"]])
    with pytest.raises(ValidationError):
        blobs.validate_python(ids[: constants["MAX_BLOBS"] + 1])
    python = {
        "PRINCIPAL_PATTERN": wire_types.PRINCIPAL_PATTERN,
        "DEVICE_PATTERN": wire_types.DEVICE_PATTERN,
        "UUID_PATTERN": wire_types.UUID_PATTERN,
        "TIME_PATTERN": wire_types.TIME_PATTERN,
        "INS_PATTERN": f"^{identifiers.INS_PATTERN}$",
        "BLOB_ID_PATTERN": wire_types.BLOB_ID_PATTERN,
    }
    assert set(constants["patterns"]) == set(python)
    verdicts = await run(
        web,
        "return Object.fromEntries(Object.entries(arg.patterns).map(([name]) =>"
        " [name, arg.samples.map((s) => L.p[name].test(s))]));",
        {"patterns": python, "samples": PATTERN_SAMPLES},
    )
    assert verdicts == {
        name: [_server_accepts(pattern, sample) for sample in PATTERN_SAMPLES]
        for name, pattern in python.items()
    }


def _server_accepts(pattern: str, sample: str) -> bool:
    """As the server's models judge it (pydantic's regex engine, where $ is the very end)."""
    try:
        TypeAdapter(Annotated[str, StringConstraints(pattern=pattern)]).validate_python(sample)
    except ValidationError:
        return False
    return True


PATTERN_SAMPLES = [
    "rpps:10000000001",
    "rpps:1000000000",
    "org:cardio-chu",
    "org:-x",
    "app:lgc",
    "app:x",
    "patient:160057500000142",
    "patient:1552A1234567812",
    "patient:1552C1234567812",
    "160057500000142",
    "2042B0010020012",
    "dev_" + "a" * 26,
    "dev_" + "a" * 25 + "1",
    "blb_" + "b" * 26,
    "blb_" + "b" * 27,
    "0b9c4a8e-4a5e-4f7e-9d7e-2a0f6d1c3b5a",
    "0B9C4A8E-4A5E-4F7E-9D7E-2A0F6D1C3B5A",
    "2026-11-26T08:00:00Z",
    "2026-11-26T08:00:00.123456Z",
    "2026-11-26t08:00:00Z",
    "2026-11-26T08:00:00.1234567Z",
    "",
    "rpps:10000000001\n",
]


CANONICAL_CASES: list[Any] = [
    {"b": 1, "a": [True, False, None], "c": {"z": "", "y": -(2**53 - 1)}},
    {"\U0001f600": 1, "\ue000": 2, "é": 3, "Z": 4, "a": 5},  # code point order, not UTF-16
    {"s": 'quote " backslash \\ controls \b\f\n\r\t \x00\x1f \x7f \u2028 é 🩺'},
    [[], {}, "", 0, 2**53 - 1],
]


REFUSED = {
    "1.5": "non_canonical",
    "-0": "non_canonical",
    "2 ** 53": "non_canonical",
    "{v: 1e21}": "non_canonical",
    "{s: String.fromCharCode(0xd800)}": "unpaired_surrogate",
    "{[String.fromCharCode(0xdc00)]: 1}": "unpaired_surrogate",
    "{u: undefined}": "bad_value",
    "new Uint8Array(1)": "bad_value",
}
CANONICAL_B64U = ["", "AA", "AAA", "AAAA", "_-_-", "YGFiY2RlZmdoaWprbG1ub3Bx"]
NON_CANONICAL_B64U = ["AB", "AAB", "A", "AA==", "AA+/", "AA A", "é"]


async def test_canonical_json_and_base64url_are_the_same_bytes_and_refusals(
    web: WebPage,
) -> None:
    texts = await run(web, "return arg.map((v) => L.e.canonicalText(v));", CANONICAL_CASES)
    assert [t.encode() for t in texts] == [crypto.canonical_json(v) for v in CANONICAL_CASES]
    # Each expression is written into the function's source: the page's CSP forbids eval.
    makers = ", ".join(f"() => ({expression})" for expression in REFUSED)
    codes = await run(
        web,
        f"return [{makers}].map((make) => {{ try {{ L.e.canonicalText(make()); return null; }}"
        " catch (error) { return error.code; } });",
    )
    assert dict(zip(REFUSED, codes, strict=True)) == REFUSED
    decoded = await run(
        web, "return arg.map((t) => Array.from(L.e.b64uDecode(t)));", CANONICAL_B64U
    )
    assert [bytes(d) for d in decoded] == [crypto.b64u_decode(t) for t in CANONICAL_B64U]
    refused = await run(
        web,
        "return arg.map((t) => {"
        " try { L.e.b64uDecode(t); return false; } catch { return true; } });",
        NON_CANONICAL_B64U,
    )
    assert refused == [True] * len(NON_CANONICAL_B64U)


async def test_the_ins_key_is_computed_as_the_server_does(web: WebPage) -> None:
    bodies = ["1600575000001", "2991275000999", "155052A123456", "204012B001002", "1000000000000"]
    keys = await run(web, "return arg.map((b) => L.i.insKey(b));", bodies)
    assert keys == [identifiers.ins_key(b) for b in bodies]
    good = bodies[0] + f"{identifiers.ins_key(bodies[0]):02d}"
    bad = bodies[0] + f"{identifiers.ins_key(bodies[0]) % 97 + 1:02d}"
    problems = await run(web, "return arg.map((ins) => L.i.insProblem(ins));", [good, bad, "12"])
    assert problems == [None, "ins_key", "ins_format"]


async def test_every_signature_and_cipher_gives_the_known_answers(web: WebPage) -> None:
    fixed = {
        "sign": list(SIGN.seed),
        "box": list(BOX.secret),
        "contentKey": list(CONTENT_KEY),
        "nonce": list(NONCE),
        "id": MESSAGE_ID,
        "plaintext": PLAINTEXT,
        "envelope": known_envelope(),
        "receipt": RECEIPT,
        "checkpoint": CHECKPOINT,
    }
    answers = await run(
        web,
        """
        const { c, e } = L;
        const bytes = (list) => new Uint8Array(list);
        const keys = c.deviceKeys(bytes(arg.sign), bytes(arg.box));
        const [key, nonce] = [bytes(arg.contentKey), bytes(arg.nonce)];
        const ciphertext = c.encryptContent(arg.plaintext, arg.id, key, nonce);
        const sign = (ctx, data) => e.b64uEncode(c.sign(keys.sign, ctx, data));
        return {
          signPublic: e.b64uEncode(keys.sign.publicKey),
          boxPublic: e.b64uEncode(keys.box.publicKey),
          boxKeySignature: e.b64uEncode(c.boxKeySignature(keys)),
          ciphertext: e.b64uEncode(ciphertext),
          opened: JSON.parse(e.fromUtf8(c.decryptContent(ciphertext, arg.id, key, nonce))),
          signingBytes: e.fromUtf8(
            c.envelopeSigningBytes({...arg.envelope, keys: {}, signature: "x"})),
          envelopeSignature: e.b64uEncode(c.signEnvelope(arg.envelope, keys.sign)),
          receiptSignature: sign(L.p.CTX.SERVER_EVENT, e.canonicalJson(arg.receipt)),
          checkpointSignature: sign(
            L.p.CTX.LOG_CHECKPOINT, c.checkpointSigningBytes(arg.checkpoint)),
          sealed: e.b64uEncode(c.seal(key, keys.box.publicKey)),
        };
        """,
        fixed,
    )
    assert answers["signPublic"] == crypto.b64u_encode(SIGN.public)
    assert answers["boxPublic"] == crypto.b64u_encode(BOX.public)
    assert answers["boxKeySignature"] == crypto.b64u_encode(
        crypto.DeviceKeys(SIGN, BOX).box_key_signature()
    )
    assert answers["ciphertext"] == CIPHERTEXT
    assert answers["opened"] == PLAINTEXT
    assert answers["signingBytes"].encode() == crypto.envelope_signing_bytes(known_envelope())
    assert answers["envelopeSignature"] == ENVELOPE_SIGNATURE
    assert answers["receiptSignature"] == RECEIPT_SIGNATURE
    assert answers["checkpointSignature"] == CHECKPOINT_SIGNATURE
    # A sealed box is randomised: what the browser seals, Python opens.
    assert BOX.open(crypto.b64u_decode(answers["sealed"])) == CONTENT_KEY


async def test_what_python_signs_and_seals_the_browser_verifies_and_opens(web: WebPage) -> None:
    sealed = crypto.seal(CONTENT_KEY, BOX.public)
    verdicts = await run(
        web,
        """
        const { c, e } = L;
        const keys = c.deviceKeys(new Uint8Array(arg.sign), new Uint8Array(arg.box));
        const check = (f) => { try { f(); return true; } catch { return false; } };
        const pub = keys.sign.publicKey;
        const [envelopeSig, receiptSig, checkpointSig] = [
          arg.envelopeSignature, arg.receiptSignature, arg.checkpointSignature,
        ].map(e.b64uDecode);
        const other = {...arg.envelope, recipients: ["rpps:10000000009"]};
        return {
          envelope: check(() => c.verifyEnvelope(arg.envelope, pub, envelopeSig)),
          tampered: check(() => c.verifyEnvelope(other, pub, envelopeSig)),
          receipt: check(() => c.verifyServerEvent(arg.receipt, receiptSig, pub)),
          crossed: check(() => c.verifyServerEvent(arg.checkpoint, checkpointSig, pub)),
          checkpoint: check(() => c.verifyLogCheckpoint(arg.checkpoint, checkpointSig, pub)),
          opened: e.b64uEncode(c.openSealed(e.b64uDecode(arg.sealed), keys.box)),
        };
        """,
        {
            "sign": list(SIGN.seed),
            "box": list(BOX.secret),
            "envelope": known_envelope(),
            "envelopeSignature": ENVELOPE_SIGNATURE,
            "receipt": RECEIPT,
            "receiptSignature": RECEIPT_SIGNATURE,
            "checkpoint": CHECKPOINT,
            "checkpointSignature": CHECKPOINT_SIGNATURE,
            "sealed": crypto.b64u_encode(sealed),
        },
    )
    assert verdicts == {
        "envelope": True,
        "tampered": False,
        "receipt": True,
        "crossed": False,
        "checkpoint": True,
        "opened": crypto.b64u_encode(CONTENT_KEY),
    }


def _message_event(plaintext: bytes, *, tampered: bool = False) -> dict[str, Any]:
    """A message event for the device whose box key is BOX, from a device signing with SIGN."""
    envelope = known_envelope()
    ciphertext = crypto.aead_encrypt(plaintext, crypto.content_aad(MESSAGE_ID), NONCE, CONTENT_KEY)
    envelope["ciphertext"] = crypto.b64u_encode(ciphertext)
    envelope["signature"] = crypto.sign_envelope(envelope, SIGN)
    if tampered:
        envelope["recipients"] = ["rpps:10000000009"]
    return {
        "type": "message",
        "cursor": "1795986084153-0.FeNIuunb1zRU",
        "envelope": envelope,
        "key": crypto.b64u_encode(crypto.seal(CONTENT_KEY, BOX.public)),
        "received_at": "2026-11-26T08:00:01.000Z",
    }


def _notification_event(checkpoint: dict[str, Any], *, forged: bool = False) -> dict[str, Any]:
    notification = {
        "event": "dossier.document_attached",
        "ins": CHECKPOINT["ins"],
        "message_id": MESSAGE_ID,
        "document": "doc_x",
        "at": CHECKPOINT["at"],
        "checkpoint": checkpoint,
    }
    signature = crypto.sign_server_event(notification, SIGN)
    if forged:
        signature = crypto.sign_server_event({**notification, "document": "doc_y"}, SIGN)
    return {
        "type": "notification",
        "cursor": "1-0.x",
        "notification": notification,
        "signature": signature,
    }


async def test_the_receiver_keeps_what_verifies_and_rejects_the_rest(web: WebPage) -> None:
    checkpoint = {**CHECKPOINT, "signature": CHECKPOINT_SIGNATURE}
    events = {
        "message": _message_event(
            crypto.canonical_json({**PLAINTEXT, "priority": "urgent"})  # unknown member: ignored
        ),
        "tampered": _message_event(crypto.canonical_json(PLAINTEXT), tampered=True),
        "no_body": _message_event(crypto.canonical_json({"subject": "x"})),
        "bad_utf8": _message_event(b'{"subject":"\xed\xa0\x80","body":""}'),
        "notification": _notification_event(checkpoint),
        "forged": _notification_event(checkpoint, forged=True),
        "other_log": _notification_event({**checkpoint, "seq": 8}),
        "other_dossier": _notification_event({**checkpoint, "ins": "253072A07300443"}),
    }
    verdicts = await run(
        web,
        """
        const { c, e, r, s } = L;
        const keys = c.deviceKeys(new Uint8Array(arg.sign), new Uint8Array(arg.box));
        const signKey = e.b64uEncode(keys.sign.publicKey);
        // A session whose directory and server key are the fixed ones: the real checks run.
        const session = {
          identity: { principal: "rpps:10009876543", keys },
          serverInfo: async () => ({ sign_key: signKey }),
          senderDevice: async (sender, id) => ({ id, owner: sender, sign_key: signKey }),
          verifyServerSignature: s.DeviceSession.prototype.verifyServerSignature,
        };
        const out = {};
        for (const [name, raw] of Object.entries(arg.events)) {
          const event = await r.verifyEvent(session, raw);
          out[name] = event.kind === "invalid" ? event.code : event.kind;
          if (name === "message") out.content = [event.subject, event.body, event.attachments];
        }
        return out;
        """,
        {"sign": list(SIGN.seed), "box": list(BOX.secret), "events": events},
    )
    assert verdicts == {
        "message": "message",
        "content": [PLAINTEXT["subject"], PLAINTEXT["body"], []],
        "tampered": "bad_signature",
        "no_body": "malformed_content",
        "bad_utf8": "malformed_content",
        "notification": "notification",
        "forged": "bad_server_signature",
        "other_log": "bad_checkpoint",
        "other_dossier": "bad_checkpoint",
    }
