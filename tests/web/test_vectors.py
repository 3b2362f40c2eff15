"""Every conformance vector of docs/vectors (docs/protocol.md, "Conformance vectors") run by
the browser client's own modules in Chromium: canonical JSON read and written, base64url, times,
plaintexts as a recipient reads them, signatures, whole envelopes built byte for byte and opened,
and each envelope defect the server refuses refused by the browser as a recipient too."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tests.web.conftest import BROWSER
from tests.web.modules import run
from tests.web.pages import WebPage

pytestmark = BROWSER

# --- docs/vectors: the project's conformance vectors, run by the browser's own modules --------

VECTORS = Path(__file__).resolve().parents[2] / "docs" / "vectors"


def vectors(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((VECTORS / f"{name}.json").read_text(encoding="utf-8"))
    assert document["format"] == "liaison-vectors/1"
    return document


def outcomes(cases: list[dict[str, Any]], found: list[Any]) -> dict[str, Any]:
    return {case["name"]: result for case, result in zip(cases, found, strict=True)}


def expected(cases: list[dict[str, Any]], success: str) -> dict[str, Any]:
    return {
        case["name"]: {"error": case["error"]} if "error" in case else {success: case[success]}
        for case in cases
    }


async def test_vectors_canonical_json_base64url_and_times(web: WebPage) -> None:
    canonical = vectors("canonical-json")["cases"]
    found = await run(
        web,
        """
        return arg.map((c) => {
          const bytes = c.input_hex !== undefined ? L.hex(c.input_hex) : L.e.utf8(c.input);
          try { return { canonical: L.e.canonicalText(L.j.readJson(bytes)) }; }
          catch (error) { return { error: { code: error.code, field: error.field } }; }
        });
        """,
        canonical,
    )
    assert outcomes(canonical, found) == expected(canonical, "canonical")

    b64u = vectors("b64u")["cases"]
    found = await run(
        web,
        """
        return arg.map((c) => {
          try {
            const bytes = L.e.b64uDecode(c.text);
            return { bytes_hex: L.toHex(bytes), again: L.e.b64uEncode(bytes) === c.text };
          } catch (error) { return { error: { code: error.code, field: error.field } }; }
        });
        """,
        b64u,
    )
    assert outcomes(b64u, found) == {
        case["name"]: {"error": case["error"]}
        if "error" in case
        else {"bytes_hex": case["bytes_hex"], "again": True}
        for case in b64u
    }

    times = vectors("times")["cases"]
    found = await run(
        web,
        """
        return arg.map((c) => {
          try { L.e.checkTime(c.text); return { valid: true }; }
          catch (error) { return { error: { code: error.code, field: error.field } }; }
        });
        """,
        times,
    )
    assert outcomes(times, found) == expected(times, "valid")


async def test_vectors_plaintexts_as_a_recipient_reads_them(web: WebPage) -> None:
    cases = vectors("plaintext")["cases"]
    found = await run(
        web,
        """
        return arg.map((c) => {
          try {
            const content = L.r.readPlaintext(L.hex(c.plaintext_hex));
            return { content: {
              subject: content.subject, body: content.body, in_reply_to: content.inReplyTo,
              extra: content.extra,
              attachments: content.attachments.map((a) => ({
                name: a.name, media_type: a.media_type, data_hex: L.toHex(L.e.b64uDecode(a.data)),
              })),
            } };
          } catch (error) { return { error: { code: error.code } }; }
        });
        """,
        cases,
    )
    assert outcomes(cases, found) == expected(cases, "content")


async def test_vectors_signatures(web: WebPage) -> None:
    document = vectors("signatures")
    keys = vectors("envelope")["keys"]
    found = await run(
        web,
        """
        const { c, e } = L;
        const signers = {
          "sender device": c.signingKeyPair(L.hex(arg.keys.sender_sign_seed_hex)),
          server: c.signingKeyPair(L.hex(arg.keys.server_sign_seed_hex)),
        };
        return arg.cases.map((v) => {
          const message =
            v.message_hex !== undefined ? L.hex(v.message_hex) : e.canonicalJson(v.signed);
          const signer = signers[v.signer];
          let verified = true;
          try { c.verify(signer.publicKey, v.context, message, e.b64uDecode(v.signature)); }
          catch { verified = false; }
          return {
            signature: e.b64uEncode(c.sign(signer, v.context, message)),
            signing_bytes: v.signed === undefined ? null : e.fromUtf8(message),
            verified,
          };
        });
        """,
        {"cases": document["cases"], "keys": keys},
    )
    assert outcomes(document["cases"], found) == {
        case["name"]: {
            "signature": case["signature"],
            "signing_bytes": case.get("signing_bytes"),
            "verified": True,
        }
        for case in document["cases"]
    }


async def test_vectors_envelopes_built_and_opened(web: WebPage) -> None:
    document = vectors("envelope")
    found = await run(
        web,
        """
        const { c, e, send, S } = L;
        const k = arg.keys;
        const identity = {
          principal: k.sender, deviceId: k.sender_device,
          keys: c.deviceKeys(L.hex(k.sender_sign_seed_hex), L.hex(k.sender_box_secret_hex)),
        };
        const recipientBox = c.deviceKeys(
          L.hex(k.sender_sign_seed_hex), L.hex(k.recipient_box_secret_hex)).box;
        const dossierBox = c.deviceKeys(
          L.hex(k.sender_sign_seed_hex), L.hex(k.dossier_box_secret_hex)).box;
        return arg.cases.map((v) => {
          // libsodium's sealed box, made with the vector's ephemeral secret instead of a fresh one.
          const sealer = (message, publicKey, name) => {
            const secret = L.hex(v.ephemeral_secrets_hex[name]);
            const ephemeral = S.crypto_scalarmult_base(secret);
            const nonce = S.crypto_generichash(24, e.concat(ephemeral, publicKey));
            return e.concat(ephemeral, S.crypto_box_easy(message, nonce, publicKey, secret));
          };
          const wanted = v.envelope;
          const built = send.buildEnvelope({
            identity, messageId: wanted.id, recipients: wanted.recipients,
            createdAt: wanted.created_at, plaintext: v.plaintext,
            boxKeys: new Map([[k.recipient_device, e.b64uDecode(k.recipient_box_key)]]),
            dossier: wanted.dossier, dossierKey: e.b64uDecode(k.dossier_key),
            contentKey: L.hex(v.content_key_hex), nonce: L.hex(v.nonce_hex), sealer,
          });
          // As a recipient (and as the dossier store): verify, open the wrap, decrypt, read.
          c.verifyEnvelope(wanted, identity.keys.sign.publicKey, e.b64uDecode(wanted.signature));
          const opened = {};
          for (const [name, box] of [[k.recipient_device, recipientBox], ["dossier", dossierBox]]) {
            if (wanted.keys[name] === undefined) continue;
            const key = c.openSealed(e.b64uDecode(wanted.keys[name]), box);
            const plaintext = c.decryptContent(
              e.b64uDecode(wanted.ciphertext), wanted.id, key, e.b64uDecode(wanted.nonce));
            opened[name] = L.r.readPlaintext(plaintext).subject;
          }
          return {
            plaintext_canonical: e.canonicalText(v.plaintext),
            aad_hex: L.toHex(c.contentAad(wanted.id)),
            signing_bytes: e.fromUtf8(c.envelopeSigningBytes(built)),
            envelope: built,
            opened,
          };
        });
        """,
        document,
    )
    assert outcomes(document["cases"], found) == {
        case["name"]: {
            "plaintext_canonical": case["plaintext_canonical"],
            "aad_hex": case["aad_hex"],
            "signing_bytes": case["signing_bytes"],
            "envelope": case["envelope"],
            "opened": dict.fromkeys(case["envelope"]["keys"], case["plaintext"]["subject"]),
        }
        for case in document["cases"]
    }


_KEYS = re.compile(r',"keys":(\{[^{}]*\})')


async def test_vectors_envelopes_the_server_refuses_are_refused_by_the_browser_too(
    web: WebPage,
) -> None:
    keys = vectors("envelope")["keys"]
    valid = vectors("envelope")["cases"][0]["envelope"]
    cases = [c for c in vectors("refusals")["cases"] if c.get("also_for_recipients")]

    def frame(body: str) -> str:
        # What the server would relay to the recipient: the envelope without its key wraps.
        [wraps] = _KEYS.findall(body)
        envelope = _KEYS.sub("", body)
        key: str = json.loads(wraps)[keys["recipient_device"]]
        return (
            '{"type":"message","cursor":"1795986084153-0.FeNIuunb1zRU","key":"' + key + '",'
            '"received_at":"2026-11-26T08:00:01.000Z","envelope":' + envelope + "}"
        )

    frames = {case["name"]: frame(case["body"]) for case in cases}
    frames["control: the valid envelope"] = frame(json.dumps(valid, separators=(",", ":")))
    found = await run(
        web,
        """
        const { c, e, s, r } = L;
        const k = arg.keys;
        const session = {
          identity: {
            principal: k.recipient,
            keys: c.deviceKeys(L.hex(k.server_sign_seed_hex), L.hex(k.recipient_box_secret_hex)),
          },
          serverInfo: async () => ({ sign_key: k.server_sign_key }),
          senderDevice: async (sender, id) => ({ id, owner: sender, sign_key: k.sender_sign_key }),
          verifyServerSignature: s.DeviceSession.prototype.verifyServerSignature,
        };
        const out = {};
        for (const [name, frame] of Object.entries(arg.frames)) {
          const event = await r.verifyFrame(session, frame);
          out[name] = event.kind === "invalid" ? event.code : event.kind;
        }
        return out;
        """,
        {"keys": keys, "frames": frames},
    )
    assert found == {
        **{case["name"]: case["code"] for case in cases},
        "control: the valid envelope": "message",
    }
