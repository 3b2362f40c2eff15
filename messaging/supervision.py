"""Background tasks that never die silently: each failure is logged, then the work starts again
after a growing, capped delay; only cancellation (at shutdown) stops it."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError


class Backoff:
    """Capped exponential delays with full jitter (processes that failed together do not retry
    together); ``reset`` once the work succeeds again."""

    def __init__(self, first: float, cap: float) -> None:
        if not 0 < first <= cap:
            raise ValueError("a backoff needs 0 < first <= cap")
        self._first = first
        self._cap = cap
        self._failures = 0

    def next_delay(self) -> float:
        ceiling = min(self._cap, self._first * 2**self._failures)
        self._failures += 1
        return random.uniform(ceiling / 2, ceiling)  # noqa: S311 (timing, not a secret)

    def reset(self) -> None:
        self._failures = 0


async def keep_running(
    name: str, work: Callable[[], Awaitable[None]], backoff: Backoff, log: logging.Logger
) -> None:
    """Run ``work`` again and again: right away when it returns (the backoff starts over),
    after ``backoff`` when it fails. A lost Redis is expected (a warning); anything else is
    logged with its traceback."""
    while True:
        try:
            await work()
            backoff.reset()
            continue
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            delay = backoff.next_delay()
            log.warning("%s: Redis unreachable (%s); again in %.2f s", name, exc, delay)
        except Exception:
            delay = backoff.next_delay()
            log.exception("%s failed; again in %.2f s", name, delay)
        await asyncio.sleep(delay)
