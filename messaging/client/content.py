"""Message content and envelopes (DESIGN §5): encrypt, wrap, sign, and open again."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from messaging import canonical, crypto, models, wire_types
from messaging.client.errors import SdkError, UnreadableContent, validation_detail


class Attachment(NamedTuple):
    """A file carried inside the encrypted content: its name and media type as the sender
    wrote them (sanitise the name before using it as a path), and its bytes."""

    name: str
    media_type: str
    data: bytes


@dataclass(frozen=True, slots=True)
class BlobReference:
    """What the encrypted plaintext says of a blob: enough to fetch, check and open it."""

    id: str
    size: int
    digest: bytes
    key: bytes

    def wire(self) -> dict[str, Any]:
        """As the plaintext carries it: ``{id, size, digest, key}``, binary values in b64u."""
        return {
            "id": self.id,
            "size": self.size,
            "digest": crypto.b64u_encode(self.digest),
            "key": crypto.b64u_encode(self.key),
        }


@dataclass(frozen=True, slots=True)
class BlobAttachment:
    """A file sent as a blob (``messaging.client.blobs``): downloaded on demand."""

    name: str
    media_type: str
    blob: BlobReference


# Reading only: recipients ignore the members they do not know, so that a later version can add
# some (DESIGN §5). The SDK itself writes the known members only (``MessageContent.plaintext``).
class _BlobWire(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, strict=True)

    id: wire_types.BlobId
    size: int = Field(ge=0)
    digest: wire_types.Key32
    key: wire_types.Key32


class _AttachmentWire(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, strict=True)

    name: str
    media_type: str
    data: wire_types.B64u | None = None
    blob: _BlobWire | None = None

    @model_validator(mode="after")
    def _one_of(self) -> _AttachmentWire:
        if (self.data is None) == (self.blob is None):
            raise ValueError("an attachment holds either data or a blob")
        return self


class _ContentWire(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True, strict=True)

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
    extra: Mapping[str, Any] = field(default_factory=dict, hash=False)
    """Members of a received plaintext that this version does not know: kept for the caller
    to look at, never interpreted, and never sent (``plaintext`` writes the known ones)."""
    blobs: tuple[BlobAttachment, ...] = ()
    """Attachments sent as blobs, after the inline ones in the plaintext."""

    def plaintext(self) -> dict[str, Any]:
        """The plaintext as the SDK encrypts it: the known members only."""
        blobs = [
            {"name": b.name, "media_type": b.media_type, "blob": b.blob.wire()} for b in self.blobs
        ]
        document: dict[str, Any] = {
            "subject": self.subject,
            "body": self.body,
            "attachments": attachments_wire(self.attachments) + blobs,
        }
        if self.in_reply_to is not None:
            document["in_reply_to"] = self.in_reply_to
        return document

    @classmethod
    def from_plaintext(cls, plaintext: Mapping[str, Any]) -> MessageContent:
        """A decrypted plaintext read leniently: unknown members are kept in ``extra``."""
        wire = _ContentWire.model_validate(plaintext)
        attachments = tuple(
            Attachment(a.name, a.media_type, crypto.b64u_decode(a.data))
            for a in wire.attachments
            if a.data is not None
        )
        blobs = tuple(
            BlobAttachment(
                a.name,
                a.media_type,
                BlobReference(
                    a.blob.id,
                    a.blob.size,
                    crypto.b64u_decode(a.blob.digest),
                    crypto.b64u_decode(a.blob.key),
                ),
            )
            for a in wire.attachments
            if a.blob is not None
        )
        extra = dict(wire.model_extra or {})
        return cls(wire.subject, wire.body, attachments, wire.in_reply_to, extra, blobs)


def attachments_wire(attachments: Sequence[Attachment]) -> list[dict[str, str]]:
    return [
        {"name": a.name, "media_type": a.media_type, "data": crypto.b64u_encode(a.data)}
        for a in attachments
    ]


class SignedEnvelope(models.WireModel):
    """An envelope as a recipient gets it: without ``keys`` (DESIGN §5)."""

    v: wire_types.Version
    id: wire_types.MessageId
    sender: wire_types.PrincipalId
    sender_device: wire_types.DeviceId
    recipients: list[wire_types.PrincipalId] = Field(min_length=1, max_length=100)
    created_at: wire_types.Timestamp
    dossier: models.DossierHeader | None = None
    blobs: list[wire_types.BlobId] | None = None
    nonce: wire_types.Nonce
    ciphertext: wire_types.B64u
    signature: wire_types.Signature


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
    ``box_keys`` (device id -> X25519 public key) and for the dossier store, and sign.
    A value with no canonical form (a string with an unpaired surrogate: an emoji cut in half)
    is refused here with ``invalid_content``, before anything is sent."""
    if (dossier is None) != (dossier_key is None):
        raise ValueError("a dossier header needs the dossier key, and only then")
    content_key = crypto.random_bytes(crypto.KEY_BYTES)
    with _refusing("message content"):
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
    if content.blobs:  # signed: the server binds exactly these to the message
        envelope["blobs"] = [b.blob.id for b in content.blobs]
    keys = {d: _sealed(content_key, box_key, f"device {d}") for d, box_key in box_keys.items()}
    if dossier_key is not None:
        keys[models.DOSSIER_KEY] = _sealed(content_key, dossier_key, "the dossier store")
    with _refusing("envelope"):
        envelope["signature"] = crypto.sign_envelope(envelope, sign_key)
    envelope["keys"] = keys
    return envelope


def _sealed(content_key: bytes, box_key: bytes, holder: str) -> str:
    try:
        return crypto.b64u_encode(crypto.seal(content_key, box_key))
    except crypto.WeakKey as exc:
        raise SdkError(
            "weak_key", f"{holder} publishes an unusable box key ({exc}); nothing was sent"
        ) from exc


@contextmanager
def _refusing(what: str) -> Iterator[None]:
    try:
        yield
    except canonical.EncodingError as exc:
        raise SdkError(
            "invalid_content", f"the {what} cannot be sent: {exc.described}; nothing was sent"
        ) from exc


def open_content(envelope: Mapping[str, Any], wrap: bytes, box: crypto.BoxKey) -> MessageContent:
    """Open this device's key ``wrap`` and decrypt the envelope's content. The signature is
    not checked here: do it first with ``crypto.verify_envelope``. Raises ``crypto.CryptoError``
    when the wrap or the ciphertext does not open, ``UnreadableContent`` (``malformed_content``)
    when the plaintext does not decode (UTF-8), parse (I-JSON) or validate (DESIGN §5)."""
    try:
        plaintext = crypto.decrypt_content(
            crypto.b64u_decode(str(envelope["ciphertext"])),
            str(envelope["id"]),
            box.open(wrap),
            crypto.b64u_decode(str(envelope["nonce"])),
        )
        return MessageContent.from_plaintext(plaintext)
    except canonical.EncodingError as exc:
        raise UnreadableContent("malformed_content", exc.described) from exc
    except ValidationError as exc:
        raise UnreadableContent("malformed_content", validation_detail(exc)) from exc
