"""Conformance vectors (DESIGN §2): the files of ``docs/vectors/`` that every implementation of
the protocol runs in its tests, the Python SDK and the browser client included.

``python -m messaging.conformance --write docs/vectors`` writes them; ``--check`` says whether
the committed files are exactly what this code writes. The format, and how another implementer
uses the files, is in docs/protocol.md ("Conformance vectors"). Modules: ``cases`` (the
hand-written cases and their expected outcomes), ``messages`` (envelopes and signatures
computed from fixed keys), ``refusals`` (bodies one spelling away from a valid one).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from messaging.conformance import cases, messages, refusals

FORMAT = "liaison-vectors/1"


def _cases_of(
    table: list[tuple[str, Any, Any]], input_name: str, output: Any
) -> list[dict[str, Any]]:
    built = []
    for name, given, expected in table:
        entry: dict[str, Any] = {"name": name}
        if isinstance(given, bytes):
            entry[f"{input_name}_hex"] = given.hex()
        else:
            entry[input_name] = given
        entry |= output(expected)
        built.append(entry)
    return built


def _error_or(key: str, convert: Any) -> Any:
    def output(expected: Any) -> dict[str, Any]:
        if isinstance(expected, dict) and "code" in expected:
            return {"error": expected}
        return {key: convert(expected)}

    return output


def _plaintext_outcome(expected: dict[str, Any]) -> dict[str, Any]:
    if "error" in expected:
        return {"error": {"code": expected["error"]}}
    return {"content": expected}


def documents() -> dict[str, dict[str, Any]]:
    """Every vector file, by name."""
    return {
        "canonical-json.json": {
            "format": FORMAT,
            "about": (
                "Read `input` (JSON text; `input_hex`: the exact bytes) under the reading rules,"
                " then write it as canonical JSON: the UTF-8 bytes of `canonical`, or the input"
                " is refused with `error` (`field`: a JSON Pointer; null: the whole document)."
            ),
            "cases": _cases_of(cases.CANONICAL_JSON, "input", _error_or("canonical", str)),
        },
        "b64u.json": {
            "format": FORMAT,
            "about": (
                "Decode `text` as canonical base64url without padding: the bytes `bytes_hex`,"
                " or a refusal (`error`); encoding `bytes_hex` gives `text` back."
            ),
            "cases": _cases_of(cases.B64U, "text", _error_or("bytes_hex", bytes.hex)),
        },
        "times.json": {
            "format": FORMAT,
            "about": "Check `text` as a protocol time: `valid` is true, or a refusal (`error`).",
            "cases": _cases_of(cases.TIMES, "text", _error_or("valid", lambda _: True)),
        },
        "plaintext.json": {
            "format": FORMAT,
            "about": (
                "Read decrypted plaintext bytes (`plaintext_hex`) as a recipient: the `content`"
                " (attachments' data as `data_hex`; `extra`: the members kept but not"
                " interpreted), or `malformed_content`, which the recipient reports and acks."
            ),
            "cases": _cases_of(cases.PLAINTEXTS, "plaintext", _plaintext_outcome),
        },
        "envelope.json": {
            "format": FORMAT,
            "about": (
                "Build each `envelope` from `keys` and the case's inputs: canonical plaintext,"
                " XChaCha20-Poly1305 under the content key and nonce with `aad_hex`, Ed25519"
                " over ctx('liaison/v1/envelope') + `signing_bytes`, and each key wrap a sealed"
                " box made with the given ephemeral secret. As a recipient: verify, open the"
                " recipient's (or the dossier's) wrap, decrypt, read `plaintext`."
            ),
            "keys": messages.keys_document(),
            "cases": messages.envelope_cases(),
        },
        "signatures.json": {
            "format": FORMAT,
            "about": (
                "Ed25519 over ctx(`context`) + the message: `message_hex`, or the canonical"
                " JSON `signing_bytes` of `signed`. Device signatures with the sender's key,"
                " server signatures with the server's (`keys` of envelope.json)."
            ),
            "cases": messages.signature_cases(),
        },
        "refusals.json": {
            "format": FORMAT,
            "about": (
                "Requests a server refuses with `status` and `code`, and `field` (a JSON"
                " Pointer; null: the whole body) in the problem document. /v1/messages with"
                " any valid bearer token. Cases with `also_for_recipients`: an envelope relayed"
                " with that defect is not a message, and a recipient refuses it too."
            ),
            "cases": refusals.refusal_cases(),
        },
    }


def render(document: dict[str, Any]) -> bytes:
    return (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode()


def write(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, document in documents().items():
        path = directory / name
        path.write_bytes(render(document))
        written.append(path)
    return written


def stale(directory: Path) -> list[str]:
    """The vector files of ``directory`` that differ from what this code writes (or are
    missing, or are not ours)."""
    expected = {name: render(document) for name, document in documents().items()}
    present = {path.name for path in directory.glob("*.json")}
    names = sorted(set(expected) | present)
    return [
        name
        for name in names
        if name not in expected
        or name not in present
        or (directory / name).read_bytes() != expected[name]
    ]
