"""The process-local cache: expiry, invalidation and its bound."""

from __future__ import annotations

import time

from messaging.cache import TtlCache


def test_entries_expire() -> None:
    cache: TtlCache[str, int] = TtlCache(ttl=60)
    cache.put("a", 1, ttl=0.001)
    cache.put("b", 2)
    time.sleep(0.005)
    assert cache.get("a") is None
    assert cache.get("b") == 2


def test_drop_and_drop_where() -> None:
    cache: TtlCache[str, int] = TtlCache(ttl=60)
    for n, key in enumerate("abc"):
        cache.put(key, n)
    cache.drop("a")
    cache.drop_where(lambda key, value: value == 2)
    assert [cache.get(k) for k in "abc"] == [None, 1, None]


def test_a_full_cache_starts_over() -> None:
    cache: TtlCache[int, int] = TtlCache(ttl=60, max_entries=3)
    for n in range(4):
        cache.put(n, n)
    assert [cache.get(n) for n in range(4)] == [None, None, None, 3]
