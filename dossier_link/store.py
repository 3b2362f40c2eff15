"""Dossiers in Redis, one hash tag per dossier (``{p:<ins>}``).

Every change is decided in Python on a snapshot and applied by one script that checks the
snapshot's version (optimistic concurrency), so the state, its documents and the log entries
that record the change land together or not at all.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Any

from dossier_link.log_models import LogEntry
from dossier_link.models import DocumentRecord, DossierRecord
from dossier_link.state import DossierState
from messaging import redis_keys
from messaging.redis_link import RedisLink
from messaging.redis_text import text
from messaging.representations import Representation
from messaging.scripts import Call


def _script(name: str) -> str:
    return resources.files("dossier_link").joinpath(f"lua/{name}.lua").read_text("utf-8")


@dataclass(frozen=True, slots=True)
class Snapshot:
    record: DossierRecord
    version: int
    representations: tuple[Representation, ...] = ()
    """Recorded for the holder, read with the record (the same slot, one transaction)."""

    def state(self, now: datetime) -> DossierState:
        return self.record.state(now, self.representations)


def _representations(raw: list[Any]) -> tuple[Representation, ...]:
    recorded = (Representation.model_validate_json(r) for r in raw)
    return tuple(sorted(recorded, key=lambda r: (r.created_at, r.id)))


def _snapshot(
    state: bytes | str | None, version: bytes | str | None, representations: list[Any]
) -> Snapshot | None:
    if state is None or version is None:
        return None
    record = DossierRecord.model_validate_json(state)
    return Snapshot(record, int(text(version)), _representations(representations))


def _dumps(value: dict[str, Any]) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class DossierStore:
    def __init__(self, link: RedisLink) -> None:
        self._link = link
        self._redis = link.client
        self._commit = self._redis.register_script(_script("commit"))
        self._purge = self._redis.register_script(_script("purge"))

    async def load(self, ins: str) -> Snapshot | None:
        found, _ = await self.load_with_representations(ins)
        return found

    async def load_with_representations(
        self, ins: str
    ) -> tuple[Snapshot | None, tuple[Representation, ...]]:
        """The dossier (if any) and the holder's recorded representations, read together."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hmget(redis_keys.dossier(ins), ["state", "version"])
            pipe.hvals(redis_keys.representations(ins))
            (state, version), raw = await pipe.execute()
        return _snapshot(state, version, raw), _representations(raw)

    async def commit(
        self,
        version: int,
        record: DossierRecord,
        entries: Sequence[LogEntry],
        documents: Sequence[DocumentRecord] = (),
        drop_representation: str | None = None,
    ) -> bool:
        """Apply the change if the version has not moved; ``drop_representation`` removes a
        recorded representation in the same step as the entries that log its end."""
        ins = record.ins
        keys = [
            redis_keys.dossier(ins),
            redis_keys.dossier_log(ins),
            redis_keys.dossier_documents(ins),
            redis_keys.representations(ins),
            redis_keys.dossier_tombstones(ins),
            *(redis_keys.dossier_document(ins, d.id) for d in documents),
        ]
        args: list[str | int] = [
            version,
            record.model_dump_json(),
            drop_representation or "",
            len(entries),
            *(e.model_dump_json() for e in entries),
        ]
        for document in documents:
            args += [document.id, document.model_dump_json()]
        # Durable: with LIAISON_REDIS_WAIT_REPLICAS, a change is answered once replicated.
        (applied,) = await self._link.run([Call.of(self._commit, keys, args)], durable=True)
        return bool(applied)

    async def document(self, ins: str, document_id: str) -> DocumentRecord | None:
        raw = await self._redis.get(redis_keys.dossier_document(ins, document_id))
        return None if raw is None else DocumentRecord.model_validate_json(raw)

    async def documents(self, ins: str) -> list[DocumentRecord]:
        ids = sorted(text(i) for i in await self._redis.smembers(redis_keys.dossier_documents(ins)))
        if not ids:
            return []
        raw = await self._redis.mget([redis_keys.dossier_document(ins, i) for i in ids])
        records = [DocumentRecord.model_validate_json(r) for r in raw if r is not None]
        return sorted(records, key=lambda d: (d.created_at, d.id))

    async def log(self, ins: str) -> list[LogEntry]:
        raw = await self._redis.lrange(redis_keys.dossier_log(ins), 0, -1)
        return [LogEntry.model_validate_json(entry) for entry in raw]

    async def load_with_log(self, ins: str) -> tuple[Snapshot | None, list[LogEntry]]:
        """The dossier and its whole log, read together (one transaction on the dossier's tag):
        the log ends exactly at the record's head, which a checkpoint then signs."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hmget(redis_keys.dossier(ins), ["state", "version"])
            pipe.hvals(redis_keys.representations(ins))
            pipe.lrange(redis_keys.dossier_log(ins), 0, -1)
            (state, version), representations, raw = await pipe.execute()
        entries = [LogEntry.model_validate_json(entry) for entry in raw]
        return _snapshot(state, version, representations), entries

    # --- opt-out objections (CR-5) ------------------------------------------------------------

    async def objection(self, ins: str) -> str | None:
        """Who registered the standing objection, if one stands."""
        raw = await self._redis.hget(redis_keys.dossier_objection(ins), "by")
        return None if raw is None else text(raw)

    async def set_objection(self, ins: str, by: str, at: str) -> None:
        await self._redis.hset(redis_keys.dossier_objection(ins), mapping={"by": by, "at": at})

    async def withdraw_objection(self, ins: str) -> None:
        await self._redis.delete(redis_keys.dossier_objection(ins))

    # --- closure and purge (CR-6) -------------------------------------------------------------

    async def schedule_purge(self, ins: str, at_ms: int) -> None:
        await self._redis.zadd(redis_keys.DOSSIER_PURGES, {ins: at_ms})

    async def due_purges(self, now_ms: int, limit: int = 100) -> list[str]:
        raw = await self._redis.zrangebyscore(
            redis_keys.DOSSIER_PURGES, "-inf", now_ms, start=0, num=limit
        )
        return [text(i) for i in raw if isinstance(i, bytes | str)]

    async def purge(self, snapshot: Snapshot, tombstone: dict[str, Any]) -> bool:
        ins = snapshot.record.ins
        ids = [text(i) for i in await self._redis.smembers(redis_keys.dossier_documents(ins))]
        keys = [
            redis_keys.dossier(ins),
            redis_keys.dossier_log(ins),
            redis_keys.dossier_documents(ins),
            *(redis_keys.dossier_document(ins, i) for i in ids),
        ]
        purged = bool(await self._purge(keys=keys, args=[snapshot.version, _dumps(tombstone)]))
        if purged:
            await self._redis.zrem(redis_keys.DOSSIER_PURGES, ins)
        return purged

    async def unschedule(self, ins: str) -> None:
        await self._redis.zrem(redis_keys.DOSSIER_PURGES, ins)
