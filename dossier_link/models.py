"""Wire models of the dossier API (DESIGN §4, Dossier) and the records the store keeps."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints

from dossier_link.consent import ADULT_AGE, ConsentGiver, Regime, age_on
from dossier_link.policy import (
    Basis,
    DocumentState,
    DossierState,
    DossierStatus,
    EmergencyAccess,
    Grant,
    GrantBasis,
    GrantLevel,
    Protection,
)
from messaging import crypto
from messaging.identifiers import InsNumber
from messaging.models import Ins, PrincipalId, ProfessionalId, Signature, Timestamp, WireModel
from messaging.timeutil import parse_utc

Name = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=200)]
Reason = Annotated[str, StringConstraints(strict=True, min_length=3, max_length=500)]


# --- requests ---------------------------------------------------------------------------------


class ConsentRequest(WireModel):
    given_by: ConsentGiver
    name: Name
    representative: PrincipalId | None = None
    holder_opinion: Annotated[str, StringConstraints(strict=True, max_length=2000)] | None = None


class CreateDossierRequest(BaseModel):
    # Not strict: birth_date arrives as an ISO date string.
    model_config = ConfigDict(extra="forbid", frozen=True)

    ins: InsNumber
    birth_date: date
    protection: Protection | None = None
    consent: ConsentRequest | None = None


class OperatorCreateDossierRequest(BaseModel):
    """CR-5, opt-out regime: the operator creates the dossier without a consent record."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ins: InsNumber
    birth_date: date
    protection: Protection | None = None


class ObjectionRequest(WireModel):
    objected: StrictBool


class MedecinTraitantRequest(WireModel):
    professional: ProfessionalId


class GrantRequest(WireModel):
    professional: ProfessionalId
    level: GrantLevel = "standard"
    basis: GrantBasis = "consent"


class BanRequest(WireModel):
    professional: ProfessionalId


class EmergencyOppositionRequest(WireModel):
    opposed: StrictBool


class EmergencyAccessRequest(WireModel):
    reason: Reason


class DocumentPatch(WireModel):
    masked: StrictBool | None = None
    hidden_from_holder: StrictBool | None = None


class CloseRequest(WireModel):
    deletion_requested: StrictBool = False


# --- stored records ---------------------------------------------------------------------------


class StoredModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ConsentRecord(StoredModel):
    given_by: ConsentGiver | None
    name: str | None
    representative: str | None = None
    holder_opinion: str | None = None
    collected_by: str | None = None
    regime: Regime
    at: str


class GrantRecord(StoredModel):
    level: GrantLevel
    basis: GrantBasis
    express: bool
    at: str


class EmergencyRecord(StoredModel):
    expires_at: str
    reason: str


class DossierRecord(StoredModel):
    ins: str
    holder: str
    status: DossierStatus = "open"
    birth_date: date
    protection: Protection | None = None
    representatives: list[str] = []
    consent: ConsentRecord
    medecin_traitant: str | None = None
    grants: dict[str, GrantRecord] = {}
    bans: list[str] = []
    emergency_opposed: bool = False
    emergencies: dict[str, EmergencyRecord] = {}
    created_at: str
    closed_at: str | None = None
    purge_at: str | None = None
    log_seq: int = 0
    log_head: str

    def state(self, now: datetime) -> DossierState:
        return DossierState(
            ins=self.ins,
            holder=self.holder,
            status=self.status,
            birth_date=self.birth_date,
            protection=self.protection,
            representatives=self.representatives_on(now),
            medecin_traitant=self.medecin_traitant,
            grants={
                p: Grant(professional=p, level=g.level, basis=g.basis, express=g.express)
                for p, g in self.grants.items()
            },
            bans=frozenset(self.bans),
            emergency_opposed=self.emergency_opposed,
            emergency_accesses={
                p: EmergencyAccess(professional=p, expires_at=parse_utc(e.expires_at))
                for p, e in self.emergencies.items()
            },
        )

    def representatives_on(self, now: datetime) -> frozenset[str]:
        """CR-3: a minor's legal representatives act for the holder until their majority only;
        then the holder acts alone. A protection measure's representative stays (CR-4)."""
        for_a_minor = (
            self.consent.given_by == "legal_representative" and self.protection != "representation"
        )
        if for_a_minor and age_on(self.birth_date, now.astimezone(UTC).date()) >= ADULT_AGE:
            return frozenset()
        return frozenset(self.representatives)


