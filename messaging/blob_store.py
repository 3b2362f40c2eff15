"""Where blob ciphertexts live: the ``BlobStore`` interface and its filesystem backend.

The server only ever stores ciphertext (docs/protocol.md, "Blobs"); what is known about a blob
(size, bytes held, digest, who may read it) is in Redis (``messaging.blobs``). The filesystem
backend keeps one file per blob under the data directory, in folders by the id's first
characters; several server processes share it when they share that directory (a shared
filesystem: docs/scaling.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
from collections.abc import AsyncIterable
from pathlib import Path
from typing import Protocol

from messaging.blob_stream import new_digest

_READ_BYTES = 1 << 20


class BlobStore(Protocol):
    async def write(
        self, blob_id: str, offset: int, chunks: AsyncIterable[bytes], limit: int
    ) -> int:
        """Cut the blob to ``offset`` bytes, then append ``chunks``; the bytes written, durable
        on return. When the body fails (the client's cut) or brings more than ``limit``
        bytes, what was written (up to ``limit``) is flushed too and ``PartialWrite`` says how
        much."""
        ...

    async def digest(self, blob_id: str) -> bytes:
        """BLAKE2b-256 of the whole blob, read in constant memory."""
        ...

    def local_path(self, blob_id: str) -> Path:
        """The file a complete blob is served from (sendfile, with HTTP Range)."""
        ...

    async def delete(self, blob_id: str) -> None:
        """Remove the blob; nothing to do when it is already gone."""
        ...


class TooMuchData(Exception):
    """The body runs past the declared size."""


class PartialWrite(Exception):
    """The body stopped early (the client went away) or ran past the limit (``cause`` is
    ``TooMuchData``): ``written`` bytes of it are durable and count as held."""

    def __init__(self, written: int, cause: BaseException) -> None:
        super().__init__(f"{written} bytes written before: {cause}")
        self.written = written
        self.cause = cause


class FileBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def local_path(self, blob_id: str) -> Path:
        # Ids are server-made ("blb_" and base32), never a path a caller chose.
        return self.root / blob_id[4:6] / blob_id

    async def write(
        self, blob_id: str, offset: int, chunks: AsyncIterable[bytes], limit: int
    ) -> int:
        path = self.local_path(blob_id)
        await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
        written = 0
        # Opened without truncation, then cut to what Redis says is held: bytes a crash left
        # past that point are not trusted.
        with await asyncio.to_thread(_open_for_writing, path) as file:
            file.truncate(offset)
            file.seek(offset)
            body = aiter(chunks)
            while True:
                try:
                    chunk = await anext(body)
                except StopAsyncIteration:
                    break
                except BaseException as exc:
                    # The body failed (or the handler was cancelled when the client left):
                    # what came before is kept.
                    await asyncio.to_thread(_flush, file)
                    raise PartialWrite(written, exc) from exc
                fits = chunk[: limit - written]
                # Page-cache writes of at most a chunk: far shorter than a loop turn.
                if file.write(fits) != len(fits):
                    raise OSError(f"short write to {path}")
                written += len(fits)
                if len(fits) < len(chunk):  # what fits is kept, however the body was cut up
                    await asyncio.to_thread(_flush, file)
                    raise PartialWrite(written, TooMuchData(f"more than {limit} bytes"))
            await asyncio.to_thread(_flush, file)
        return written

    async def digest(self, blob_id: str) -> bytes:
        return await asyncio.to_thread(_digest, self.local_path(blob_id))

    async def delete(self, blob_id: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            await asyncio.to_thread(self.local_path(blob_id).unlink)


def _open_for_writing(path: Path) -> io.BufferedWriter:
    return open(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "wb")


def _flush(file: io.BufferedWriter) -> None:
    file.flush()
    os.fsync(file.fileno())


def _digest(path: Path) -> bytes:
    digest = new_digest()
    with path.open("rb") as file:
        while block := file.read(_READ_BYTES):
            digest.update(block)
    return digest.digest()
