"""Notifications kept for a principal who has no device yet, delivered to the first device it
enrolls (issue 7: the holder hears who created their dossier "as soon as the holder has a
device"). Only notices sent with ``hold`` are kept, at most ``LIMIT`` per principal, under the
principal's own tag; nothing in them is secret (they are server events, signed when queued).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from messaging import redis_keys
from messaging.delivery import ServerEvents
from messaging.redis_link import RedisLink

LIMIT = 100
"""Held notices kept per principal; the oldest go first (a principal that never enrolls)."""


class HeldNotices:
    def __init__(self, link: RedisLink, events: ServerEvents) -> None:
        self._redis = link.client
        self._events = events

    async def hold(self, principal: str, body: Mapping[str, Any], item: str) -> None:
        key = redis_keys.held_notices(principal)
        held = json.dumps({"body": dict(body), "item": item}, separators=(",", ":"))
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.rpush(key, held)
            pipe.ltrim(key, -LIMIT, -1)
            await pipe.execute()

    async def release(self, principal: str, device: str) -> None:
        """Queue every held notice for ``device``, the principal's newly enrolled device."""
        key = redis_keys.held_notices(principal)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.lrange(key, 0, -1)
            pipe.delete(key)
            raw, _ = await pipe.execute()
        for held in (json.loads(entry) for entry in raw):
            await self._events.emit([device], "notification", held["body"], held["item"])
