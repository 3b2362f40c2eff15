"""Accepting an envelope (DESIGN §5–§6) and emitting server-signed events.

A 202 is answered only once the message is in every recipient device's queue. Each step is
idempotent, so a retry by the client (or after a crash between steps) never duplicates:
the sender's idempotency record is claimed with the payload in one script, each device's enqueue
is idempotent per (device, message), and the answer is stored last.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from messaging import crypto, redis_keys
from messaging.auth import Caller
from messaging.directory import Directory
from messaging.errors import BadSignature, IdConflict, QueueFull, SenderMismatch, StaleDevices
from messaging.mailbox import (
    AckedMessage,
    Mailbox,
    QueueItem,
    message_fields,
    message_item,
    server_event_fields,
)
from messaging.models import (
    DOSSIER_KEY,
    AcceptedResponse,
    DossierHeader,
    DossierOutcome,
    Envelope,
    Receipt,
)
from messaging.redis_link import RedisLink
from messaging.redis_text import text
from messaging.scripts import Call, Claim, Enqueue, Scripts
from messaging.timeutil import now_ms, rfc3339


class DossierLinker(Protocol):
    """The dossier store's side of a dossier-linked message (``dossier_link.linker``)."""

    async def check_exchange(
        self, sender: str, header: DossierHeader, people: Iterable[str]
    ) -> None:
        """Raise if the holder opposed this exchange (MS-2): the message is refused whole."""

    async def attach(
        self, sender: str, envelope: Mapping[str, Any], header: DossierHeader
    ) -> DossierOutcome:
        """Attach the queued message to the dossier, or refuse the attachment only (W-1)."""
        ...


@dataclass(frozen=True, slots=True)
class ServerEvents:
    """Signs receipts and notifications with the server key and queues them."""

    mailbox: Mailbox
    sign_key: crypto.SigningKey

    def signed(self, kind: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "type": kind,
            kind: dict(body),
            "signature": crypto.sign_server_event(body, self.sign_key),
        }

    def items(
        self, devices: Iterable[str], kind: str, body: Mapping[str, Any], item: str
    ) -> list[QueueItem]:
        fields = server_event_fields(self.signed(kind, body))
        return [QueueItem(device, item, fields) for device in devices]

    async def emit(
        self, devices: Iterable[str], kind: str, body: Mapping[str, Any], item: str
    ) -> None:
        await self.mailbox.enqueue(self.items(devices, kind, body, item))


def _store_answer(sent: str, answer: str) -> Call:
    return Call.command("HSET", sent, "answer", answer)


@dataclass(frozen=True, slots=True)
class Acknowledged:
    """What an acknowledgement did: message events acked, receipts queued for their senders."""

    messages: int
    receipts: int


