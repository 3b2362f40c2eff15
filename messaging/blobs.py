"""Blobs: uploads, who may read them, and how long they live (docs/protocol.md, "Blobs").

The server holds ciphertext and metadata only. A blob's record, its readers and the uploader's
storage total share the uploader's hash tag, so opening an upload against the quota, binding
blobs to a message and deleting one are each a single script; ``{b:<id>}:owner`` leads from an
id to its uploader. Whoever may not see a blob is told it does not exist (404), exactly as for
an id never issued.

Lifetime: an upload expires ``orphan`` after it was opened unless an accepted message names it;
binding extends it to the message's retention. The sweep (``sweep``) deletes what is due, file
first and record second, so that a crash in between leaves a record the next sweep removes,
never a file nobody knows.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
from collections.abc import AsyncIterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, cast

from messaging import crypto, redis_keys
from messaging.auth import Caller
from messaging.blob_models import BlobStatus
from messaging.blob_store import BlobStore, PartialWrite, TooMuchData
from messaging.errors import (
    BlobAlreadyComplete,
    BlobIncomplete,
    BlobNotFound,
    BlobTooLarge,
    BlobUnavailable,
    DigestMismatch,
    LiaisonError,
    OffsetMismatch,
    StorageQuotaExceeded,
    UploadBusy,
    UploadExceedsSize,
    UploadInterrupted,
)
from messaging.redis_link import RedisLink
from messaging.redis_text import text
from messaging.scripts import Call, Scripts
from messaging.timeutil import now_ms, rfc3339

SWEEP_BATCH = 100
DOSSIER_RECHECK_MS = 3_600_000
"""How often the sweep asks whether a dossier blob's document still exists (CR-6 purge)."""
RENEW_EVERY_BYTES = 8 << 20
"""A long ``PATCH`` renews its lease on the upload after each such stretch of bytes."""


def new_blob_id() -> str:
    return "blb_" + base64.b32encode(secrets.token_bytes(16)).decode().rstrip("=").lower()


class DossierReaders(Protocol):
    """The dossier store's side of a blob kept with a document (``messaging.dossier_bridge``)."""

    async def may_read(self, caller: Caller, ins: str, document: str) -> bool:
        """Whether ``caller`` may read the document (RD rules): a read, logged like one."""
        ...

    async def document_exists(self, ins: str, document: str) -> bool: ...


@dataclass(frozen=True, slots=True)
class BlobLimits:
    max_bytes: int
    quota_bytes: int
    orphan_ms: int
    lease_ms: int
    retention_ms: int


@dataclass(frozen=True, slots=True)
class ReadableBlob:
    path: Path
    size: int


_FIELDS = ("size", "held", "state", "digest", "expires", "ins", "document")


@dataclass(frozen=True, slots=True)
class _Record:
    owner: str
    size: int
    held: int
    complete: bool
    digest: str | None
    expires: int
    """Milliseconds; 0 while a dossier keeps the blob."""
    ins: str | None
    document: str | None

    def status(self, blob_id: str) -> BlobStatus:
        return BlobStatus(
            id=blob_id,
            size=self.size,
            held=self.held,
            complete=self.complete,
            digest=self.digest,
            expires_at=rfc3339(self.expires) if self.expires else None,
        )


