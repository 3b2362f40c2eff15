"""Waking local listeners when their device's queue changes, over one pub/sub connection.

Each process holds a single pattern subscription, whatever the number of sockets and long polls
it serves, and fans wake-ups out to local listeners; the listener then reads the queue itself, so
a lost wake-up delays an event but never loses it. The same channel carries socket claims: a new
socket for a device announces itself and every older socket of that device, in any process,
closes with 4409.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence

from redis.asyncio import Redis

from messaging import redis_keys
from messaging.supervision import Backoff, keep_running

log = logging.getLogger(__name__)

_CLAIM = b"c:"
RESUBSCRIBE_FIRST = 0.1
RESUBSCRIBE_CAP = 5.0
"""Seconds between attempts to subscribe again, doubling from the first up to the cap: a
Redis back from a restart is found within seconds."""


class Listener:
    """One local waiter on a device: a long poll or a WebSocket."""

    def __init__(self, device: str, connection: str | None) -> None:
        self.device = device
        self.connection = connection
        self.since = time.time_ns()
        self.wake = asyncio.Event()
        self.displaced = asyncio.Event()
        self.revoked = False

    async def wait(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.wake.wait(), seconds)

    async def next_signal(self) -> bool:
        """Wait for a wake-up or a displacement; True when displaced."""
        waiters = [
            asyncio.ensure_future(self.wake.wait()),
            asyncio.ensure_future(self.displaced.wait()),
        ]
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
        return self.displaced.is_set()

    def displaced_by(self, since: int, connection: str) -> bool:
        # The newest socket wins, so two sockets opened at once do not close each other.
        if self.connection is None or connection == self.connection:
            return False
        return (since, connection) > (self.since, self.connection)


class WakeHub:
    def __init__(self, redis: Redis, on_invalidate: Sequence[Callable[[str], None]] = ()) -> None:
        """``on_invalidate`` are called with each invalidation (``p:<principal>``,
        ``d:<device>``, or ``*`` after a lost subscription, when any message may have been
        missed)."""
        self._redis = redis
        self._listeners: defaultdict[str, set[Listener]] = defaultdict(set)
        self._task: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()
        self._invalidation_handlers = tuple(on_invalidate)
        self._backoff = Backoff(RESUBSCRIBE_FIRST, RESUBSCRIBE_CAP)

    async def invalidate(self, *subjects: str) -> None:
        for subject in subjects:
            # Here at once, so this process's next request already sees the change; elsewhere
            # as soon as the message arrives.
            self._invalidated(subject)
            await self._redis.publish(redis_keys.INVALIDATE_CHANNEL, subject)

    def _invalidated(self, subject: str) -> None:
        for handler in self._invalidation_handlers:
            handler(subject)
        if subject.startswith("d:"):
            # A revoked device's sockets end too: its token and queue are already gone.
            for listener in self._listeners.get(subject[2:], ()):
                listener.revoked = True
                listener.displaced.set()

    @property
    def listener_count(self) -> int:
        return sum(len(group) for group in self._listeners.values())

    async def start(self) -> None:
        self._task = asyncio.create_task(
            keep_running("wake-up subscription", self._listen, self._backoff, log),
            name="liaison-wakeup",
        )
        await asyncio.wait_for(self._subscribed.wait(), 10)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    @contextlib.contextmanager
    def listen(self, device: str, connection: str | None = None) -> Iterator[Listener]:
        listener = Listener(device, connection)
        self._listeners[device].add(listener)
        try:
            yield listener
        finally:
            group = self._listeners.get(device)
            if group is not None:
                group.discard(listener)
                if not group:
                    del self._listeners[device]

    async def claim(self, listener: Listener) -> None:
        """Announce a new socket for its device: older ones, here or elsewhere, step aside."""
        data = f"{listener.since}:{listener.connection}".encode()
        await self._redis.publish(redis_keys.wake_channel(listener.device), _CLAIM + data)

    def _dispatch(self, channel: bytes, data: bytes) -> None:
        group = self._listeners.get(redis_keys.device_of_wake_channel(channel.decode()))
        if not group:
            return
        if data.startswith(_CLAIM):
            since, _, connection = data[len(_CLAIM) :].decode().partition(":")
            for listener in group:
                if listener.displaced_by(int(since), connection):
                    listener.displaced.set()
        else:
            for listener in group:
                listener.wake.set()

    def _wake_all(self) -> None:
        for group in self._listeners.values():
            for listener in group:
                listener.wake.set()

    async def _listen(self) -> None:
        """One subscription, from subscribing until it fails (``keep_running`` starts another)."""
        pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.psubscribe(redis_keys.WAKE_PATTERN)
            await pubsub.subscribe(redis_keys.INVALIDATE_CHANNEL)
            self._backoff.reset()
            self._subscribed.set()
            # Messages sent while we were not subscribed are lost: everyone re-reads.
            self._wake_all()
            self._invalidated("*")
            while True:
                message = await pubsub.get_message(timeout=None)
                if message is None:
                    continue
                if message["type"] == "pmessage":
                    self._dispatch(message["channel"], message["data"])
                elif message["type"] == "message":
                    self._invalidated(message["data"].decode())
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()  # type: ignore[no-untyped-call]
