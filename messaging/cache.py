"""A small process-local cache with expiry, for what every request would otherwise re-read.

Entries are dropped on invalidation messages (``messaging.wakeup``) when the directory changes or
a device is revoked; the expiry bounds staleness if such a message is ever missed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    def __init__(self, ttl: float, max_entries: int = 100_000) -> None:
        self._ttl = ttl
        self._max = max_entries
        self._entries: dict[K, tuple[float, V]] = {}

    def get(self, key: K) -> V | None:
        found = self._entries.get(key)
        if found is None:
            return None
        expires, value = found
        if expires < time.monotonic():
            del self._entries[key]
            return None
        return value

    def put(self, key: K, value: V, ttl: float | None = None) -> None:
        if len(self._entries) >= self._max:
            # Full: start over rather than track recency; refilling costs one read per key.
            self._entries.clear()
        lifetime = self._ttl if ttl is None else min(self._ttl, ttl)
        self._entries[key] = (time.monotonic() + lifetime, value)

    def drop(self, key: K) -> None:
        self._entries.pop(key, None)

    def drop_where(self, predicate: Callable[[K, V], bool]) -> None:
        for key in [k for k, (_, v) in self._entries.items() if predicate(k, v)]:
            del self._entries[key]

    def clear(self) -> None:
        self._entries.clear()
