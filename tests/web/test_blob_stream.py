"""The browser's blob encryption against the Python one (docs/protocol.md, "Blobs"): the same
ciphertext, byte for byte, for the same file, key and stream header; the same digest; and what
one side seals the other opens, in pieces of any size, refusing a tampered, cut or over-long
blob and a wrong digest. The JavaScript runs in Chromium, from the client's own modules."""

from __future__ import annotations

import io
from typing import Any

import nacl.bindings
import pytest

from messaging import crypto
from messaging.blob_stream import (
    CHUNK_BYTES,
    SEALED_CHUNK_BYTES,
    BlobOpener,
    seal_file,
    sealed_size,
)
from messaging.client.blobs import BLOB_THRESHOLD
from tests.web.conftest import BROWSER
from tests.web.modules import run
from tests.web.pages import WebPage

pytestmark = BROWSER

KEY = bytes(range(32))
# Empty, one byte short of a chunk, exactly one, and three chunks and a bit (the last short).
SIZES = [0, CHUNK_BYTES - 1, CHUNK_BYTES, 3 * CHUNK_BYTES + 5]


def _plaintext(size: int) -> bytes:
    return bytes((i * 7 + i // 251) % 256 for i in range(size))


def _python_sealed(plaintext: bytes, header: bytes, monkeypatch: pytest.MonkeyPatch) -> bytes:
    """``seal_file``'s ciphertext as if libsodium had drawn ``header``: a secretstream state
    started for pulling from a header is the pushing state that made it (libsodium derives
    both alike), so nothing but the header's randomness is taken out of the Python path."""

    def init_push(state: Any, key: bytes) -> bytes:
        nacl.bindings.crypto_secretstream_xchacha20poly1305_init_pull(state, header, key)
        return header

    with monkeypatch.context() as patched:
        patched.setattr(nacl.bindings, "crypto_secretstream_xchacha20poly1305_init_push", init_push)
        return b"".join(seal_file(io.BytesIO(plaintext), len(plaintext), KEY))


async def test_the_browser_cuts_files_as_the_python_client_does(web: WebPage) -> None:
    found = await run(
        web,
        'const b = await import("/app/src/blobs.js");'
        "return [L.bs.CHUNK_BYTES, L.bs.SEALED_CHUNK_BYTES, b.BLOB_THRESHOLD];",
    )
    assert found == [CHUNK_BYTES, SEALED_CHUNK_BYTES, BLOB_THRESHOLD]


async def test_the_browser_seals_a_blob_as_the_python_client_does(
    web: WebPage, monkeypatch: pytest.MonkeyPatch
) -> None:
    sealed: list[dict[str, Any]] = await run(
        web,
        """
        const out = [];
        for (const size of arg.sizes) {
          const plain = new Uint8Array(size).map((_, i) => (i * 7 + Math.floor(i / 251)) % 256);
          const parts = [];
          const key = L.hex(arg.key);
          for await (const part of L.bs.sealFile(new Blob([plain]), key)) parts.push(part);
          const all = L.e.concat(...parts);
          const digest = new L.c.Digest();
          digest.update(all);
          out.push({ sealed: L.toHex(all), digest: L.toHex(digest.digest()),
                     declared: L.bs.sealedSize(size) });
        }
        return out;
        """,
        {"sizes": SIZES, "key": KEY.hex()},
    )
    for size, found in zip(SIZES, sealed, strict=True):
        blob = bytes.fromhex(found["sealed"])
        plaintext = _plaintext(size)
        assert len(blob) == found["declared"] == sealed_size(size)
        assert blob == _python_sealed(plaintext, blob[:24], monkeypatch), size
        assert bytes.fromhex(found["digest"]) == crypto.digest(blob)
        opener = BlobOpener(KEY, size, crypto.digest(blob))
        assert opener.feed(blob) == plaintext
        opener.finish()


def _spoilt(blob: bytes) -> dict[str, tuple[bytes, bytes]]:
    """Ways a downloaded blob can differ from the one its reference names: (blob, digest)."""
    flipped = bytearray(blob)
    flipped[24 + SEALED_CHUNK_BYTES + 100] ^= 0x01  # one bit of the second chunk
    cut = blob[: 24 + 2 * SEALED_CHUNK_BYTES]  # the final chunk gone: the rest authenticates
    return {
        "whole": (blob, crypto.digest(blob)),
        "tampered": (bytes(flipped), crypto.digest(bytes(flipped))),
        "truncated": (cut, crypto.digest(cut)),
        "longer": (blob + b"\0", crypto.digest(blob + b"\0")),
        "another digest": (blob, crypto.digest(b"another blob")),
    }


async def test_the_browser_opens_what_python_sealed_and_refuses_any_change(web: WebPage) -> None:
    size = 3 * CHUNK_BYTES + 5
    plaintext = _plaintext(size)
    blob = b"".join(seal_file(io.BytesIO(plaintext), size, KEY))
    cases = {name: (b.hex(), d.hex()) for name, (b, d) in _spoilt(blob).items()}
    found = await run(
        web,
        """
        const out = {};
        for (const [name, [blob, digest]] of Object.entries(arg.cases)) {
          const bytes = L.hex(blob);
          const opener = new L.bs.BlobOpener(L.hex(arg.key), arg.size, L.hex(digest));
          const chunks = [];
          try {
            // Pieces of 1000 bytes: chunks and the header straddle them, as network reads do.
            for (let at = 0; at < bytes.length; at += 1000) {
              chunks.push(...opener.feed(bytes.subarray(at, at + 1000)));
            }
            opener.finish();
            out[name] = { plain: L.toHex(L.e.concat(...chunks)) };
          } catch (error) {
            out[name] = { code: error.code, detail: error.message };
          }
        }
        return out;
        """,
        {"cases": cases, "key": KEY.hex(), "size": size},
    )
    assert found.pop("whole") == {"plain": plaintext.hex()}
    assert {name: outcome["code"] for name, outcome in found.items()} == dict.fromkeys(
        found, "blob_refused"
    )
    assert "does not authenticate" in found["tampered"]["detail"]
    assert "cut short" in found["truncated"]["detail"]
    assert "longer" in found["longer"]["detail"]
    assert "digest" in found["another digest"]["detail"]
