"""Wire models: what crosses HTTP and WebSocket (DESIGN §4–§5).

Every model forbids unknown fields and is frozen. Identifiers and binary values are kept as the
exact strings the client sent, because signatures cover the client's bytes, not a re-encoding;
that is safe only because every value must be in its one canonical form (``messaging.canonical``):
a binary value or a time spelled otherwise is refused with the problem code ``non_canonical``.
"""

from __future__ import annotations

import datetime
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
)

from messaging.wire_types import (
    BIRTH_DATE_PATTERN,
    B64u,
    BlobId,
    Cursor,
    DeviceId,
    Ins,
    Key32,
    KeyWrap,
    MessageId,
    Name,
    Nonce,
    PrincipalId,
    Signature,
    Text,
    Timestamp,
    Version,
)

DOSSIER_KEY: Final = "dossier"
"""The reserved name in an envelope's ``keys``: the content key sealed to the dossier key."""
CLOSE_AUTH_FAILED: Final = 4401
"""WebSocket close code: the socket's authentication failed, or its device was revoked."""
CLOSE_DISPLACED: Final = 4409
"""WebSocket close code: a newer socket of the same device took over."""

PrincipalKind = Literal["professional", "organisation", "application", "patient"]
ListedKind = Literal["professional", "organisation", "application"]
"""The kinds the directory indexes and lists (DESIGN §4: patients are not browsable)."""
KIND_PREFIX: dict[str, str] = {
    "professional": "rpps:",
    "organisation": "org:",
    "application": "app:",
    "patient": "patient:",
}
Role = Literal[
    "occupational_physician",
    "samu_regulator",
    "pmi_physician",
    "fire_brigade_physician",
    "ehpad_coordinator",
    "insurer",
]


class WireModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


# --- operator ---------------------------------------------------------------------------------


def _calendar_date(text: str) -> str:
    year, month, day = ([int(p) for p in text.split("-")] + [1, 1])[:3]
    try:
        datetime.date(year, month, day)
    except ValueError as exc:
        raise ValueError("not a calendar date") from exc
    return text


BirthDateText = Annotated[
    str, StringConstraints(strict=True, pattern=BIRTH_DATE_PATTERN), AfterValidator(_calendar_date)
]


class CreatePrincipalRequest(WireModel):
    id: PrincipalId
    kind: PrincipalKind
    display_name: Name
    profession: Name | None = None
    roles: list[Role] = Field(default_factory=list, max_length=10)
    members: list[PrincipalId] | None = Field(default=None, max_length=1000)
    birth_date: BirthDateText | None = Field(
        default=None, description="ID-4: a patient's birth date, from the verified identity."
    )
    allow_similar_name: StrictBool = False
    """The operator confirms that this principal is not the one whose name looks the same
    (a homonym): without it such a name is refused with ``similar_name``."""


class EnrollmentCodeResponse(WireModel):
    code: str
    expires_at: Timestamp


# --- devices and auth -------------------------------------------------------------------------


class EnrollDeviceRequest(WireModel):
    principal: PrincipalId
    enrollment_code: Annotated[str, StringConstraints(strict=True, min_length=1, max_length=64)]
    name: Name
    sign_key: Key32
    box_key: Key32
    box_key_signature: Signature
    proof: Signature


class EnrolledDeviceResponse(WireModel):
    device: DeviceId
    principal: PrincipalId


class DeviceRecord(WireModel):
    """A device as the directory publishes it."""

    id: DeviceId
    owner: PrincipalId
    sign_key: Key32
    box_key: Key32
    box_key_signature: Signature
    created_at: Timestamp


class DeviceHistory(DeviceRecord):
    """A device, active or revoked: what its signatures made before ``revoked_at`` still prove."""

    revoked_at: Timestamp | None = None


class OwnDevice(DeviceRecord):
    name: Text


class OwnDevicesResponse(WireModel):
    devices: list[OwnDevice]


class ChallengeRequest(WireModel):
    device: DeviceId


class ChallengeResponse(WireModel):
    challenge: Key32
    expires_in: int


