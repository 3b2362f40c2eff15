"""Receiving: fetch and verify events, ack them, and drop redelivered duplicates.

An event that fails a check is handed over as an ``InvalidEvent`` and not acked here (see the
package docstring). Duplicates are recognised by ``(sender, message id)`` among the messages this
client has acked; one handed over but not acked is shown again.
"""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

import aiohttp
from pydantic import ValidationError

from dossier_link.log_models import LogCheckpoint
from messaging import crypto, models
from messaging.client.checkpoints import CheckpointStore
from messaging.client.content import SignedEnvelope
from messaging.client.errors import (
    SdkError,
    UnreadableContent,
    VerificationError,
    validation_detail,
)
from messaging.client.events import (
    FetchResult,
    InvalidEvent,
    ReceivedEvent,
    ReceivedMessage,
    ReceivedNotification,
    ReceivedReceipt,
    UnreadableMessage,
)
from messaging.client.identity import DeviceIdentity
from messaging.client.session import DeviceSession

ACK_BATCH: Final = 500
"""Cursors per ack request (or socket frame): a larger ``ack`` is sent in batches."""
SEEN_LIMIT: Final = 10_000
"""Acked messages remembered to drop their redeliveries (the oldest are forgotten)."""


@dataclass(frozen=True, slots=True)
class Duplicate:
    """A message this client acked already, delivered again: acked again, never shown."""

    cursor: str


