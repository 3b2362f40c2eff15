"""What the SDK hands back: send results and verified events, each with ``as_dict()``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from messaging import models
from messaging.client.content import Attachment, BlobAttachment, attachments_wire


@dataclass(frozen=True, slots=True)
class SendResult:
    """What the server answered to a send: the message ``id``, when it was accepted, and,
    for a dossier-linked message, the ``dossier`` outcome (``status`` attached or refused,
    with the refusal's ``code``)."""

    id: str
    accepted_at: str
    dossier: models.DossierOutcome | None

    def as_dict(self) -> dict[str, Any]:
        """The result as a JSON document (what ``liaison send --json`` prints)."""
        outcome = None if self.dossier is None else self.dossier.model_dump(exclude_none=True)
        return {"id": self.id, "accepted_at": self.accepted_at, "dossier": outcome}


@dataclass(frozen=True, slots=True)
class _Delivered:
    """What the signed envelope of a delivered message says, readable or not."""

    cursor: str
    id: str
    sender: str
    sender_device: str
    recipients: tuple[str, ...]
    created_at: str
    received_at: str
    dossier: models.DossierHeader | None

    def _envelope_dict(self, kind: str) -> dict[str, Any]:
        return {
            "type": kind,
            "cursor": self.cursor,
            "id": self.id,
            "sender": self.sender,
            "sender_device": self.sender_device,
            "recipients": list(self.recipients),
            "created_at": self.created_at,
            "received_at": self.received_at,
            "dossier": None if self.dossier is None else self.dossier.model_dump(exclude_none=True),
        }


@dataclass(frozen=True, slots=True)
class ReceivedMessage(_Delivered):
    """A message verified (its sender device's signature) and decrypted: the envelope's
    ``id``, ``sender``, ``sender_device``, ``recipients``, times and ``dossier`` header, the
    content's ``subject``, ``body``, ``attachments`` and ``in_reply_to``. Ack its ``cursor``
    once handled."""

    subject: str
    body: str
    attachments: tuple[Attachment, ...]
    in_reply_to: str | None
    extra: Mapping[str, Any] = field(default_factory=dict, hash=False)
    """Plaintext members this version does not know (``MessageContent.extra``)."""
    blobs: tuple[BlobAttachment, ...] = ()
    """Attachments sent as blobs: ``LiaisonClient.blobs.download`` fetches and checks one."""

    def as_dict(self) -> dict[str, Any]:
        """The message as a JSON document (inline attachments in base64url; blobs
        named, without their key)."""
        # A blob's key and digest stay out: this is what a caller prints or logs.
        blobs = [
            {"name": b.name, "media_type": b.media_type, "blob": b.blob.id, "size": b.blob.size}
            for b in self.blobs
        ]
        return {
            **self._envelope_dict("message"),
            "subject": self.subject,
            "body": self.body,
            "attachments": attachments_wire(self.attachments),
            "blobs": blobs,
            "in_reply_to": self.in_reply_to,
            "extra": dict(self.extra),
        }


@dataclass(frozen=True, slots=True)
class UnreadableMessage(_Delivered):
    """A message its sender really sent (the signature verified) whose content cannot be read:
    ``code`` is ``malformed_content`` or ``undecryptable``. Shown with its sender and id, and
    acked like any message by the CLI: one bad message must never block a queue (DESIGN §5)."""

    code: str
    detail: str

    def as_dict(self) -> dict[str, Any]:
        """The unreadable message as a JSON document, with its ``code`` and ``detail``."""
        return {**self._envelope_dict("unreadable"), "code": self.code, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class ReceivedReceipt:
    """A delivery receipt signed by the server: ``recipient``'s ``device`` acked
    ``message_id`` (``status``) at ``at``. Ack its ``cursor`` like any event."""

    cursor: str
    message_id: str
    recipient: str
    device: str
    status: str
    at: str

    def as_dict(self) -> dict[str, Any]:
        """The receipt as a JSON document."""
        return {
            "type": "receipt",
            "cursor": self.cursor,
            "message_id": self.message_id,
            "recipient": self.recipient,
            "device": self.device,
            "status": self.status,
            "at": self.at,
        }


@dataclass(frozen=True, slots=True)
class ReceivedNotification:
    """A dossier notification signed by the server: its ``event`` name (``dossier.…``) and
    the whole ``notification``. Ack its ``cursor`` like any event."""

    cursor: str
    event: str
    notification: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        """The notification as a JSON document."""
        return {"type": "notification", "cursor": self.cursor, "notification": self.notification}


@dataclass(frozen=True, slots=True)
class InvalidEvent:
    """An event that failed verification. Not acked by the SDK: the caller decides."""

    cursor: str | None
    event_type: str | None
    code: str
    detail: str
    raw: dict[str, Any] = field(repr=False)

    def as_dict(self) -> dict[str, Any]:
        """The invalid event as a JSON document (without the raw event)."""
        return {
            "type": "invalid",
            "cursor": self.cursor,
            "event_type": self.event_type,
            "code": self.code,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class BacklogDrained:
    """Stream marker: every event queued before the connection has been delivered."""

    def as_dict(self) -> dict[str, Any]:
        """The marker as the server's ``queue_empty`` frame."""
        return {"type": "queue_empty"}


ReceivedEvent = (
    ReceivedMessage | UnreadableMessage | ReceivedReceipt | ReceivedNotification | InvalidEvent
)
"""What ``fetch`` hands over: a verified event, or an ``InvalidEvent`` saying why not."""
StreamItem = ReceivedEvent | BacklogDrained
"""What ``stream`` yields: the events of ``ReceivedEvent`` and the ``BacklogDrained`` marker."""


@dataclass(frozen=True, slots=True)
class FetchResult:
    """One page of ``fetch``: the verified ``events`` (none acked yet) and ``next``."""

    events: list[ReceivedEvent]
    next: str | None
    """Pass as ``after`` to read on: may be past the last event (skipped entries)."""
