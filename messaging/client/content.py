"""Message content and envelopes (DESIGN §5): encrypt, wrap, sign, and open again."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from messaging import crypto, models
from messaging.client.errors import VerificationError, validation_detail


class Attachment(NamedTuple):
    name: str
    media_type: str
    data: bytes


class _AttachmentWire(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    name: str
    media_type: str
    data: models.B64u


class _ContentWire(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    subject: str
    body: str
    attachments: list[_AttachmentWire] = Field(default_factory=list)
    in_reply_to: str | None = None


@dataclass(frozen=True, slots=True)
class MessageContent:
    """The plaintext of a message (DESIGN §5): only the sender and the recipients read it."""

    subject: str
    body: str
    attachments: tuple[Attachment, ...] = ()
    in_reply_to: str | None = None

    def plaintext(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "subject": self.subject,
            "body": self.body,
            "attachments": attachments_wire(self.attachments),
        }
        if self.in_reply_to is not None:
            document["in_reply_to"] = self.in_reply_to
        return document

    @classmethod
    def from_plaintext(cls, plaintext: Mapping[str, Any]) -> MessageContent:
        wire = _ContentWire.model_validate(plaintext)
        attachments = tuple(
            Attachment(a.name, a.media_type, crypto.b64u_decode(a.data)) for a in wire.attachments
        )
        return cls(wire.subject, wire.body, attachments, wire.in_reply_to)


def attachments_wire(attachments: Sequence[Attachment]) -> list[dict[str, str]]:
    return [
        {"name": a.name, "media_type": a.media_type, "data": crypto.b64u_encode(a.data)}
        for a in attachments
    ]


class SignedEnvelope(models.WireModel):
    """An envelope as a recipient gets it: without ``keys`` (DESIGN §5)."""

    v: Literal[1]
    id: models.MessageId
    sender: models.PrincipalId
    sender_device: models.DeviceId
    recipients: list[models.PrincipalId] = Field(min_length=1, max_length=100)
    created_at: models.Timestamp
    dossier: models.DossierHeader | None = None
    nonce: models.Nonce
    ciphertext: models.B64u
    signature: models.Signature


def build_envelope(
    *,
    message_id: str,
    sender: str,
    sender_device: str,
    sign_key: crypto.SigningKey,
    recipients: Sequence[str],
    created_at: str,
    content: MessageContent,
    box_keys: Mapping[str, bytes],
    dossier: models.DossierHeader | None = None,
    dossier_key: bytes | None = None,
) -> dict[str, Any]:
    """Encrypt ``content`` under a fresh content key, wrap that key for every device of
    ``box_keys`` (device id -> X25519 public key) and for the dossier store, and sign."""
    if (dossier is None) != (dossier_key is None):
        raise ValueError("a dossier header needs the dossier key, and only then")
    content_key = crypto.random_bytes(crypto.KEY_BYTES)
    sealed = crypto.encrypt_content(
        content.plaintext(), message_id, content_key, crypto.random_bytes(crypto.NONCE_BYTES)
    )
    envelope: dict[str, Any] = {
        "v": 1,
        "id": message_id,
        "sender": sender,
        "sender_device": sender_device,
        "recipients": list(recipients),
        "created_at": created_at,
        "dossier": None if dossier is None else dossier.model_dump(exclude_none=True),
        "nonce": crypto.b64u_encode(sealed.nonce),
        "ciphertext": crypto.b64u_encode(sealed.ciphertext),
    }
    keys = {
        device: crypto.b64u_encode(crypto.seal(content_key, box_key))
        for device, box_key in box_keys.items()
    }
    if dossier_key is not None:
        keys[models.DOSSIER_KEY] = crypto.b64u_encode(crypto.seal(content_key, dossier_key))
    envelope["signature"] = crypto.sign_envelope(envelope, sign_key)
    envelope["keys"] = keys
    return envelope


def open_content(envelope: Mapping[str, Any], wrap: bytes, box: crypto.BoxKey) -> MessageContent:
    """Open this device's key ``wrap`` and decrypt the envelope's content. The signature is
    not checked here: do it first with ``crypto.verify_envelope``. Raises ``crypto.CryptoError``
    or ``VerificationError``."""
    content_key = box.open(wrap)
    plaintext = crypto.decrypt_content(
        crypto.b64u_decode(str(envelope["ciphertext"])),
        str(envelope["id"]),
        content_key,
        crypto.b64u_decode(str(envelope["nonce"])),
    )
    try:
        return MessageContent.from_plaintext(plaintext)
    except ValidationError as exc:
        raise VerificationError("malformed_content", validation_detail(exc)) from exc