class Receiver(DeviceSession):
    """Events for this device, verified, with the acks that delete them from its queue."""

    def __init__(
        self,
        base_url: str,
        identity: DeviceIdentity,
        *,
        session: aiohttp.ClientSession | None = None,
        checkpoints: CheckpointStore | None = None,
    ) -> None:
        super().__init__(base_url, identity, session=session, checkpoints=checkpoints)
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._unacked: OrderedDict[str, str] = OrderedDict()
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._pending_acks: list[str] = []
        self._ack_flush: asyncio.Task[None] | None = None

    async def fetch(
        self, after: str | None = None, limit: int = 100, wait: float = 0
    ) -> FetchResult:
        """Read (and verify) up to ``limit`` events after ``after``, waiting up to ``wait``
        seconds for one to arrive. Nothing is acked: call ``ack`` with the cursors handled."""
        params = {"limit": str(limit), "wait": f"{wait:g}"}
        if after is not None:
            params["after"] = after
        answer = await self._authed("GET", "/v1/messages", params=params)
        if not isinstance(answer, dict) or not isinstance(answer.get("events"), list):
            raise SdkError("bad_response", "the events answer is not {events, next}")
        events: list[ReceivedEvent] = []
        duplicates: list[str] = []
        for raw in answer["events"]:
            event = await self._verify_event(raw)
            if isinstance(event, Duplicate):
                duplicates.append(event.cursor)
            else:
                events.append(event)
        if duplicates:
            await self.ack(duplicates)
        following = answer.get("next")
        return FetchResult(events, following if isinstance(following, str) else None)

    async def ack(self, cursors: Iterable[str]) -> None:
        """Delete handled events from this device's queue (over the stream when one is open)."""
        batch = list(dict.fromkeys(cursors))
        for start in range(0, len(batch), ACK_BATCH):
            chunk = batch[start : start + ACK_BATCH]
            if not await self._ack_over_socket(chunk):
                await self._authed("POST", "/v1/messages/ack", body={"cursors": chunk})
        for cursor in batch:
            message = self._unacked.pop(cursor, None)
            if message is not None:
                self._seen[message] = None
                self._seen.move_to_end(message)
                while len(self._seen) > SEEN_LIMIT:
                    self._seen.popitem(last=False)

    async def _ack_over_socket(self, cursors: list[str]) -> bool:
        """Queue the acks for the socket; they leave together once this loop turn is over.

        Acks over the socket are unconfirmed either way (an ack lost with the socket only means
        the event comes again and is dropped as a duplicate), so the acks of one burst of events
        share a frame: one ack script and one receipt round trip on the server for all of them.
        """
        ws = self._ws
        if ws is None or ws.closed:
            return False
        self._pending_acks.extend(cursors)
        if self._ack_flush is None:
            self._ack_flush = asyncio.get_running_loop().create_task(self._flush_acks(ws))
        return True

    async def _flush_acks(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        await asyncio.sleep(0)
        try:
            while self._pending_acks and not ws.closed:
                chunk = self._pending_acks[:ACK_BATCH]
                del self._pending_acks[:ACK_BATCH]
                await ws.send_str(json.dumps({"type": "ack", "cursors": chunk}))
        except (aiohttp.ClientError, ConnectionError):
            pass  # the events come again on the next connection
        finally:
            self._pending_acks.clear()
            self._ack_flush = None

    # verification

    async def _verify_event(self, raw: Any) -> ReceivedEvent | Duplicate:
        if not isinstance(raw, dict):
            return InvalidEvent(None, None, "malformed_event", "an event is not an object", {})
        cursor = raw.get("cursor") if isinstance(raw.get("cursor"), str) else None
        kind = raw.get("type") if isinstance(raw.get("type"), str) else None
        try:
            if kind == "message":
                return await self._verify_message(raw)
            if kind == "receipt":
                return await self._verify_receipt(raw)
            if kind == "notification":
                return await self._verify_notification(raw)
            raise VerificationError("unknown_event_type", f"unknown event type {kind!r}")
        except ValidationError as exc:
            return InvalidEvent(cursor, kind, "malformed_event", validation_detail(exc), raw)
        except VerificationError as exc:
            return InvalidEvent(cursor, kind, exc.code, exc.detail, raw)

    async def _verify_message(
        self, raw: dict[str, Any]
    ) -> ReceivedMessage | UnreadableMessage | Duplicate:
        event = models.MessageEvent.model_validate(raw)
        envelope = SignedEnvelope.model_validate(event.envelope)
        seen_key = f"{envelope.sender}/{envelope.id}"
        if seen_key in self._seen:
            return Duplicate(event.cursor)
        try:
            content = await self._open_signed(
                event.envelope, envelope, event.key, event.received_at
            )
        except UnreadableContent as exc:
            # Really sent by its sender, only unreadable: a message like another (acked, and
            # recognised when delivered again), shown with what it failed on.
            delivered = self._delivered(event, envelope, seen_key)
            return UnreadableMessage(*delivered, code=exc.code, detail=exc.detail)
        delivered = self._delivered(event, envelope, seen_key)
        unbound = {b.blob.id for b in content.blobs} - set(envelope.blobs or ())
        if unbound:
            # The server let this message's devices read only the blobs its envelope names.
            detail = f"the content names blobs the envelope does not: {sorted(unbound)}"
            return UnreadableMessage(*delivered, code="malformed_content", detail=detail)
        return ReceivedMessage(
            *delivered,
            subject=content.subject,
            body=content.body,
            attachments=content.attachments,
            in_reply_to=content.in_reply_to,
            extra=content.extra,
            blobs=content.blobs,
        )

    def _delivered(
        self, event: models.MessageEvent, envelope: SignedEnvelope, seen_key: str
    ) -> tuple[str, str, str, str, tuple[str, ...], str, str, models.DossierHeader | None]:
        """Remember the message as handed over (for dedupe once acked); its envelope's fields."""
        self._unacked[event.cursor] = seen_key
        while len(self._unacked) > SEEN_LIMIT:
            self._unacked.popitem(last=False)
        return (
            event.cursor,
            envelope.id,
            envelope.sender,
            envelope.sender_device,
            tuple(envelope.recipients),
            envelope.created_at,
            event.received_at,
            envelope.dossier,
        )

    async def _verify_receipt(self, raw: dict[str, Any]) -> ReceivedReceipt:
        event = models.ReceiptEvent.model_validate(raw)
        await self._verify_server_signature(raw["receipt"], event.signature)
        receipt = event.receipt
        return ReceivedReceipt(
            event.cursor,
            receipt.message_id,
            receipt.recipient,
            receipt.device,
            receipt.status,
            receipt.at,
        )

    async def _verify_notification(self, raw: dict[str, Any]) -> ReceivedNotification:
        event = models.NotificationEvent.model_validate(raw)
        await self._verify_server_signature(raw["notification"], event.signature)
        name = event.notification.get("event")
        if not isinstance(name, str):
            raise VerificationError("malformed_event", "a notification names no event")
        if "checkpoint" in event.notification:
            await self._keep_checkpoint(event.notification)
        return ReceivedNotification(event.cursor, name, dict(event.notification))

    async def _keep_checkpoint(self, notification: dict[str, Any]) -> None:
        """A dossier notification carries the log's checkpoint after its entry: keep it, so
        that the next read of that log is checked against it."""
        checkpoint = LogCheckpoint.model_validate(notification["checkpoint"])
        if checkpoint.ins != notification.get("ins"):
            raise VerificationError(
                "checkpoint_other_dossier",
                f"a notification about {notification.get('ins')} carries a checkpoint of "
                f"{checkpoint.ins}",
            )
        server_key = await self.server_key()
        try:
            checkpoint.verify(server_key)
        except crypto.CryptoError as exc:
            raise VerificationError(
                "checkpoint_forged",
                f"the checkpoint of seq {checkpoint.seq} is not signed by the server key",
            ) from exc
        if not self.checkpoints.add(checkpoint, crypto.b64u_encode(server_key)):
            raise VerificationError(
                "checkpoint_conflict",
                f"the server signed two different logs of {checkpoint.ins} at seq "
                f"{checkpoint.seq}; both checkpoints are kept",
            )
