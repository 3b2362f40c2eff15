"""The vocabulary of the dossier rules: actors, grants, dossier and document snapshots, and the
decisions ``policy`` returns. Frozen values only, so a decision never changes what it was given."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Literal

ActorKind = Literal["professional", "organisation", "application", "patient"]
GrantLevel = Literal["standard", "extended"]
GrantBasis = Literal["consent", "care_team"]
DossierStatus = Literal["open", "closed"]
Protection = Literal["representation"]
LogVisibility = Literal["all", "own", "none"]

ReasonCode = Literal[
    "ok",
    "dossier_not_found",
    "dossier_closed",
    "banned",
    "no_grant",
    "insurer_excluded",
    "no_professional_capacity",
    "express_grant_required",
    "document_masked",
    "hidden_from_holder",
    "invisible_to_representatives",
    "emergency_opposed",
    "emergency_not_allowed",
    "consent_missing",
    "minor_needs_representative",
    "holder_opinion_required",
    "holder_must_consent",
    "representative_not_allowed",
    "objection_registered",
    "cannot_ban_medecin_traitant",
    "insurer_cannot_be_granted",
    "patient_opposed",
    "bad_dossier_wrap",
    "holder_only",
    "not_author",
    "representation_unverified",
    "minor_holder",
    "birth_date_unverified",
    "operator_creates",
    "document_not_found",
    "already_hidden",
    "already_released",
    "read_by_holder",
    "recipient_excluded",
]
Basis = Literal[
    "holder",
    "representative",
    "medecin_traitant",
    "extended",
    "grant",
    "care_team",
    "author",
    "emergency",
]

INSURER = "insurer"
SAMU_REGULATOR = "samu_regulator"
# RD-6: these physicians act for a third party (employer, fire service); nothing is deemed.
EXPRESS_ONLY_ROLES = frozenset({"occupational_physician", "fire_brigade_physician"})

DEFAULT_EMERGENCY_DURATION = timedelta(hours=24)  # EM-2 setting
DEFAULT_HIDE_RELEASE = timedelta(days=30)  # HD-1 "1 month" setting


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    code: ReasonCode
    basis: Basis | None = None

    @classmethod
    def allow(cls, basis: Basis | None) -> Decision:
        return cls(True, "ok", basis)

    @classmethod
    def deny(cls, code: ReasonCode) -> Decision:
        return cls(False, code, None)


@dataclass(frozen=True, slots=True)
class Actor:
    principal: str
    kind: ActorKind
    roles: frozenset[str] = frozenset()
    on_behalf_of: str | None = None


@dataclass(frozen=True, slots=True)
class Grant:
    professional: str
    level: GrantLevel
    basis: GrantBasis
    express: bool


@dataclass(frozen=True, slots=True)
class EmergencyAccess:
    professional: str
    expires_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class DossierState:
    ins: str
    holder: str
    status: DossierStatus = "open"
    birth_date: date
    holder_minor: bool = False
    """CR-7, CR-8: the holder is under 18 now; their acts are the legal representative's."""
    protection: Protection | None = None
    representatives: frozenset[str] = frozenset()
    """Live recorded representatives of every kind (DESIGN §4)."""
    protection_persons: frozenset[str] = frozenset()
    """Those of ``representatives`` in charge of a protection measure (CR-4): RD-10 spares them."""
    medecin_traitant: str | None = None
    grants: Mapping[str, Grant] = field(default_factory=dict)
    bans: frozenset[str] = frozenset()
    emergency_opposed: bool = False
    emergency_accesses: Mapping[str, EmergencyAccess] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Lookups go by principal; a snapshot whose keys disagree would grant the wrong person.
        if self.holder != f"patient:{self.ins}":
            raise ValueError("holder must be patient:<ins>")
        if any(key != grant.professional for key, grant in self.grants.items()):
            raise ValueError("grants must be keyed by their professional")
        if any(key != acc.professional for key, acc in self.emergency_accesses.items()):
            raise ValueError("emergency accesses must be keyed by their professional")


@dataclass(frozen=True, slots=True, kw_only=True)
class DocumentState:
    id: str
    author: str
    masked: bool = False
    hidden_from_holder_until: datetime | None = None
    """HD-1: the release instant, fixed when the document was hidden."""
    hidden_once: bool = False
    """HD-2: it was hidden from the holder once; it is never hidden again."""
    read_by_holder: bool = False
    """HD-2: the holder (or a representative) has read it; it can no longer be hidden."""
    invisible_to_legal_representatives: bool = False
