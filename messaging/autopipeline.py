"""Auto-pipelining: the Redis calls of concurrent requests share one pipeline per loop turn.

redis-py spends about as much client CPU on one round trip (a connection checkout, a write,
an event-loop wake-up, a read) as on ten commands inside one, and Redis itself spends a few
microseconds per command: what a busy server pays for is the number of round trips, not of
commands. Every call made through ``RedisLink.run`` during one event-loop turn therefore waits
in a queue, and the turn's end sends the queue as one pipeline (split per node on a cluster);
each caller gets its own slice of the replies. ioredis and Lettuce do the same under the same
name. While ``max_in_flight`` batches are out, new calls wait for one to come back, so that
under load batches grow instead of round trips multiplying.

A caller's calls stay together and in order inside the batch: on one Redis server they run in
that order on one connection, as a pipeline of their own would. Nothing else is promised
between callers, which is all a pipeline without a transaction ever promised.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from messaging.scripts import Call

log = logging.getLogger(__name__)

Execute = Callable[[Sequence[Call], Sequence[bool]], Awaitable[list[Any]]]
"""Runs one batch: the calls, and for each whether its writes must reach the replicas. Returns
one reply per call, an exception standing in for a call that failed; raises when the batch as
a whole failed (Redis unreachable)."""


Then = Callable[[list[Any] | BaseException], object]
"""Told of the replies of calls sent without waiting for them (or of why the batch failed)."""


@dataclass(slots=True)
class _Waiting:
    calls: Sequence[Call]
    durable: bool
    replies: asyncio.Future[list[Any]] | None
    then: Then | None = None

    def deliver(self, outcome: list[Any] | Exception) -> None:
        if self.replies is not None:
            if self.replies.done():  # its caller was cancelled meanwhile
                return
            if isinstance(outcome, Exception):
                self.replies.set_exception(outcome)
            else:
                self.replies.set_result(outcome)
        elif self.then is not None:
            try:
                self.then(outcome)
            except Exception:
                log.exception("a callback on Redis replies failed")


class AutoPipeline:
    def __init__(self, execute: Execute, *, max_in_flight: int) -> None:
        self._execute = execute
        self._max_in_flight = max_in_flight
        self._waiting: list[_Waiting] = []
        self._in_flight = 0
        self._flush_scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()

    async def run(self, calls: Sequence[Call], durable: bool = False) -> list[Any]:
        """The replies to ``calls``, sent with whatever else this turn sends."""
        loop = asyncio.get_running_loop()
        replies: asyncio.Future[list[Any]] = loop.create_future()
        self._waiting.append(_Waiting(calls, durable, replies))
        self._schedule(loop)
        return await replies

    def later(self, calls: Sequence[Call], then: Then | None, durable: bool = False) -> None:
        """Send ``calls`` with the next batch without waiting for them; ``then`` gets the
        replies. For writes nobody waits on: they cost no round trip of their own."""
        self._waiting.append(_Waiting(calls, durable, None, then))
        self._schedule(asyncio.get_running_loop())

    def _schedule(self, loop: asyncio.AbstractEventLoop) -> None:
        if not self._flush_scheduled and self._in_flight < self._max_in_flight:
            self._flush_scheduled = True
            # call_soon runs after every callback already queued for this turn: the requests
            # woken in the same turn have all added their calls by then.
            loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        batch, self._waiting = self._waiting, []
        if not batch:
            return
        self._in_flight += 1
        task = asyncio.create_task(self._send(batch))
        self._tasks.add(task)
        task.add_done_callback(self._sent)

    def _sent(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._in_flight -= 1
        if self._waiting:
            self._schedule(asyncio.get_running_loop())

    async def _send(self, batch: list[_Waiting]) -> None:
        calls = [call for waiting in batch for call in waiting.calls]
        durable = [waiting.durable for waiting in batch for _ in waiting.calls]
        try:
            replies = await self._execute(calls, durable)
        except Exception as exc:  # every caller of the batch learns why
            for waiting in batch:
                waiting.deliver(exc)
            return
        except BaseException:  # cancelled (shutdown): so are its callers, none hangs
            for waiting in batch:
                if waiting.replies is not None:
                    waiting.replies.cancel()
            raise
        start = 0
        for waiting in batch:
            end = start + len(waiting.calls)
            waiting.deliver(replies[start:end])
            start = end
