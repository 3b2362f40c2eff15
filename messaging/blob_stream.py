"""A blob's ciphertext, made and opened in constant memory (docs/protocol.md, "Blobs").

A blob is a file encrypted under its own fresh key with libsodium's secretstream: the 24-byte
stream header, then the file in chunks of ``CHUNK_BYTES`` (the last one shorter, possibly
empty, and the only one with the final tag), each sealed with a 17-byte tag. Its ``digest`` is
BLAKE2b-256 over the whole ciphertext, header included: the server checks it when the upload
completes and the recipient while it downloads, before trusting a single byte.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO, Final

from messaging import crypto

CHUNK_BYTES: Final = 64 * 1024
"""Plaintext per secretstream chunk: every implementation must use this size."""
SEALED_CHUNK_BYTES: Final = CHUNK_BYTES + crypto.STREAM_TAG_BYTES
DIGEST_BYTES: Final = 32


class BlobRefused(crypto.CryptoError):
    """A downloaded blob is not the one its reference names: a chunk does not authenticate, the
    stream is cut short or runs on, or its size or digest differ."""


def chunk_count(size: int) -> int:
    """Chunks of a ``size``-byte file: an empty file still has its one (final, empty) chunk."""
    return max(1, -(-size // CHUNK_BYTES))


def sealed_size(size: int) -> int:
    """Bytes of ciphertext for ``size`` bytes of plaintext: what the upload declares."""
    return crypto.STREAM_HEADER_BYTES + chunk_count(size) * crypto.STREAM_TAG_BYTES + size


def new_digest() -> hashlib.blake2b:
    return hashlib.blake2b(digest_size=DIGEST_BYTES)


def seal_file(source: BinaryIO, size: int, key: bytes) -> Iterator[bytes]:
    """The ciphertext of the ``size`` bytes ``source`` holds, one sealed chunk at a time (the
    header first). A file that changes size while it is read is an ``OSError``, not a blob."""
    sealer = crypto.StreamSealer(key)
    yield sealer.header
    last = chunk_count(size) - 1
    for index in range(last + 1):
        want = CHUNK_BYTES if index < last else size - last * CHUNK_BYTES
        chunk = source.read(want)
        if len(chunk) != want:
            raise OSError(f"the file changed while it was read (chunk {index} is short)")
        yield sealer.seal(chunk, final=index == last)
    if source.read(1):
        raise OSError("the file grew while it was read")


@dataclass(slots=True)
class BlobOpener:
    """Turns a blob's ciphertext, fed in pieces of any size, into its plaintext, checking each
    chunk as it completes; ``finish`` checks that the stream ended where it should."""

    key: bytes
    size: int
    digest: bytes
    _opener: crypto.StreamOpener | None = None
    _pending: bytearray = field(default_factory=bytearray)
    _hash: hashlib.blake2b = field(default_factory=new_digest)
    _received: int = 0
    _opened: int = 0
    _final: bool = False

    @property
    def received(self) -> int:
        """Ciphertext bytes taken so far: where a resumed download starts."""
        return self._received

    def feed(self, data: bytes) -> bytes:
        self._received += len(data)
        if self._received > sealed_size(self.size):
            raise BlobRefused("the blob is longer than its reference says")
        self._hash.update(data)
        self._pending += data
        out = bytearray()
        if self._opener is None:
            if len(self._pending) < crypto.STREAM_HEADER_BYTES:
                return b""
            header = bytes(self._pending[: crypto.STREAM_HEADER_BYTES])
            del self._pending[: crypto.STREAM_HEADER_BYTES]
            self._opener = crypto.StreamOpener(self.key, header)
        while len(self._pending) >= self._next_chunk() and not self._final:
            take = self._next_chunk()
            sealed = bytes(self._pending[:take])
            del self._pending[:take]
            try:
                plain, self._final = self._opener.open(sealed)
            except crypto.CryptoError as exc:
                raise BlobRefused(f"{exc} (at plaintext offset {self._opened})") from exc
            self._opened += len(plain)
            if self._final != (self._opened == self.size):
                raise BlobRefused("the final tag is not on the last chunk")
            out += plain
        return bytes(out)

    def _next_chunk(self) -> int:
        return min(CHUNK_BYTES, self.size - self._opened) + crypto.STREAM_TAG_BYTES

    def finish(self) -> None:
        if not self._final or self._pending:
            raise BlobRefused(
                f"the blob is cut short: {self._opened} of {self.size} bytes, no final chunk"
            )
        if self._hash.digest() != self.digest:
            raise BlobRefused("the blob's digest is not the one its reference names")