class DocumentRecord(StoredModel):
    id: str
    message_id: str
    author: str
    type: str
    title: str
    masked: bool = False
    hidden_from_holder_until: str | None = None
    invisible_to_legal_representatives: bool = False
    created_at: str
    envelope: dict[str, Any]
    """The signed envelope without its key wraps: readers verify the author's signature."""
    dossier_wrap: str
    """The content key sealed to the dossier key; never leaves the store as is."""

    def state(self) -> DocumentState:
        hidden = self.hidden_from_holder_until
        return DocumentState(
            id=self.id,
            author=self.author,
            masked=self.masked,
            hidden_from_holder_until=None if hidden is None else parse_utc(hidden),
            invisible_to_legal_representatives=self.invisible_to_legal_representatives,
        )

    def summary(self) -> DocumentSummary:
        fields = DocumentSummary.model_fields
        return DocumentSummary.model_validate(self.model_dump(include=set(fields)))


# --- responses --------------------------------------------------------------------------------


class GrantView(WireModel):
    professional: str
    level: GrantLevel
    basis: GrantBasis
    at: str


class DossierSummary(WireModel):
    ins: str
    holder: str
    status: DossierStatus
    medecin_traitant: str | None
    your_basis: str | None
    created_at: str
    closed_at: str | None = None
    # TR-4: the holder's view also lists who has access and who is banned.
    grants: list[GrantView] | None = None
    bans: list[str] | None = None
    emergency_opposed: bool | None = None
    consent: dict[str, Any] | None = None


class DocumentSummary(WireModel):
    id: str
    message_id: str
    author: str
    type: str
    title: str
    masked: bool
    hidden_from_holder_until: str | None
    invisible_to_legal_representatives: bool
    created_at: str


class DocumentList(WireModel):
    documents: list[DocumentSummary]


class DocumentContent(WireModel):
    document: DocumentSummary
    envelope: dict[str, Any]
    keys: dict[str, str]
    """The content key sealed to each of the caller's active devices."""


class EmergencyAccessResponse(WireModel):
    professional: str
    expires_at: str


Hash = Annotated[str, StringConstraints(strict=True, pattern=r"^[0-9a-f]{64}$")]


def _is_none(value: object) -> bool:
    return value is None


def _optional() -> Any:
    return Field(default=None, exclude_if=_is_none)


def _absent_not_null(schema: dict[str, Any]) -> None:
    # A member that does not apply is left out, never sent as null: the schema says so.
    for prop in schema.get("properties", {}).values():
        options = prop.pop("anyOf", None)
        if options is not None:
            prop.update(next(o for o in options if o.get("type") != "null"))
            prop.pop("default", None)


class LogEntry(WireModel):
    """One entry of a dossier's access log (TR-1, TR-2), exactly as stored and hashed: ``hash``
    is SHA-256 over the canonical JSON of every other member present (``access_log``), so a
    member that does not apply is absent, never null."""

    model_config = ConfigDict(json_schema_extra=_absent_not_null)

    seq: int = Field(ge=1)
    prev: Hash
    hash: Hash
    at: Timestamp
    actor: str = Field(description="A principal, or `operator` or `system`.")
    action: str
    outcome: Literal["allowed", "refused"]
    reason: str = Field(description="The rules' reason code (`ok` when allowed).")
    basis: Basis | None = _optional()
    target: str | None = _optional()
    detail: str | None = _optional()
    document: str | None = _optional()
    message: str | None = _optional()
    expires_at: Timestamp | None = _optional()
    purge_at: Timestamp | None = _optional()
    closed_at: Timestamp | None = _optional()


class LogCheckpoint(WireModel):
    """The server's signed word that at ``at`` the log of ``ins`` ended at entry ``seq``, whose
    hash is ``head`` (DESIGN §4). ``signature`` covers the four other members
    (``crypto.sign_log_checkpoint``)."""

    ins: Ins
    seq: int = Field(ge=1, le=2**53 - 1)
    head: Hash
    at: Timestamp
    signature: Signature

    def body(self) -> dict[str, Any]:
        """The signed members: ``{ins, seq, head, at}``."""
        return self.model_dump(exclude={"signature"})

    def verify(self, server_key: bytes) -> None:
        """Raise ``crypto.CryptoError`` unless the server key signed this checkpoint."""
        crypto.verify_log_checkpoint(self.body(), self.signature, server_key)


class AccessLog(WireModel):
    scope: Literal["all", "own"]
    entries: list[LogEntry]
    chain_ok: bool | None = Field(
        default=None, description="The server's own check of the chain (for scope all)."
    )
    checkpoint: LogCheckpoint = Field(
        description="The latest signed checkpoint of the whole log, whatever the scope."
    )