class TokenRequest(WireModel):
    device: DeviceId
    challenge: Key32
    signature: Signature


class TokenResponse(WireModel):
    token: str
    expires_in: int
    principal: PrincipalId


# --- directory --------------------------------------------------------------------------------


class PrincipalSummary(WireModel):
    id: PrincipalId
    kind: PrincipalKind
    display_name: Text
    profession: Text | None = None
    roles: list[Role] = Field(default_factory=list)


class DirectoryEntry(PrincipalSummary):
    devices: list[DeviceRecord]
    members: list[PrincipalId] | None = None


class CreatedPrincipal(DirectoryEntry):
    warnings: list[str] = Field(default_factory=list)
    """Things the operator should check, never reasons to refuse (e.g. ID-3's Luhn digit)."""


class DirectorySearchResponse(WireModel):
    principals: list[PrincipalSummary]


class PrincipalList(WireModel):
    """A page of the operator's listing; ``next`` is the ``after`` of the next page."""

    principals: list[PrincipalSummary]
    next: PrincipalId | None = None


class ServerInfo(WireModel):
    version: str
    sign_key: Key32
    dossier_key: Key32


# --- messages ---------------------------------------------------------------------------------


class DossierHeader(WireModel):
    ins: Ins
    type: Annotated[str, StringConstraints(strict=True, min_length=1, max_length=64)]
    title: Text
    masked: StrictBool | None = None
    hidden_from_holder: StrictBool | None = None
    invisible_to_legal_representatives: StrictBool | None = None


def _unique(values: list[str]) -> list[str]:
    if len(set(values)) != len(values):
        raise ValueError("must not contain duplicates")
    return values


class Envelope(WireModel):
    v: Version
    id: MessageId
    sender: PrincipalId
    sender_device: DeviceId
    recipients: Annotated[
        list[PrincipalId],
        Field(min_length=1, max_length=100, json_schema_extra={"uniqueItems": True}),
        AfterValidator(_unique),
    ]
    created_at: Timestamp
    dossier: DossierHeader | None = None
    blobs: (
        Annotated[list[BlobId], Field(min_length=1, max_length=20), AfterValidator(_unique)] | None
    ) = None
    """Ids of the sender's complete blobs the content names: signed, so the binding is."""
    nonce: Nonce
    ciphertext: B64u
    keys: Annotated[dict[str, KeyWrap], Field(min_length=1, max_length=2000)]
    signature: Signature


class DossierOutcome(WireModel):
    status: Literal["attached", "refused"]
    code: str | None = None
    document: str | None = None


class SkippedDevice(WireModel):
    """A device reached only through an organisation that did not get the message (its queue is
    full, or holds the sender's whole share); the organisation's other devices did."""

    device: DeviceId
    code: Literal["queue_full", "sender_share_exceeded"]


class AcceptedResponse(WireModel):
    id: MessageId
    accepted_at: Timestamp
    dossier: DossierOutcome | None
    skipped: list[SkippedDevice] = []
    """What this attempt could not queue; a retry of an answered message reports none."""


class AckRequest(WireModel):
    cursors: Annotated[list[Cursor], Field(min_length=1, max_length=500)]


class Receipt(WireModel):
    message_id: MessageId
    recipient: PrincipalId
    device: DeviceId
    status: Literal["delivered"]
    at: Timestamp


class MessageEvent(WireModel):
    type: Literal["message"]
    cursor: Cursor
    envelope: dict[str, Any]
    key: KeyWrap
    received_at: Timestamp


class ReceiptEvent(WireModel):
    type: Literal["receipt"]
    cursor: Cursor
    receipt: Receipt
    signature: Signature


class NotificationEvent(WireModel):
    type: Literal["notification"]
    cursor: Cursor
    notification: dict[str, Any]
    signature: Signature


Event = Annotated[MessageEvent | ReceiptEvent | NotificationEvent, Field(discriminator="type")]


class EventsResponse(WireModel):
    events: list[Event]
    next: Cursor | None
