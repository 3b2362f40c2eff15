"""Wall-clock helpers: milliseconds for Redis, RFC 3339 UTC with ``Z`` for the wire.

The one formatter of wire times: server, dossier store and SDK all write ``rfc3339`` (from
milliseconds) or ``utc`` (from a datetime, through the same formatter).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def now() -> datetime:
    """The wall clock as an aware datetime: what the dossier rules are decided at."""
    return datetime.now(UTC)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def now_us() -> int:
    """Microseconds: exact in a sorted set's score (a double) for some 280 years, and fine
    enough that requests of one process never tie."""
    return time.time_ns() // 1_000


def rfc3339(ms: int) -> str:
    t = time.gmtime(ms // 1000)
    return (
        f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T"
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}.{ms % 1000:03d}Z"
    )


def epoch_ms(moment: datetime) -> int:
    """Milliseconds since the epoch of an aware datetime, exactly (no float on the way)."""
    return (moment - _EPOCH) // _MS


def utc(moment: datetime) -> str:
    """``moment`` as a wire time: RFC 3339 UTC to the millisecond."""
    return rfc3339(epoch_ms(moment))


def parse_utc(text: str) -> datetime:
    """A wire time back to an aware datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
