"""Child processes that must not outlive their parent, even one killed with SIGKILL."""

from __future__ import annotations

import ctypes
import os
import signal
import sys

_PR_SET_PDEATHSIG = 1


def exit_with_parent(parent: int | None = None, sig: signal.Signals = signal.SIGTERM) -> None:
    """In a child: receive ``sig`` when the parent dies, however it dies (Linux; elsewhere the
    parent's own shutdown is all there is). ``sig`` defaults to SIGTERM, so the child still
    shuts down cleanly: Redis flushes its AOF, a worker answers its open requests.

    ``parent``: the pid of the process that started this one, when it may already be gone by
    the time this runs (a spawned worker imports for a while first); by default the current
    parent."""
    if sys.platform != "linux":
        return
    parent = os.getppid() if parent is None else parent
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, sig)
    # The parent may have died before the request was made: then no signal would ever come.
    if os.getppid() != parent:
        os.kill(os.getpid(), sig)