class Delivery:
    def __init__(
        self,
        link: RedisLink,
        scripts: Scripts,
        directory: Directory,
        mailbox: Mailbox,
        events: ServerEvents,
        linker: DossierLinker,
    ) -> None:
        self._link = link
        self._redis = link.client
        self._scripts = scripts
        self._directory = directory
        self._mailbox = mailbox
        self._events = events
        self._linker = linker

    async def accept(
        self, caller: Caller, envelope: Envelope, raw: Mapping[str, Any]
    ) -> AcceptedResponse:
        if envelope.sender != caller.principal or envelope.sender_device != caller.device:
            raise SenderMismatch(
                "sender and sender_device must be the authenticated principal and device"
            )
        sender_devices = (await self._directory.devices([caller.principal]))[caller.principal]
        own = sender_devices.get(caller.device)
        if own is None:
            raise SenderMismatch("the sending device is not active")
        try:
            crypto.verify_envelope(raw, crypto.b64u_decode(own.sign_key))
        except crypto.CryptoError as exc:
            raise BadSignature("the envelope signature does not verify") from exc

        devices = await self._directory.reachable_devices(envelope.recipients)
        self._check_wraps(envelope, set(devices), set(sender_devices) - {caller.device})

        received_at = rfc3339(now_ms())
        # Ed25519 signatures are deterministic: one signature is one signed content, so the
        # signature and the key wraps identify the envelope without re-serialising all of it.
        digest = crypto.digest(
            envelope.signature.encode() + crypto.canonical_json(envelope.keys)
        ).hex()
        payload = json.dumps(
            {k: v for k, v in raw.items() if k != "keys"}, separators=(",", ":"), ensure_ascii=False
        )
        targets = [
            (device, wrap) for device, wrap in envelope.keys.items() if device != DOSSIER_KEY
        ]
        # The ciphertext is stored once: in the queue entry itself when a single device gets the
        # message (which saves its reader a round trip), else in one shared payload key.
        inline = len(targets) == 1
        claim = await self._scripts.claim(
            keys=[
                redis_keys.sent(caller.principal, envelope.id),
                redis_keys.payload(caller.principal, envelope.id),
            ],
            args=[digest, "" if inline else payload, self._mailbox.limits.retention_ms],
        )
        status = Claim(int(claim[0]))
        if status is Claim.CONFLICT:
            raise IdConflict(f"message id {envelope.id} was already used for another envelope")
        sent = redis_keys.sent(caller.principal, envelope.id)
        if len(claim) > 1 and claim[1] is not None:
            if self._link.waits_for_replicas:
                # The first attempt may have stored its answer and then missed its replicas:
                # this answer too waits for them (claim.lua wrote the payload again).
                await self._link.run([_store_answer(sent, text(claim[1]))], durable=True)
            return AcceptedResponse.model_validate_json(claim[1])
        if envelope.dossier is not None:
            # MS-3, RD-11: every recipient counts, organisations member by member, with a device
            # or without one.
            records = await self._directory.principals(envelope.recipients)
            people = {owner for r in records.values() for owner in r.device_owners()}
            try:
                await self._linker.check_exchange(caller.principal, envelope.dossier, people)
            except Exception:
                if status is Claim.NEW:  # a first attempt: nothing of it is queued anywhere
                    await self._forget(caller.principal, envelope.id)
                raise

        item = message_item(caller.principal, envelope.id)
        items = [
            QueueItem(
                device,
                item,
                message_fields(
                    caller.principal, envelope.id, wrap, received_at, payload if inline else None
                ),
            )
            for device, wrap in targets
        ]
        answer = AcceptedResponse(id=envelope.id, accepted_at=received_at, dossier=None)
        # Without a dossier the answer is known now and travels with the enqueues, unless
        # replicas must confirm the enqueues first: a stored answer is what a retry gets.
        answer_now = envelope.dossier is None and not self._link.waits_for_replicas
        also = [_store_answer(sent, answer.model_dump_json())] if answer_now else []
        enqueued = await self._mailbox.enqueue(items, also, durable=True)
        full = [done.device for done in enqueued if done.status is Enqueue.FULL]
        if full:
            await self._mailbox.withdraw(items, enqueued)
            await self._forget(caller.principal, envelope.id)
            raise QueueFull(
                "a recipient device has too many unacknowledged events; nothing was sent",
                devices=full,
            )

        if envelope.dossier is not None:
            dossier = await self._linker.attach(caller.principal, raw, envelope.dossier)
            answer = answer.model_copy(update={"dossier": dossier})
        if not answer_now:
            await self._link.run([_store_answer(sent, answer.model_dump_json())], durable=True)
        return answer

    async def _forget(self, sender: str, message_id: str) -> None:
        """Drop a refused message's claim and payload, so a later send is judged afresh."""
        await self._redis.delete(
            redis_keys.sent(sender, message_id), redis_keys.payload(sender, message_id)
        )

    @staticmethod
    def _check_wraps(envelope: Envelope, expected: set[str], optional: set[str]) -> None:
        named = set(envelope.keys)
        if envelope.dossier is not None:
            expected = expected | {DOSSIER_KEY}
        missing = expected - named
        extra = named - expected - optional
        if missing or extra:
            raise StaleDevices(missing=list(missing), extra=list(extra))

    async def acknowledge(
        self,
        caller: Caller,
        stream_ids: list[str],
        known: Mapping[str, AckedMessage] | None = None,
    ) -> Acknowledged:
        """Delete acked events and send a delivery receipt per acked message to its sender.

        When ``known`` already says which message each event is (a socket remembers what it
        delivered), the receipts go in the same round trip as the ack; a receipt for an event
        that was acked before is a duplicate item, dropped by the enqueue script.
        """
        if known is not None and all(s in known for s in stream_ids):
            messages = [known[s] for s in stream_ids]
            receipts = await self._receipts(caller, messages)
            await self._mailbox.ack(caller.device, stream_ids, receipts)
            return Acknowledged(len(messages), len(receipts))
        acked = await self._mailbox.ack(caller.device, stream_ids)
        receipts = await self._receipts(caller, acked)
        await self._mailbox.enqueue(receipts)
        return Acknowledged(len(acked), len(receipts))

    async def _receipts(self, caller: Caller, acked: list[AckedMessage]) -> list[QueueItem]:
        # No receipt for a copy on the sender's own other device.
        acked = [a for a in acked if a.sender != caller.principal]
        if not acked:
            return []
        senders = await self._directory.devices({a.sender for a in acked})
        at = rfc3339(now_ms())
        items: list[QueueItem] = []
        for message in acked:
            receipt = Receipt(
                message_id=message.message_id,
                recipient=caller.principal,
                device=caller.device,
                status="delivered",
                at=at,
            )
            items += self._events.items(
                senders.get(message.sender, {}),
                "receipt",
                receipt.model_dump(),
                f"r:{message.message_id}:{caller.device}",
            )
        return items
