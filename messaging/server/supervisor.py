"""The master process of ``liaison serve --workers N``.

It starts N workers, restarts one that dies (with a log line, and after a growing delay when
it keeps dying at start-up, so that a broken deployment does not spin), and on SIGTERM asks
every worker to finish: each answers its long polls, closes its sockets with 1001 and exits;
one still running after the grace period is killed. A worker exits by itself when the master
dies, even by SIGKILL (``messaging.lifetime``): no orphan keeps serving on the port.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess

from messaging.supervision import Backoff

log = logging.getLogger("liaison")

RESTART_FIRST = 0.5
RESTART_CAP = 30.0
"""Seconds before restarting a worker that died soon after it started, doubling up to the cap."""
HEALTHY_AFTER = 10.0
"""A worker that served this long died of something else than its start-up: restart at once."""
STOP_GRACE = 5.0
"""Seconds the workers get to finish after SIGTERM before they are killed."""


class _Slot:
    """One of the N workers, across its restarts."""

    def __init__(self, number: int) -> None:
        self.number = number
        self.process: BaseProcess | None = None
        self.started = 0.0
        self.restart_at: float | None = None
        self.backoff = Backoff(RESTART_FIRST, RESTART_CAP)


def _nothing(_: object) -> None:
    """The default hook: nothing to do."""


class Supervisor:
    def __init__(
        self,
        start: Callable[[int], BaseProcess],
        workers: int,
        *,
        started: Callable[[Sequence[BaseProcess]], None] = _nothing,
        ended: Callable[[BaseProcess], None] = _nothing,
    ) -> None:
        """``start(n)`` starts worker ``n`` and returns its (started) process. ``started`` is
        called once with the first N processes, and may wait for them to be ready (raising
        stops everything: a deployment that cannot start is not restarted); ``ended`` with each
        worker that has exited, before it is restarted."""
        self._start = start
        self._slots = [_Slot(n) for n in range(workers)]
        self._started = started
        self._on_ended = ended

    @property
    def processes(self) -> list[BaseProcess]:
        return [s.process for s in self._slots if s.process is not None]

    def run(self) -> None:
        """Start the workers and keep them running until interrupted (the master's SIGTERM
        raises ``KeyboardInterrupt``); then stop them."""
        try:
            for slot in self._slots:
                self._launch(slot)
            self._started(self.processes)
            while True:
                self._watch_once()
        finally:
            self.stop()

    def stop(self, grace: float = STOP_GRACE) -> None:
        """SIGTERM every worker, wait up to ``grace`` seconds, then SIGKILL what is left."""
        running = [p for p in self.processes if p.is_alive()]
        for process in running:
            process.terminate()
        deadline = time.monotonic() + grace
        for process in running:
            process.join(max(deadline - time.monotonic(), 0))
        for process in running:
            if process.is_alive():
                log.error(
                    "%s (pid %s) did not stop in %.0f s; killed", process.name, process.pid, grace
                )
                process.kill()
                process.join()

    def _watch_once(self) -> None:
        now = time.monotonic()
        due = [s.restart_at for s in self._slots if s.restart_at is not None]
        timeout = max(min(due) - now, 0) if due else None
        alive = {s.process.sentinel: s for s in self._slots if s.process is not None}
        for sentinel in wait(list(alive), timeout):
            if isinstance(sentinel, int):
                self._ended(alive[sentinel])
        now = time.monotonic()
        for slot in self._slots:
            if slot.restart_at is not None and slot.restart_at <= now:
                self._launch(slot)

    def _ended(self, slot: _Slot) -> None:
        process = slot.process
        if process is None:
            return
        process.join()
        self._on_ended(process)
        lived = time.monotonic() - slot.started
        if lived >= HEALTHY_AFTER:
            slot.backoff.reset()
            delay = 0.0
        else:
            delay = slot.backoff.next_delay()
        log.error(
            "%s (pid %s) exited with %s after %.1f s; restarting it in %.1f s",
            process.name,
            process.pid,
            process.exitcode,
            lived,
            delay,
        )
        slot.process = None
        slot.restart_at = time.monotonic() + delay

    def _launch(self, slot: _Slot) -> None:
        slot.process = self._start(slot.number)
        slot.started = time.monotonic()
        slot.restart_at = None
