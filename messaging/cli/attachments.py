"""Blob attachments on the command line: progress of long transfers, and the downloads of
``--save-attachments`` (inline attachments are written by ``_common.save_attachments``)."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from messaging import client
from messaging.cli import _common as common
from messaging.client.blobs import Progress
from messaging.client.content import BlobAttachment

PROGRESS_FROM_BYTES: Final = 4_000_000
"""Transfers shorter than this show no progress bar."""


def progress(name: str, size: int) -> Progress | None:
    """A progress bar on stderr for a transfer of ``size`` bytes, when stderr is a terminal."""
    if size < PROGRESS_FROM_BYTES or not sys.stderr.isatty():
        return None
    label = common.line(name)
    shown = -1

    def report(done: int, total: int) -> None:
        nonlocal shown
        percent = 100 * done // max(total, 1)
        if percent == shown:
            return
        shown = percent
        bar = "#" * (percent // 5)
        end = "\n" if done >= total else ""
        sys.stderr.write(
            f"\r{label}  [{bar:<20}] {percent:3d}%  {done / 1e6:.1f}/{total / 1e6:.1f} MB{end}"
        )
        sys.stderr.flush()

    return report


def upload_progress(path: Path) -> Progress | None:
    return progress(path.name, path.stat().st_size)


async def download(
    device: client.LiaisonClient, blobs: Sequence[BlobAttachment], directory: str
) -> list[Path]:
    """Each blob downloaded, checked and written into ``directory`` under its name made safe
    (``_common.safe_file_name``), never over an existing file; the paths written. A blob that
    fails its checks is reported on stderr and skipped: one bad file never blocks a queue."""
    target = await asyncio.to_thread(os.path.expanduser, directory)
    saved = []
    for number, blob in enumerate(blobs, 1):
        name = common.safe_file_name(blob.name, number)
        report = progress(name, blob.blob.size)
        try:
            saved.append(await device.blobs.download(blob, Path(target), report, name=name))
        except client.VerificationError as exc:
            common.warn(f"refused {name}: {exc.code}: {exc.detail}")
    return saved
