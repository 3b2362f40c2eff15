"""One progress line on stderr, redrawn in place, only when stderr is a terminal."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import AsyncIterator, Callable
from typing import TextIO

Counts = Callable[[], tuple[int, int, int]]
"""(sent, delivered, errors) so far."""

WIDTH = 24
INTERVAL = 0.25


def enabled(setting: bool | None, stream: TextIO = sys.stderr) -> bool:
    return stream.isatty() if setting is None else setting


def line(label: str, elapsed: float, total: float, sent: int, delivered: int, errors: int) -> str:
    done = min(elapsed / total, 1.0) if total > 0 else 1.0
    bar = "#" * round(done * WIDTH)
    return (
        f"{label:>9} [{bar:<{WIDTH}}] {elapsed:5.1f}/{total:g} s  "
        f"sent {sent:,}  delivered {delivered:,}  errors {errors:,}"
    )


@contextlib.asynccontextmanager
async def progress(
    label: str, total: float, counts: Counts, *, show: bool, stream: TextIO = sys.stderr
) -> AsyncIterator[None]:
    if not show:
        yield
        return
    started = time.monotonic()

    def draw() -> None:
        text = line(label, time.monotonic() - started, total, *counts())
        stream.write("\r" + text + "\x1b[K")
        stream.flush()

    async def redraw() -> None:
        while True:
            draw()
            await asyncio.sleep(INTERVAL)

    task = asyncio.create_task(redraw())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        draw()
        stream.write("\n")
        stream.flush()
