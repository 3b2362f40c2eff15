"""Representations in Redis (``representations`` holds the record and its liveness).

Stored under the holder's dossier hash tag (``{p:<ins>}``), so a dossier change reads them and
checks them in the same slot; a secondary index under the representative's tag answers
``?representative=`` and an id key leads from an id to its holder. The holder's hash is the
truth: the index and the id key are written before it and removed after it, and every read
through them is checked against it.

Nothing here is cached: every act reads the representations from Redis, so a removal ends the
rights at once in every process.
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

from messaging import redis_keys
from messaging.redis_link import RedisLink
from messaging.redis_text import text
from messaging.representations import Representation, live_representatives


class RepresentationStore:
    def __init__(self, link: RedisLink) -> None:
        self._redis = link.client

    async def add(self, representation: Representation) -> None:
        r = representation
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.set(redis_keys.representation_holder(r.id), r.holder)
            pipe.hset(redis_keys.represents(r.representative), r.id, r.holder)
            if (ends := r.ends_ms()) is not None:
                pipe.zadd(redis_keys.REPRESENTATION_ENDS, {f"{r.holder}:{r.id}": ends})
            await pipe.execute()
        # Last: the holder's hash is what every decision reads.
        await self._redis.hset(redis_keys.representations(r.holder), r.id, r.model_dump_json())

    async def of_holder(self, ins: str) -> list[Representation]:
        raw = await self._redis.hvals(redis_keys.representations(ins))
        return sorted(
            (Representation.model_validate_json(value) for value in raw),
            key=lambda r: (r.created_at, r.id),
        )

    async def get(self, representation_id: str) -> Representation | None:
        ins = await self._redis.get(redis_keys.representation_holder(representation_id))
        if ins is None:
            return None
        raw = await self._redis.hget(redis_keys.representations(text(ins)), representation_id)
        return None if raw is None else Representation.model_validate_json(raw)

    async def of_representative(self, principal: str) -> list[Representation]:
        index = await self._redis.hgetall(redis_keys.represents(principal))
        found = []
        for representation_id, ins in sorted(index.items()):
            raw = await self._redis.hget(
                redis_keys.representations(text(ins)), text(representation_id)
            )
            if raw is not None:
                found.append(Representation.model_validate_json(raw))
        return found

    async def is_live_representative(self, holder_ins: str, principal: str, now: datetime) -> bool:
        """Whether a live recorded representation links ``principal`` to the holder."""
        return principal in live_representatives(await self.of_holder(holder_ins), now)

    async def forget(self, representation: Representation) -> None:
        """Drop the index entries of a representation whose record is gone (removed)."""
        r = representation
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hdel(redis_keys.represents(r.representative), r.id)
            pipe.delete(redis_keys.representation_holder(r.id))
            pipe.zrem(redis_keys.REPRESENTATION_ENDS, f"{r.holder}:{r.id}")
            await pipe.execute()

    async def remove(self, representation: Representation) -> None:
        """Remove a representation of a holder who has no dossier (else the dossier's commit
        removes it together with the log entry that records its end)."""
        await self._redis.hdel(redis_keys.representations(representation.holder), representation.id)
        await self.forget(representation)

    async def due_ends(self, now_ms: int, limit: int = 100) -> list[tuple[str, str]]:
        """``(ins, id)`` of representations whose end is due and not yet logged."""
        raw = await self._redis.zrangebyscore(
            redis_keys.REPRESENTATION_ENDS, "-inf", now_ms, start=0, num=limit
        )
        due = []
        for member in cast(list[bytes], raw):
            ins, _, representation_id = text(member).partition(":")
            due.append((ins, representation_id))
        return due

    async def end_logged(self, ins: str, representation_id: str) -> None:
        await self._redis.zrem(redis_keys.REPRESENTATION_ENDS, f"{ins}:{representation_id}")
