"""Wire models of the dossier API (DESIGN §4, Dossier) and the records the store keeps."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
)

from dossier_link.consent import ConsentGiver, Regime
from dossier_link.majority import BirthDate, is_minor
from dossier_link.policy import (
    DocumentState,
    DossierState,
    DossierStatus,
    EmergencyAccess,
    Grant,
    GrantBasis,
    GrantLevel,
    Protection,
)
from messaging.identifiers import InsNumber
from messaging.models import (
    BirthDateText,
    WireModel,
)
from messaging.representations import Representation, live_representatives
from messaging.timeutil import parse_utc
from messaging.wire_types import (
    PrincipalId,
    ProfessionalId,
)

Name = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=200)]


def _statement(reason: str) -> str:
    """EM-4: an emergency reason is a statement: 10 visible characters, no control character."""
    if any(unicodedata.category(c) == "Cc" for c in reason):
        raise ValueError("the reason may not contain control characters")
    # Letters, digits, punctuation and symbols: not spaces, format characters or lone marks.
    visible = sum(1 for c in reason if unicodedata.category(c)[0] in "LNPS")
    if visible < MIN_REASON_VISIBLE:
        raise ValueError(f"state the reason in at least {MIN_REASON_VISIBLE} visible characters")
    return reason


MIN_REASON_VISIBLE = 10
Reason = Annotated[str, StringConstraints(strict=True, max_length=500), AfterValidator(_statement)]


# --- requests ---------------------------------------------------------------------------------


class ConsentRequest(WireModel):
    given_by: ConsentGiver
    name: Name
    representative: PrincipalId | None = None
    holder_opinion: Annotated[str, StringConstraints(strict=True, max_length=2000)] | None = None


class CreateDossierRequest(WireModel):
    ins: InsNumber
    birth_date: BirthDateText | None = Field(
        default=None,
        description="ID-4: only a professional creating the dossier of a patient whose birth "
        "date is not recorded attests it; otherwise it must be absent or equal the recorded one.",
    )
    protection: Protection | None = None
    consent: ConsentRequest | None = None


class OperatorCreateDossierRequest(WireModel):
    """CR-5, opt-out regime: the operator creates the dossier without a consent record."""

    ins: InsNumber
    birth_date: BirthDateText | None = None
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


_PATCHED = ("masked", "hidden_from_holder", "invisible_to_legal_representatives")


class DocumentPatch(WireModel):
    # The schema says what the service checks: at least one of them set (true or false).
    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [{"required": [f], "properties": {f: {"type": "boolean"}}} for f in _PATCHED]
        }
    )

    masked: StrictBool | None = None
    hidden_from_holder: StrictBool | None = None
    invisible_to_legal_representatives: StrictBool | None = None
    """CR-8, RD-10: the author marks it at the minor holder's request (L1111-5)."""


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
    """EM-4: one emergency access, its own record; an open one is never extended."""

    professional: str
    reason: str
    at: str
    expires_at: str


class DossierRecord(StoredModel):
    ins: str
    holder: str
    status: DossierStatus = "open"
    birth_date: str
    protection: Protection | None = None
    consent: ConsentRecord
    medecin_traitant: str | None = None
    grants: dict[str, GrantRecord] = {}
    bans: list[str] = []
    emergency_opposed: bool = False
    emergencies: dict[str, EmergencyRecord] = {}
    """By emergency access id."""
    created_at: str
    closed_at: str | None = None
    purge_at: str | None = None
    log_seq: int = 0
    log_head: str

    def birth(self) -> BirthDate:
        return BirthDate.parse(self.birth_date)

    def state(self, now: datetime, representations: Iterable[Representation] = ()) -> DossierState:
        """The snapshot the rules decide on. Representatives are the live recorded ones (CR-3,
        CR-4, CR-7): a representation's end, or its removal, ends its rights at once."""
        live = live_representatives((r for r in representations if r.holder == self.ins), now)
        return DossierState(
            ins=self.ins,
            holder=self.holder,
            status=self.status,
            birth_date=self.birth().earliest(),
            holder_minor=is_minor(self.birth(), now),
            protection=self.protection,
            representatives=frozenset(live),
            protection_persons=frozenset(p for p, k in live.items() if k == "protection_person"),
            medecin_traitant=self.medecin_traitant,
            grants={
                p: Grant(professional=p, level=g.level, basis=g.basis, express=g.express)
                for p, g in self.grants.items()
            },
            bans=frozenset(self.bans),
            emergency_opposed=self.emergency_opposed,
            emergency_accesses=self._latest_emergencies(),
        )

    def _latest_emergencies(self) -> dict[str, EmergencyAccess]:
        """Each professional's access lasts until the last of their emergency accesses ends."""
        latest: dict[str, EmergencyAccess] = {}
        for emergency in self.emergencies.values():
            expires = parse_utc(emergency.expires_at)
            known = latest.get(emergency.professional)
            if known is None or known.expires_at < expires:
                latest[emergency.professional] = EmergencyAccess(emergency.professional, expires)
        return latest


class DocumentRecord(StoredModel):
    id: str
    message_id: str
    author: str
    type: str
    title: str
    masked: bool = False
    hidden_from_holder_until: str | None = None
    hidden_once: bool = False
    read_by_holder: bool = False
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
            hidden_once=self.hidden_once,
            read_by_holder=self.read_by_holder,
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


class EmergencyView(WireModel):
    id: str
    professional: str
    reason: str
    expires_at: str


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
    emergencies: list[EmergencyView] | None = None
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
    id: str
    professional: str
    expires_at: str
