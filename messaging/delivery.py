"""Accepting an envelope (DESIGN §5–§6) and emitting server-signed events.

A 202 is answered only once the message is in every recipient device's queue. Each step is
idempotent, so a retry by the client (or after a crash between steps) never duplicates: the
sender's idempotency record is claimed (pending) with the payload in one script, each device's
enqueue is idempotent per (device, message) through the device's index, then the record is
marked answered and only then are the index entries dropped. What stays once every device has
acked is the record alone (``messaging.idempotency``), for the idempotency window.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from messaging import crypto
from messaging.auth import Caller
from messaging.blobs import Blobs
from messaging.directory import Directory, StoredDevice
from messaging.directory_privacy import PatientPrivacy
from messaging.errors import (
    BadSignature,
    QueueFull,
    SenderMismatch,
    SenderShareExceeded,
    StaleDevices,
)
from messaging.idempotency import DIGEST_BYTES, SentRecords
from messaging.mailbox import (
    AckedMessage,
    Enqueued,
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
    SkippedDevice,
)
from messaging.rate_limits import Budget, RateLimits
from messaging.redis_link import RedisLink
from messaging.scripts import Call, Claim, Enqueue
from messaging.timeutil import now_ms, rfc3339

log = logging.getLogger(__name__)

_REFUSED = frozenset({Enqueue.FULL, Enqueue.SHARE})
_CODES: dict[Enqueue, Literal["queue_full", "sender_share_exceeded"]] = {
    Enqueue.FULL: "queue_full",
    Enqueue.SHARE: "sender_share_exceeded",
}


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


def _warn_if_failed(message_id: str) -> Callable[[list[Any] | BaseException], bool]:
    """A check for writes sent without waiting: True (and a warning) when they failed. Only
    memory is at stake: the device index forgets its entries after two windows anyway."""

    def failed(replies: list[Any] | BaseException) -> bool:
        error = replies if isinstance(replies, BaseException) else None
        if isinstance(replies, list):
            error = next((r for r in replies if isinstance(r, Exception)), None)
        if error is not None:
            log.warning("message %s: settling write failed: %s", message_id, error)
        return error is not None

    return failed


@dataclass(frozen=True, slots=True)
class Acknowledged:
    """What an acknowledgement did: message events acked, receipts queued for their senders."""

    messages: int
    receipts: int


class Delivery:
    def __init__(
        self,
        link: RedisLink,
        records: SentRecords,
        directory: Directory,
        mailbox: Mailbox,
        events: ServerEvents,
        linker: DossierLinker,
        privacy: PatientPrivacy,
        limits: RateLimits,
        blobs: Blobs,
    ) -> None:
        self._link = link
        self._records = records
        self._directory = directory
        self._mailbox = mailbox
        self._events = events
        self._linker = linker
        self._privacy = privacy
        self._limits = limits
        self._blobs = blobs

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

        await self._privacy.require_addressable(caller.principal, envelope.recipients)
        devices = await self._directory.reachable_devices(envelope.recipients)
        self._check_wraps(envelope, set(devices), set(sender_devices) - {caller.device})
        if envelope.blobs:
            # Before anything is queued, so that no device gets a message whose blobs it may
            # not read yet. A send refused later leaves readers who hold no key to the blob.
            readers = [device for device in envelope.keys if device != DOSSIER_KEY]
            bind = self._blobs.bind(caller.principal, envelope.blobs, readers)
            (bound,) = await self._link.run([bind], durable=True)
            self._blobs.check_bound(bound, envelope.blobs)

        # Ed25519 signatures are deterministic: one signature is one signed content, so the
        # signature and the key wraps identify the envelope without re-serialising all of it.
        digest = crypto.digest(
            envelope.signature.encode() + crypto.canonical_json(envelope.keys), DIGEST_BYTES
        )
        payload = json.dumps(
            {k: v for k, v in raw.items() if k != "keys"}, separators=(",", ":"), ensure_ascii=False
        )
        targets = [
            (device, wrap) for device, wrap in envelope.keys.items() if device != DOSSIER_KEY
        ]
        # The ciphertext is stored once: in the queue entry itself when a single device gets the
        # message (which saves its reader a round trip), else in one shared payload.
        inline = len(targets) == 1
        claimed = await self._records.claim(
            caller.principal,
            envelope.id,
            digest,
            None if inline else payload,
            [device for device, _ in targets],
            self._limits.check_of(Budget.SEND, caller.device),
        )
        answer = AcceptedResponse(
            id=envelope.id, accepted_at=rfc3339(claimed.accepted_ms), dossier=claimed.dossier
        )
        if claimed.answered:
            if self._link.waits_for_replicas:
                # The first attempt may have answered and then missed its replicas: this
                # answer too waits for them (answer.lua writes the record again).
                await self._link.run(
                    [self._records.answer(caller.principal, envelope.id, claimed.dossier)],
                    durable=True,
                )
            return answer
        if envelope.dossier is not None:
            # MS-3, RD-11: every recipient counts, organisations member by member, with a device
            # or without one.
            records = await self._directory.principals(envelope.recipients)
            people = {owner for r in records.values() for owner in r.device_owners()}
            try:
                await self._linker.check_exchange(caller.principal, envelope.dossier, people)
            except Exception:
                if claimed.status is Claim.NEW:  # a first attempt: nothing of it is queued
                    await self._records.forget(caller.principal, envelope.id)
                raise

        item = message_item(caller.principal, envelope.id)
        items = [
            QueueItem(
                device,
                item,
                message_fields(
                    caller.principal,
                    envelope.id,
                    wrap,
                    answer.accepted_at,
                    payload if inline else None,
                ),
            )
            for device, wrap in targets
        ]
        enqueued = await self._mailbox.enqueue(items, durable=True)
        refused = {done.device: done.status for done in enqueued if done.status in _REFUSED}
        if refused:
            answer = await self._refused(
                caller, envelope, items, enqueued, refused, devices, answer
            )

        if envelope.dossier is None:
            # Every device that could take it has it: the 202 can go. Marking the record
            # answered only spares a retry the enqueues (a pending record still answers a retry
            # alike, deduplicated by the devices' index), so it rides in a later batch, and the
            # index entries go once the mark is in.
            self._settle(caller.principal, envelope.id, items, None)
            return answer
        # The outcome of the attachment is part of the answer: a retry must find it stored.
        dossier = await self._linker.attach(caller.principal, raw, envelope.dossier)
        if envelope.blobs and dossier.status == "attached" and dossier.document is not None:
            await self._blobs.keep_with_document(
                caller.principal, envelope.blobs, envelope.dossier.ins, dossier.document
            )
        await self._link.run(
            [self._records.answer(caller.principal, envelope.id, dossier)], durable=True
        )
        self._link.run_later(self._mailbox.forget(items), then=_warn_if_failed(envelope.id))
        return answer.model_copy(update={"dossier": dossier})

    async def _refused(
        self,
        caller: Caller,
        envelope: Envelope,
        items: list[QueueItem],
        enqueued: list[Enqueued],
        refused: Mapping[str, Enqueue],
        devices: Mapping[str, StoredDevice],
        answer: AcceptedResponse,
    ) -> AcceptedResponse:
        """A recipient named in the envelope whose device refused the message fails the whole
        send (nothing queued anywhere); a device reached only through an organisation (or the
        sender's own) is skipped, named in the answer, so that one member's full queue never
        blocks the organisation."""
        blocking = sorted(
            device
            for device in refused
            if device in devices and devices[device].owner in envelope.recipients
        )
        if not blocking:
            skipped = [SkippedDevice(device=d, code=_CODES[s]) for d, s in sorted(refused.items())]
            return answer.model_copy(update={"skipped": skipped})
        await self._mailbox.withdraw(items, enqueued)
        await self._records.forget(caller.principal, envelope.id)
        if any(refused[device] is Enqueue.FULL for device in blocking):
            raise QueueFull(
                "a recipient device has too many unacknowledged events; nothing was sent",
                devices=blocking,
            )
        raise SenderShareExceeded(
            "your messages fill your share of a recipient device's queue; nothing was sent",
            devices=blocking,
        )

    def _settle(
        self, sender: str, message_id: str, items: list[QueueItem], dossier: DossierOutcome | None
    ) -> None:
        forget = self._mailbox.forget(items)
        warn = _warn_if_failed(message_id)

        def answered(replies: list[Any] | BaseException) -> None:
            # A failed mark leaves the record pending and the index entries in place: a retry
            # is still answered alike, only memory is held until the index forgets them.
            if not warn(replies) and isinstance(replies, list) and int(replies[0]):
                self._link.run_later(forget, then=warn)

        self._link.run_later(
            [self._records.answer(sender, message_id, dossier)], then=answered, durable=True
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
        known: Mapping[str, AckedMessage | None] | None = None,
    ) -> Acknowledged:
        """Delete acked events; for each acked message, a delivery receipt to its sender and
        the release of its shared payload, in the same round trip as the deletion and before
        it: an ack that fails midway is acked again whole, so a receipt may come twice but
        none is lost.

        ``known`` says which message each event is (None: a server event, no receipt) when the
        caller remembers it: a socket keeps what it delivered and has not seen acked. The
        others are read from the queue first, and an event no longer queued (acked already)
        gets no second receipt.
        """
        unique = list(dict.fromkeys(stream_ids))
        remembered = known or {}
        unknown = [s for s in unique if s not in remembered]
        read = await self._mailbox.queued_messages(caller.device, unknown) if unknown else {}
        acked = [
            message
            for s in unique
            if (message := remembered[s] if s in remembered else read.get(s)) is not None
        ]
        receipts = await self._receipts(caller, acked)
        deleted = await self._mailbox.ack(
            caller.device, unique, receipts, self._releases(caller, acked)
        )
        return Acknowledged(deleted, len(receipts))

    def _releases(self, caller: Caller, acked: list[AckedMessage]) -> list[Call]:
        # Releasing twice is harmless: the device is simply no longer among the holders.
        return [
            self._records.release(message.sender, message.message_id, [caller.device])
            for message in acked
            if message.shared
        ]

    async def _receipts(self, caller: Caller, acked: list[AckedMessage]) -> list[QueueItem]:
        # No receipt for a copy on the sender's own other device.
        acked = [a for a in acked if a.sender != caller.principal]
        if not acked:
            return []
        senders = await self._directory.devices({a.sender for a in acked})
        at = rfc3339(now_ms())
        items: list[QueueItem] = []
        for message in acked:
            # Every value is the server's own or was validated on the way in: a Receipt's
            # fields, built without validating them again (a tenth of an ack's work).
            receipt: dict[str, Any] = {
                "message_id": message.message_id,
                "recipient": caller.principal,
                "device": caller.device,
                "status": "delivered",
                "at": at,
            }
            items += self._events.items(
                senders.get(message.sender, {}),
                "receipt",
                receipt,
                "",  # one receipt per ack that deleted the event: nothing to deduplicate
            )
        return items
