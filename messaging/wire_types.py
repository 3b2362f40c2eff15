"""The field types of the wire: identifier patterns, canonical binary values and times, names
people read, the protocol version. Wire models (``messaging.models``, ``messaging.blob_models``,
the SDK's plaintext) are built from them, and the OpenAPI document shows their exact forms.

A binary value or a time spelled otherwise than in its one canonical form
(``messaging.canonical``) is refused with the problem code ``non_canonical``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any, Final, Literal

from annotated_types import GroupedMetadata
from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
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
