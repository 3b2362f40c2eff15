"""Blob encryption (docs/protocol.md, "Blobs"): secretstream chunks under a per-blob key, the
ciphertext digest, and every way a stream can be spoilt refused loudly."""

from __future__ import annotations

import io

import pytest

from messaging import crypto
from messaging.blob_stream import (
    CHUNK_BYTES,
    SEALED_CHUNK_BYTES,
    BlobOpener,
    BlobRefused,
    new_digest,
    seal_file,
    sealed_size,
)

KEY = bytes(range(32))


def _seal(plain: bytes, key: bytes = KEY) -> tuple[bytes, bytes]:
    ciphertext = b"".join(seal_file(io.BytesIO(plain), len(plain), key))
    digest = new_digest()
    digest.update(ciphertext)
    return ciphertext, digest.digest()


def _open(ciphertext: bytes, size: int, digest: bytes, piece: int = 1000) -> bytes:
    opener = BlobOpener(KEY, size, digest)
    out = b"".join(opener.feed(ciphertext[i : i + piece]) for i in range(0, len(ciphertext), piece))
    opener.finish()
    return out


@pytest.mark.parametrize("size", [0, 1, CHUNK_BYTES - 1, CHUNK_BYTES, 3 * CHUNK_BYTES + 5])
def test_a_blob_opens_to_its_plaintext_whatever_the_pieces(size: int) -> None:
    plain = bytes(i % 251 for i in range(size))
    ciphertext, digest = _seal(plain)
    assert len(ciphertext) == sealed_size(size)
    for piece in (1, 17, CHUNK_BYTES + 3, len(ciphertext) or 1):
        assert _open(ciphertext, size, digest, piece) == plain


def test_two_seals_of_one_file_differ() -> None:
    # A fresh stream header each time: the same file never gives the same ciphertext.
    assert _seal(b"compte rendu")[0] != _seal(b"compte rendu")[0]


def _three_chunks() -> tuple[bytes, bytes, int]:
    size = 2 * CHUNK_BYTES + 10
    ciphertext, digest = _seal(b"x" * size)
    return ciphertext, digest, size


def test_a_tampered_chunk_is_refused() -> None:
    ciphertext, digest, size = _three_chunks()
    spoilt = bytearray(ciphertext)
    spoilt[crypto.STREAM_HEADER_BYTES + SEALED_CHUNK_BYTES + 5] ^= 1
    with pytest.raises(BlobRefused, match="does not authenticate"):
        _open(bytes(spoilt), size, digest)


def test_reordered_chunks_are_refused() -> None:
    ciphertext, digest, size = _three_chunks()
    header, body = (
        ciphertext[: crypto.STREAM_HEADER_BYTES],
        ciphertext[crypto.STREAM_HEADER_BYTES :],
    )
    first, second = body[:SEALED_CHUNK_BYTES], body[SEALED_CHUNK_BYTES : 2 * SEALED_CHUNK_BYTES]
    swapped = header + second + first + body[2 * SEALED_CHUNK_BYTES :]
    with pytest.raises(BlobRefused, match="does not authenticate"):
        _open(swapped, size, digest)


def test_a_stream_cut_at_a_chunk_boundary_is_refused() -> None:
    ciphertext, digest, size = _three_chunks()
    cut = ciphertext[: crypto.STREAM_HEADER_BYTES + 2 * SEALED_CHUNK_BYTES]
    with pytest.raises(BlobRefused, match="cut short"):
        _open(cut, size, digest)


def test_a_final_chunk_before_the_end_is_refused() -> None:
    # A sender (or a server swapping blobs) cannot pass a short stream for a longer file: the
    # reference's size says where the final tag must be.
    short, digest = _seal(b"y" * CHUNK_BYTES)
    with pytest.raises(BlobRefused, match="final tag"):
        _open(short, CHUNK_BYTES + 10, digest)


def test_bytes_after_the_final_chunk_are_refused() -> None:
    ciphertext, digest = _seal(b"z" * 10)
    with pytest.raises(BlobRefused):
        _open(ciphertext + b"\x00", 10, digest)


def test_a_wrong_digest_is_refused_even_when_every_chunk_opens() -> None:
    ciphertext, _ = _seal(b"ordonnance" * 100)
    with pytest.raises(BlobRefused, match="digest"):
        _open(ciphertext, 1000, bytes(32))


def test_another_key_opens_nothing() -> None:
    ciphertext, digest = _seal(b"w" * 10, key=bytes(32))
    with pytest.raises(BlobRefused, match="does not authenticate"):
        _open(ciphertext, 10, digest)


def test_a_file_that_changes_while_sealed_is_refused() -> None:
    with pytest.raises(OSError, match="changed"):
        b"".join(seal_file(io.BytesIO(b"abc"), 10, KEY))
    with pytest.raises(OSError, match="grew"):
        b"".join(seal_file(io.BytesIO(b"abcdef"), 3, KEY))
