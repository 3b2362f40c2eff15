"""Waking local listeners when their device's queue changes, over O(1) pub/sub connections.

Each process holds one subscription feed (``messaging.pubsub``: one pattern subscription, or one
connection per cluster shard), whatever the number of sockets and long polls it serves, and fans
wake-ups out to local listeners; the listener then reads the queue itself, so a lost wake-up
delays an event but never loses it. The same channel carries socket claims: a new socket for a
device announces itself and every older socket of that device, in any process, closes with 4409.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Sequence

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from messaging import redis_keys
from messaging.redis_link import RedisLink
from messaging.supervision import Backoff, keep_running

log = logging.getLogger(__name__)

_WAKE = b"w"
_CLAIM = b"c:"
_INVALIDATE = redis_keys.INVALIDATE_CHANNEL.encode()
RESUBSCRIBE_FIRST = 0.1
"""Seconds before the first attempt to subscribe again, doubling up to the configured
``redis_reconnect_seconds``: a Redis back from a restart is found within a second."""


class End(enum.Enum):
    """Why a listener must stop waiting and let its socket or long poll go."""

    DISPLACED = enum.auto()
    """A newer socket of the same device took over."""
    REVOKED = enum.auto()
    """The device was revoked: its token and queue are already gone."""
    SHUTDOWN = enum.auto()
    """The process is stopping: a long poll answers now, a socket closes with 1001."""


class Listener:
    """One local waiter on a device: a long poll or a WebSocket."""

    def __init__(self, device: str, connection: str | None) -> None:
        self.device = device
        self.connection = connection
        self.since = time.time_ns()
        self.wake = asyncio.Event()
        self.end: End | None = None

    def stop(self, end: End) -> None:
        if self.end is None:
            self.end = end
        self.wake.set()

    async def wait(self, seconds: float) -> None:
        """Until the queue changes, the listener is stopped, or ``seconds`` pass."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.wake.wait(), seconds)

    async def next_signal(self) -> End | None:
        """Wait for a wake-up; the reason to stop, once there is one."""
        if self.end is None:
            await self.wake.wait()
        return self.end

    def displaced_by(self, since: int, connection: str) -> bool:
        # The newest socket wins, so two sockets opened at once do not close each other.
        if self.connection is None or connection == self.connection:
            return False
        return (since, connection) > (self.since, self.connection)


class WakeHub:
    def __init__(
        self,
        link: RedisLink,
        on_invalidate: Sequence[Callable[[str], None]] = (),
        *,
        reconnect_seconds: float = 1.0,
    ) -> None:
        """``on_invalidate`` are called with each invalidation (``p:<principal>``,
        ``d:<device>``, or ``*`` after a lost subscription, when any message may have been
        missed)."""
        self._link = link
        self._feed = link.feed(self._on_message)
        self._listeners: defaultdict[str, set[Listener]] = defaultdict(set)
        self._task: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()
        self._invalidation_handlers = tuple(on_invalidate)
        self._backoff = Backoff(min(RESUBSCRIBE_FIRST, reconnect_seconds), reconnect_seconds)
        self._shutting_down = False

    async def invalidate(self, *subjects: str) -> None:
        for subject in subjects:
            # Here at once, so this process's next request already sees the change; elsewhere
            # as soon as the message arrives.
            self._invalidated(subject)
            await self._link.publish(redis_keys.INVALIDATE_CHANNEL, subject)

    def _invalidated(self, subject: str) -> None:
        for handler in self._invalidation_handlers:
            handler(subject)
        if subject.startswith("d:"):
            # A revoked device's sockets end too: its token and queue are already gone.
            for listener in self._listeners.get(subject[2:], ()):
                listener.stop(End.REVOKED)

    @property
    def listener_count(self) -> int:
        return sum(len(group) for group in self._listeners.values())

    async def start(self) -> None:
        self._task = asyncio.create_task(
            keep_running("wake-up subscription", self._listen, self._backoff, log),
            name="liaison-wakeup",
        )
        await asyncio.wait_for(self._subscribed.wait(), 10)

    def shutdown(self) -> None:
        """Stop every listener, and those still to come: long polls answer, sockets close."""
        self._shutting_down = True
        for group in self._listeners.values():
            for listener in group:
                listener.stop(End.SHUTDOWN)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    @contextlib.asynccontextmanager
    async def listen(self, device: str, connection: str | None = None) -> AsyncIterator[Listener]:
        """A listener on ``device``, subscribed (when the feed needs it) before it is returned:
        a queue read after this sees every event that will not wake it."""
        listener = Listener(device, connection)
        if self._shutting_down:
            listener.stop(End.SHUTDOWN)
        self._listeners[device].add(listener)
        channel = redis_keys.wake_channel(device)
        try:
            await self._feed.watch(channel)
            try:
                yield listener
            finally:
                with contextlib.suppress(RedisConnectionError, RedisTimeoutError, OSError):
                    await self._feed.unwatch(channel)
        finally:
            group = self._listeners.get(device)
            if group is not None:
                group.discard(listener)
                if not group:
                    del self._listeners[device]

    async def claim(self, listener: Listener) -> None:
        """Announce a new socket for its device: older ones, here or elsewhere, step aside."""
        data = f"{listener.since}:{listener.connection}".encode()
        await self._link.publish(redis_keys.wake_channel(listener.device), _CLAIM + data)

    def _on_message(self, channel: bytes, data: bytes) -> None:
        if channel == _INVALIDATE:
            self._invalidated(data.decode())
        else:
            self._dispatch(channel, data)

    def _dispatch(self, channel: bytes, data: bytes) -> None:
        group = self._listeners.get(redis_keys.device_of_wake_channel(channel.decode()))
        if not group:
            return
        if data.startswith(_CLAIM):
            since, _, connection = data[len(_CLAIM) :].decode().partition(":")
            for listener in group:
                if listener.displaced_by(int(since), connection):
                    listener.stop(End.DISPLACED)
        else:
            for listener in group:
                listener.wake.set()

    def _wake_all(self) -> None:
        for group in self._listeners.values():
            for listener in group:
                listener.wake.set()

    async def _listen(self) -> None:
        """One subscription, from subscribing until it fails (``keep_running`` starts another)."""
        try:
            await self._feed.open()
            self._backoff.reset()
            self._subscribed.set()
            # Messages sent while we were not subscribed are lost: everyone re-reads.
            self._wake_all()
            self._invalidated("*")
            await self._feed.serve()
        finally:
            await self._feed.close()
