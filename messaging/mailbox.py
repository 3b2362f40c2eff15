"""Per-device queues: idempotent enqueue, ordered reads after a cursor, acknowledgement.

A queue is a Redis stream under the device's hash tag. A message event holds only the sender,
the message id, this device's key wrap and the reception time; the ciphertext envelope rides in
the entry when the message goes to this device alone, else it is stored once per message
(``redis_keys.payload``) however many devices it goes to. Server-made events (receipts,
notifications) are small and stored whole in the entry.

Every call goes through ``RedisLink.run``, so that the reads and writes of concurrent requests
share round trips (``messaging.autopipeline``).

Cursors are the stream ids sealed with a keyed hash of the device, so that a cursor from one
device's queue is refused by another's (``foreign_cursor``) instead of silently matching.
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from messaging import crypto, redis_keys
from messaging.errors import ForeignCursor, InvalidRequest
from messaging.redis_link import RedisLink
from messaging.redis_text import fields_text, text
from messaging.scripts import Call, Enqueue, Scripts
from messaging.timeutil import now_ms
from messaging.wire_types import (
    CURSOR_TAG_BYTES,
)

_STREAM_ID = re.compile(r"^[0-9]{1,20}-[0-9]{1,20}$")


@dataclass(frozen=True, slots=True)
class QueueLimits:
    quota: int
    retention_ms: int
    remember_ms: int
    """How long a queued item is remembered at most for idempotent enqueue: as long as its
    sender's pending claim (two idempotency windows)."""
    share: int
    """How many message events of one sender a queue may hold (server events: none)."""


@dataclass(frozen=True, slots=True)
class QueueItem:
    """One event for one device. ``item`` identifies it for idempotency within the queue; an
    empty ``item`` queues the event without that check (a receipt: sent once per ack)."""

    device: str
    item: str
    fields: dict[str, str]

    @property
    def sender(self) -> str:
        """Whose share of the queue a message event counts against ('' for a server event)."""
        return self.fields.get("s", "") if self.fields.get("t") == "m" else ""


@dataclass(frozen=True, slots=True)
class Enqueued:
    device: str
    status: Enqueue
    stream_id: str


@dataclass(frozen=True, slots=True)
class AckedMessage:
    sender: str
    message_id: str
    shared: bool = True
    """Its ciphertext is a shared payload, to release on ack (unknown: released, a no-op)."""


@dataclass(frozen=True, slots=True)
class Batch:
    events: list[str]
    """Wire events, each as JSON text."""
    scanned: int
    """Queue entries read, skipped ones included: fewer than asked means the end was reached."""
    last: str | None
    """Stream id of the last entry read, even one skipped: where the next read starts."""
    messages: dict[str, AckedMessage]
    """Sender and id of each message event, by stream id: what an ack of it will need."""
    server_events: tuple[str, ...] = ()
    """Stream ids of the server's own events (receipts, notifications): acked without one."""


def _acked(fields: dict[str, str]) -> AckedMessage:
    """What acking a message event must know: its sender and id, and whether the ciphertext
    is a shared payload (not held in the entry itself)."""
    return AckedMessage(fields["s"], fields["i"], "p" not in fields)


def message_item(sender: str, message_id: str) -> str:
    return f"m:{sender}:{message_id}"


def message_fields(
    sender: str, message_id: str, key: str, received_at: str, payload: str | None = None
) -> dict[str, str]:
    """A message event; ``payload`` inline when the message goes to this device alone."""
    fields = {"t": "m", "s": sender, "i": message_id, "k": key, "r": received_at}
    if payload is not None:
        fields["p"] = payload
    return fields


def server_event_fields(event: dict[str, Any]) -> dict[str, str]:
    return {"t": "e", "j": json.dumps(event, separators=(",", ":"), ensure_ascii=False)}


