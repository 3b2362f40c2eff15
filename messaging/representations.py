"""Representations recorded by the operator (DESIGN §4): the registration authority's fact that a
``patient:`` principal represents a holder, never a claim made by the representative. The wire
models and the stored record; ``representation_store`` keeps them in Redis.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from messaging.identifiers import INS_PATTERN
from messaging.models import (
    WireModel,
)
from messaging.wire_types import (
    Ins,
    Timestamp,
)

RepresentationKind = Literal["legal_representative", "protection_person"]


PatientId = Annotated[str, StringConstraints(strict=True, pattern=rf"^patient:{INS_PATTERN}$")]
RepresentationId = Annotated[str, StringConstraints(strict=True, pattern=r"^rep_[a-z2-7]{26}$")]


class CreateRepresentationRequest(WireModel):
    """``POST /v1/admin/representations`` (DESIGN §4)."""

    holder: Ins
    representative: PatientId
    kind: RepresentationKind
    evidence: Annotated[str, StringConstraints(strict=True, min_length=1, max_length=2000)] = Field(
        description="What the registration authority verified: a judgment, a family record."
    )
    valid_until: Timestamp | None = None


class RepresentationCreated(WireModel):
    id: str


class RepresentationQuery(WireModel):
    """Give ``holder``, ``representative`` or both (neither is refused with 400)."""

    holder: Ins | None = None
    representative: PatientId | None = None

    @model_validator(mode="after")
    def _one_of(self) -> RepresentationQuery:
        if self.holder is None and self.representative is None:
            raise ValueError("give holder or representative")
        return self


class RepresentationView(WireModel):
    id: str
    holder: str
    representative: str
    kind: RepresentationKind
    evidence: str
    valid_until: str | None
    ends_at: str | None
    created_at: str
    live: bool


class RepresentationList(WireModel):
    representations: list[RepresentationView]


def new_representation_id() -> str:
    return "rep_" + base64.b32encode(secrets.token_bytes(16)).decode().rstrip("=").lower()


def _parse_utc(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class Representation(BaseModel):
    """One recorded representation. ``ends_at`` is the earlier of the holder's majority (a
    legal representative's, CR-3, CR-7) and ``valid_until`` (CR-4); none means until removed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    holder: str
    """The holder's INS."""
    representative: str
    kind: RepresentationKind
    evidence: str
    valid_until: str | None = None
    ends_at: str | None = None
    created_at: str

    def live(self, now: datetime) -> bool:
        return self.ends_at is None or now < _parse_utc(self.ends_at)

    def view(self, now: datetime) -> RepresentationView:
        return RepresentationView(**self.model_dump(), live=self.live(now))

    def ends_ms(self) -> int | None:
        return None if self.ends_at is None else int(_parse_utc(self.ends_at).timestamp() * 1000)


def live_representatives(
    representations: Iterable[Representation], now: datetime
) -> dict[str, RepresentationKind]:
    """Who represents the holder at ``now``, with the kind of representation."""
    return {r.representative: r.kind for r in representations if r.live(now)}