class Blobs:
    def __init__(
        self,
        link: RedisLink,
        scripts: Scripts,
        store: BlobStore,
        limits: BlobLimits,
        dossiers: DossierReaders,
    ) -> None:
        self._link = link
        self._redis = link.client
        self._scripts = scripts
        self._store = store
        self._limits = limits
        self._dossiers = dossiers

    # --- uploading ------------------------------------------------------------------------

    async def create(self, caller: Caller, size: int) -> BlobStatus:
        if size > self._limits.max_bytes:
            raise BlobTooLarge(
                f"a blob holds at most {self._limits.max_bytes} bytes", limit=self._limits.max_bytes
            )
        blob_id, now = new_blob_id(), now_ms()
        expires = now + self._limits.orphan_ms
        # The index and the id's owner first: whatever a crash leaves, the sweep finds.
        await self._redis.zadd(redis_keys.BLOB_EXPIRY, {blob_id: expires})
        await self._redis.set(redis_keys.blob_owner(blob_id), caller.principal)
        created, used = await self._scripts.blob_create(
            keys=[
                redis_keys.blob(caller.principal, blob_id),
                redis_keys.blob_usage(caller.principal),
            ],
            args=[size, self._limits.quota_bytes, expires, now],
        )
        if not int(created):
            await self._redis.delete(redis_keys.blob_owner(blob_id))
            await self._redis.zrem(redis_keys.BLOB_EXPIRY, blob_id)
            raise StorageQuotaExceeded(
                f"{caller.principal} holds {int(used)} bytes of blobs; {size} more would pass "
                f"the quota of {self._limits.quota_bytes}",
                quota=self._limits.quota_bytes,
                used=int(used),
            )
        return BlobStatus(
            id=blob_id, size=size, held=0, complete=False, expires_at=rfc3339(expires)
        )

    async def write(
        self,
        caller: Caller,
        blob_id: str,
        offset: int,
        body: AsyncIterable[bytes],
        length: int | None = None,
    ) -> BlobStatus:
        """Append ``body`` (``length`` bytes, when announced) at ``offset``, which must be the
        bytes held (a resumed upload asks ``status`` first). What a cut connection delivered
        still counts as held."""
        await self._own(caller, blob_id)
        key = redis_keys.blob(caller.principal, blob_id)
        token = secrets.token_hex(16)
        size = self._check_write(await self._writer(key, token, offset), offset, held_known=True)
        written = 0
        try:
            if length is not None and offset + length > size:
                # Refused before a byte is read: the client hears it instead of a reset.
                raise UploadExceedsSize(f"the blob is declared at {size} bytes", size=size)
            written = await self._store.write(
                blob_id, offset, self._renewing(key, token, body), size - offset
            )
        except PartialWrite as partial:
            written = partial.written
            if isinstance(partial.cause, TooMuchData):
                raise UploadExceedsSize(
                    f"the blob is declared at {size} bytes", size=size
                ) from partial
            if isinstance(partial.cause, LiaisonError | asyncio.CancelledError):
                raise partial.cause from partial
            raise UploadInterrupted(
                f"the body stopped after {written} bytes; ask how much is held and resume",
                held=offset + written,
            ) from partial
        finally:
            self._check_write(await self._writer(key, token, offset + written, release=True), 0)
        return await self.status(caller, blob_id)

    async def _renewing(
        self, key: str, token: str, body: AsyncIterable[bytes]
    ) -> AsyncIterable[bytes]:
        since = 0
        async for chunk in body:
            yield chunk
            since += len(chunk)
            if since >= RENEW_EVERY_BYTES:
                since = 0
                self._check_write(await self._writer(key, token, -1), 0)

    async def _writer(self, key: str, token: str, position: int, release: bool = False) -> Any:
        now = now_ms()
        lease = 0 if release else now + self._limits.lease_ms
        return await self._scripts.blob_write(keys=[key], args=[token, now, lease, position])

    @staticmethod
    def _check_write(reply: Any, offset: int, held_known: bool = False) -> int:
        status = int(reply[0])
        if status == 1:
            return int(reply[1])
        if status == 0:
            raise BlobNotFound("no such upload (or it expired)")
        if status == -1 and held_known:
            raise OffsetMismatch(
                f"the server holds {int(reply[1])} bytes, not {offset}", held=int(reply[1])
            )
        if status == -3:
            raise BlobAlreadyComplete("the blob is complete")
        raise UploadBusy("another request is writing this upload; retry once it is done")

    async def complete(self, caller: Caller, blob_id: str, digest: str) -> BlobStatus:
        record = await self._own(caller, blob_id)
        if record.held != record.size:
            raise BlobIncomplete(
                f"the server holds {record.held} of {record.size} bytes", held=record.held
            )
        if not record.complete and await self._store.digest(blob_id) != crypto.b64u_decode(digest):
            raise DigestMismatch("the bytes held do not have this digest")
        reply = await self._scripts.blob_complete(
            keys=[redis_keys.blob(caller.principal, blob_id)], args=[digest, now_ms()]
        )
        status = int(reply[0])
        if status == 0:
            raise BlobNotFound("no such upload (or it expired)")
        if status == -1:
            raise BlobIncomplete("bytes are missing", held=int(reply[1]))
        if status == -2:
            raise UploadBusy("a request is still writing this upload")
        if status == -3:
            raise DigestMismatch("the blob is complete with another digest")
        return await self.status(caller, blob_id)

    # --- reading --------------------------------------------------------------------------

    async def status(self, caller: Caller, blob_id: str) -> BlobStatus:
        return (await self._visible(caller, blob_id)).status(blob_id)

    async def readable(self, caller: Caller, blob_id: str) -> ReadableBlob:
        record = await self._visible(caller, blob_id)
        if not record.complete:
            raise BlobIncomplete(
                f"the upload holds {record.held} of {record.size} bytes", held=record.held
            )
        return ReadableBlob(self._store.local_path(blob_id), record.size)

    async def _record(self, blob_id: str) -> _Record | None:
        owner = await self._owner(blob_id)
        if owner is None:
            return None
        values = await self._redis.hmget(redis_keys.blob(owner, blob_id), list(_FIELDS))
        size, held, state, digest, expires, ins, document = (
            None if v is None else text(v) for v in values
        )
        if size is None or held is None or expires is None:
            return None
        expiry = int(expires)
        if expiry and expiry <= now_ms():
            return None  # due for the sweep: already gone for everyone
        complete = state == "complete"
        return _Record(owner, int(size), int(held), complete, digest, expiry, ins, document)

    async def _owner(self, blob_id: str) -> str | None:
        owner = await self._redis.get(redis_keys.blob_owner(blob_id))
        return None if owner is None else text(owner)

    async def _own(self, caller: Caller, blob_id: str) -> _Record:
        record = await self._record(blob_id)
        if record is None or record.owner != caller.principal:
            raise BlobNotFound("no such blob")
        return record

    async def _visible(self, caller: Caller, blob_id: str) -> _Record:
        record = await self._record(blob_id)
        if record is None:
            raise BlobNotFound("no such blob")
        if record.owner == caller.principal or await self._redis.sismember(
            redis_keys.blob_readers(record.owner, blob_id), caller.device
        ):
            return record
        if (
            record.ins is not None
            and record.document is not None
            and await self._dossiers.may_read(caller, record.ins, record.document)
        ):
            return record
        raise BlobNotFound("no such blob")

    # --- binding and lifetime -------------------------------------------------------------

    def bind(self, sender: str, blob_ids: Sequence[str], devices: Sequence[str]) -> Call:
        """The call that lets ``devices`` read the sender's blobs and keeps them for the
        message's retention; its reply goes to ``check_bound``."""
        keys = [redis_keys.blob(sender, b) for b in blob_ids]
        keys += [redis_keys.blob_readers(sender, b) for b in blob_ids]
        now = now_ms()
        args = [len(blob_ids), now, now + self._limits.retention_ms, *devices]
        return Call.of(self._scripts.blob_bind, keys, args)

    @staticmethod
    def check_bound(reply: Any, blob_ids: Sequence[str]) -> None:
        unusable = [blob_ids[int(position) - 1] for position in reply]
        if unusable:
            raise BlobUnavailable(
                "the envelope names blobs that are not complete blobs of the sender's",
                blobs=unusable,
            )

    async def keep_with_document(
        self, sender: str, blob_ids: Sequence[str], ins: str, document: str
    ) -> None:
        """The message naming these blobs became a dossier document: they live as long as it
        does (the sweep deletes them once the purge took it, CR-6)."""
        keys = [redis_keys.blob(sender, b) for b in blob_ids]
        await self._scripts.blob_pin(keys=keys, args=[ins, document])
        recheck = now_ms() + DOSSIER_RECHECK_MS
        await self._redis.zadd(redis_keys.BLOB_EXPIRY, dict.fromkeys(blob_ids, recheck))

    async def sweep(self, now: int | None = None) -> int:
        """Delete the blobs due by ``now``; the number deleted."""
        now = now_ms() if now is None else now
        due = await self._redis.zrangebyscore(
            redis_keys.BLOB_EXPIRY, "-inf", now, start=0, num=SWEEP_BATCH
        )
        deleted = 0
        for raw in cast(list[bytes], due):
            deleted += await self._sweep_one(text(raw), now)
        return deleted

    async def _sweep_one(self, blob_id: str, now: int) -> int:
        owner = await self._owner(blob_id)
        if owner is not None:
            key = redis_keys.blob(owner, blob_id)
            raw = await self._redis.hmget(key, ["expires", "ins", "document"])
            expires, ins, document = (None if v is None else text(v) for v in raw)
            expiry = None if expires is None else int(expires)
            kept = expiry == 0
            if kept and ins is not None and document is not None:
                kept = await self._dossiers.document_exists(ins, document)
            if kept or (expiry is not None and expiry > now):
                # Bound since, or kept with a document: looked at again later.
                later = now + DOSSIER_RECHECK_MS if kept or expiry is None else expiry
                await self._redis.zadd(redis_keys.BLOB_EXPIRY, {blob_id: later})
                return 0
            await self.delete(owner, blob_id)
        await self._redis.zrem(redis_keys.BLOB_EXPIRY, blob_id)
        return 1 if owner is not None else 0

    async def delete(self, owner: str, blob_id: str) -> None:
        """The file, then the record (giving its bytes back to the quota), then the id."""
        await self._store.delete(blob_id)
        await self._scripts.blob_delete(
            keys=[
                redis_keys.blob(owner, blob_id),
                redis_keys.blob_readers(owner, blob_id),
                redis_keys.blob_usage(owner),
            ],
            args=[],
        )
        await self._redis.delete(redis_keys.blob_owner(blob_id))