class Mailbox:
    def __init__(
        self, link: RedisLink, scripts: Scripts, limits: QueueLimits, cursor_key: bytes
    ) -> None:
        self._link = link
        self._scripts = scripts
        self.limits = limits
        self._cursor_key = cursor_key

    # --- cursors ------------------------------------------------------------------------------

    def _mac(self, device: str, stream_id: str) -> str:
        message = f"{device}\x00{stream_id}".encode()
        tag = crypto.keyed_hash(self._cursor_key, message, CURSOR_TAG_BYTES)
        return crypto.b64u_encode(tag)

    def cursor(self, device: str, stream_id: str) -> str:
        return f"{stream_id}.{self._mac(device, stream_id)}"

    def stream_id(self, device: str, cursor: str) -> str:
        stream_id, dot, mac = cursor.partition(".")
        if not dot or not _STREAM_ID.match(stream_id):
            raise InvalidRequest("a cursor is not in the form the server issues", field="cursor")
        if not hmac.compare_digest(mac, self._mac(device, stream_id)):
            raise ForeignCursor("this cursor was not issued for the calling device")
        return stream_id

    # --- writing ------------------------------------------------------------------------------

    async def enqueue(
        self, items: Sequence[QueueItem], also: Sequence[Call] = (), *, durable: bool = False
    ) -> list[Enqueued]:
        """Queue each item on its device, one script per device, all in one round trip (per
        node) with the commands ``also`` (which must not depend on the outcome). ``durable``:
        wait for the configured replicas (``RedisLink.run``)."""
        if not items and not also:
            return []
        results = await self._link.run([*self._enqueue_calls(items), *also], durable=durable)
        return [
            Enqueued(item.device, Enqueue(int(status)), text(stream_id))
            for item, (status, stream_id) in zip(items, results, strict=False)
        ]

    def _enqueue_calls(self, items: Sequence[QueueItem]) -> list[Call]:
        now = now_ms()
        limits = self.limits
        return [
            Call.of(
                self._scripts.enqueue,
                [
                    redis_keys.queue(item.device),
                    redis_keys.seen(item.device),
                    redis_keys.shares(item.device),
                ],
                [
                    item.item,
                    limits.quota,
                    limits.retention_ms,
                    now,
                    self._link.publish_command,
                    redis_keys.wake_channel(item.device),
                    limits.remember_ms,
                    limits.share if item.sender else 0,
                    item.sender,
                    *(value for pair in item.fields.items() for value in pair),
                ],
            )
            for item in items
        ]

    @staticmethod
    def forget(items: Sequence[QueueItem]) -> list[Call]:
        """The calls taking answered items out of their devices' idempotency index: the
        sender's record now answers a retry, and the index would only hold memory."""
        return [
            Call.command("ZREM", redis_keys.seen(item.device), item.item)
            for item in items
            if item.item
        ]

    async def withdraw(self, items: Sequence[QueueItem], enqueued: Sequence[Enqueued]) -> None:
        await self._link.run(
            [
                Call.of(
                    self._scripts.withdraw,
                    [
                        redis_keys.queue(item.device),
                        redis_keys.seen(item.device),
                        redis_keys.shares(item.device),
                    ],
                    [done.stream_id, item.item, item.sender],
                )
                for item, done in zip(items, enqueued, strict=True)
                if done.status is Enqueue.QUEUED
            ],
        )

    # --- reading ------------------------------------------------------------------------------

    async def read(self, device: str, after: str | None, limit: int) -> Batch:
        """Up to ``limit`` events after the stream id ``after``, oldest first, as wire events."""
        start = "-" if after is None else f"({after}"
        (entries,) = await self._link.run(
            [Call.command("XRANGE", redis_keys.queue(device), start, "+", "COUNT", limit)]
        )
        if not entries:
            return Batch([], 0, after, {})
        decoded = [(text(sid or ""), fields_text(fields or {})) for sid, fields in entries]
        payload_keys = list(
            dict.fromkeys(
                redis_keys.payload(f["s"], f["i"])
                for _, f in decoded
                if f.get("t") == "m" and "p" not in f
            )
        )
        payloads: dict[str, str] = {}
        if payload_keys:
            raw = await self._link.run([Call.command("HGET", key, "e") for key in payload_keys])
            payloads = {k: text(v) for k, v in zip(payload_keys, raw, strict=True) if v}
        # Events are assembled as JSON text around the stored payload, which is already JSON:
        # parsing and re-serialising every envelope would be the costliest step of a read.
        # Every spliced value is server-made or validated base64url, so needs no escaping.
        events: list[str] = []
        messages: dict[str, AckedMessage] = {}
        server_events: list[str] = []
        for stream_id, fields in decoded:
            cursor = self.cursor(device, stream_id)
            if fields.get("t") == "m":
                envelope = fields.get("p") or payloads.get(
                    redis_keys.payload(fields["s"], fields["i"])
                )
                if envelope is None:
                    # Payload past its retention: the queue entry goes with the next trim.
                    continue
                events.append(
                    f'{{"type":"message","cursor":"{cursor}","envelope":{envelope},'
                    f'"key":"{fields["k"]}","received_at":"{fields["r"]}"}}'
                )
                messages[stream_id] = _acked(fields)
            else:
                events.append(f'{fields["j"][:-1]},"cursor":"{cursor}"}}')
                server_events.append(stream_id)
        return Batch(events, len(decoded), decoded[-1][0], messages, tuple(server_events))

    async def queued_messages(
        self, device: str, stream_ids: Sequence[str]
    ) -> dict[str, AckedMessage]:
        """The message events among ``stream_ids`` still in the device's queue, by stream id:
        what acking them must send receipts for and release."""
        unique = list(dict.fromkeys(stream_ids))
        queue = redis_keys.queue(device)
        raw = await self._link.run(
            [Call.command("XRANGE", queue, stream_id, stream_id) for stream_id in unique]
        )
        found: dict[str, AckedMessage] = {}
        for stream_id, entries in zip(unique, raw, strict=True):
            if not entries:
                continue  # acked already, or past the retention
            fields = fields_text(entries[0][1] or {})
            if fields.get("t") == "m":
                found[stream_id] = _acked(fields)
        return found

    async def ack(
        self,
        device: str,
        stream_ids: Sequence[str],
        queue: Sequence[QueueItem] = (),
        also: Sequence[Call] = (),
    ) -> int:
        """Queue ``queue``, run ``also``, then delete the events, in one round trip: on one
        server the deletion runs only once what comes before it did, so an ack that fails
        midway leaves its events queued, to be acked again. Returns how many message events
        this call deleted (acking again deletes none)."""
        unique = list(dict.fromkeys(stream_ids))
        ack = Call.of(
            self._scripts.ack, [redis_keys.queue(device), redis_keys.shares(device)], unique
        )
        *_, deleted = await self._link.run([*self._enqueue_calls(queue), *also, ack])
        return int(deleted)
