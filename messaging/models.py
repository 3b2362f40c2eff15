"""Wire models: what crosses HTTP and WebSocket (DESIGN §4–§5).

Every model forbids unknown fields and is frozen. Identifiers and binary values are kept as the
exact strings the client sent, because signatures cover the client's bytes, not a re-encoding;
that is safe only because every value must be in its one canonical form (``messaging.canonical``):
a binary value or a time spelled otherwise is refused with the problem code ``non_canonical``.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any, Final, Literal

from annotated_types import GroupedMetadata
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictStr,
    StringConstraints,
)
from pydantic.config import JsonDict
from pydantic_core import PydanticCustomError

from messaging import canonical, crypto, names
from messaging.identifiers import INS_PATTERN, INS_SCHEMA, RPPS_PATTERN

_SLUG = r"[a-z0-9][a-z0-9-]{1,62}"
PRINCIPAL_PATTERN = rf"^(rpps:{RPPS_PATTERN}|org:{_SLUG}|app:{_SLUG}|patient:{INS_PATTERN})$"
PROFESSIONAL_PATTERN = rf"^rpps:{RPPS_PATTERN}$"
DEVICE_PATTERN = r"^dev_[a-z2-7]{26}$"
UUID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
BLOB_ID_PATTERN = r"^blb_[a-z2-7]{26}$"
TIME_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?Z$"
BIRTH_DATE_PATTERN = r"^[0-9]{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12][0-9]|3[01]))?)?$"
"""``YYYY-MM-DD``, or ``YYYY-MM`` / ``YYYY`` when the identity does not know the rest."""

UNSUPPORTED_VERSION = "unsupported_version"


def _canonical(check: Callable[[str], str]) -> AfterValidator:
    """A validator refusing with the ``EncodingError``'s own code (``non_canonical``), so that
    the problem document says which rule of DESIGN §2 the value breaks."""

    def validate(value: str) -> str:
        try:
            return check(value)
        except canonical.EncodingError as exc:
            raise PydanticCustomError(exc.code, exc.reason) from None

    return AfterValidator(validate)


PrincipalId = Annotated[str, StringConstraints(strict=True, pattern=PRINCIPAL_PATTERN)]
ProfessionalId = Annotated[str, StringConstraints(strict=True, pattern=PROFESSIONAL_PATTERN)]
DeviceId = Annotated[str, StringConstraints(strict=True, pattern=DEVICE_PATTERN)]
MessageId = Annotated[str, StringConstraints(strict=True, pattern=UUID_PATTERN)]
BlobId = Annotated[str, StringConstraints(strict=True, pattern=BLOB_ID_PATTERN)]
Timestamp = Annotated[
    StrictStr,
    _canonical(canonical.check_time),
    Field(json_schema_extra={"pattern": canonical.TIME_RANGES_PATTERN}),
]
Ins = Annotated[
    str,
    StringConstraints(strict=True, pattern=rf"^{INS_PATTERN}$"),
    Field(json_schema_extra=INS_SCHEMA),
]
CURSOR_TAG_BYTES: Final = 9
"""The keyed hash that binds a cursor to its device's queue (``messaging.mailbox``)."""
CURSOR_PATTERN: Final = (
    rf"^[0-9]{{1,20}}-[0-9]{{1,20}}\.{canonical.b64u_pattern(CURSOR_TAG_BYTES).lstrip('^')}"
)
"""A Redis stream id, a dot and the tag: the form of every cursor the server issues."""
Cursor = Annotated[str, StringConstraints(strict=True, pattern=CURSOR_PATTERN)]
Text = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=200)]


def _fit_name(value: str) -> str:
    try:
        return names.clean(value)
    except names.UnfitName as exc:
        raise PydanticCustomError(INVALID_NAME, str(exc)) from None


INVALID_NAME: Final = "invalid_name"
Name = Annotated[Text, AfterValidator(_fit_name)]
"""A name people read (``messaging.names``): kept in NFC, without controls, bidirectional or
invisible characters."""


@dataclass(frozen=True, slots=True)
class _B64uOf(GroupedMetadata):
    """Base64url text of exactly ``size`` bytes: the check, and its exact form in the schema."""

    size: int

    def __iter__(self) -> Iterator[Any]:
        # Canonical text tells from its length alone how many bytes it holds: nothing is
        # decoded, not even a ciphertext, on the request path.
        size, length = self.size, crypto.b64u_encoded_length(self.size)

        def check(value: str) -> str:
            if len(value) != length:
                raise ValueError(f"must encode exactly {size} bytes")
            return value

        yield AfterValidator(check)
        pattern = canonical.b64u_pattern(size)
        exact: JsonDict = {"pattern": pattern, "minLength": length, "maxLength": length}
        yield Field(json_schema_extra=exact)


# The schema's pattern is given once per type: pydantic keeps the first of two in a model.
_B64uText = Annotated[StrictStr, _canonical(canonical.check_b64u)]
B64u = Annotated[_B64uText, Field(json_schema_extra={"pattern": canonical.b64u_pattern()})]
Key32 = Annotated[_B64uText, _B64uOf(crypto.KEY_BYTES)]
Signature = Annotated[_B64uText, _B64uOf(crypto.SIGNATURE_BYTES)]
Nonce = Annotated[_B64uText, _B64uOf(crypto.NONCE_BYTES)]
# A sealed box adds an ephemeral public key and a MAC (48 bytes) to the 32-byte content key.
KeyWrap = Annotated[_B64uText, _B64uOf(crypto.KEY_BYTES + 48)]


def _version(value: object) -> object:
    # Python's 1 == 1.0 == True would let "v": 1.0 or true through a Literal[1], though another
    # implementation re-serialises them differently: only the JSON integer token 1 is version 1.
    if type(value) is int:
        if value != 1:
            raise PydanticCustomError(UNSUPPORTED_VERSION, "this server speaks version 1 only")
        return value
    raise PydanticCustomError(canonical.NON_CANONICAL, "v must be the JSON integer 1")


Version = Annotated[Literal[1], BeforeValidator(_version)]

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
