"""The ``attachment`` kind of the mix: the file its messages upload as a blob, and what a
receiver does with the blob a message names (download it through the SDK, which checks every
chunk and the digest, then drop it)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from messaging.client import LiaisonClient, ReceivedMessage


@contextlib.contextmanager
def attachment_file(size: int | None) -> Iterator[Path | None]:
    """A file of ``size`` random bytes (incompressible, like a scan) that every ``attachment``
    message uploads again; None when the mix has none."""
    if size is None:
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="liaison-bench-") as directory:
        path = Path(directory) / "attachment.bin"
        with path.open("wb") as out:
            for start in range(0, size, 1 << 20):
                out.write(os.urandom(min(1 << 20, size - start)))
        yield path


async def fetch_blobs(client: LiaisonClient, message: ReceivedMessage, scratch: Path) -> int:
    """Download each blob ``message`` names into ``scratch`` (the SDK refuses one whose chunk,
    length or digest is wrong), then delete it: the nanoseconds it took. The file is written as
    ``inbox --save-attachments`` writes it, so the figure includes that cost."""
    start = time.perf_counter_ns()
    for blob in message.blobs:
        path = await client.blobs.download(blob, scratch, name=secrets.token_hex(8))
        await asyncio.to_thread(path.unlink)
    return time.perf_counter_ns() - start
