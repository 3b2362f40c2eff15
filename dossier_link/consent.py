"""Creating a dossier: who may consent, and for whom (CR-1..CR-5, CR-9). Pure, like ``policy``.

Interpretations of RULES.md made here:
- The holder's age comes from the verified birth date (ID-4) and majority from CR-7 (00:00
  Europe/Paris on the 18th birthday; ``majority``).
- CR-2: an adult not under protection consents personally and names no representative: a
  representative would gain the holder's rights.
- CR-3: a minor's consent names the representative's own ``patient:`` principal, which must not
  be the holder's; a protection flag on a minor changes nothing.
- CR-4: a protected adult who can express their will consents personally; otherwise the
  protection person consents with the holder's opinion recorded. Naming the protection person's
  principal as ``representative`` is optional there.
- DESIGN §4: a representative named in the consent, or calling, must be linked to the holder by
  a live representation the operator recorded, of the kind the consent states; a claim is
  refused with ``representation_unverified``.
- CR-5: an objection blocks creation and must be withdrawn first, as an express consent
  collected while an objection stands may predate it.
- CR-9: in the opt-out regime only the operator creates dossiers (``operator_creates``); the
  operator's creation has no principal and is not modelled as an ``Actor``.
- The caller is the holder, a live recorded representative, or a professional collecting the
  consent (recorded as ``collected_by``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from dossier_link.majority import BirthDate, is_minor
from dossier_link.policy import INSURER, Actor, Decision, Protection
from messaging.representations import RepresentationKind

ConsentGiver = Literal["holder", "legal_representative", "protection_person"]
Regime = Literal["express", "opt_out"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsentRecordInput:
    ins: str
    protection: Protection | None = None
    given_by: ConsentGiver | None = None
    name: str | None = None  # who gave the consent, as recorded (CR-1)
    representative: str | None = None  # patient: principal of whoever consented for the holder
    holder_opinion: str | None = None
    objection_registered: bool = False


def may_create(
    request: ConsentRecordInput,
    caller: Actor,
    birth: BirthDate,
    now: datetime,
    regime: Regime = "express",
    representatives: Mapping[str, RepresentationKind] | None = None,
) -> Decision:
    """CR-1..CR-5, CR-9: may ``caller`` create the dossier of ``request.ins`` with this consent?

    ``representatives`` are the holder's live recorded representatives, with their kind.
    """
    holder = f"patient:{request.ins}"
    recorded = representatives or {}
    initiated = may_initiate(caller, holder, regime, recorded)
    if not initiated.allowed:
        return initiated
    if request.objection_registered:
        return Decision.deny("objection_registered")  # CR-5
    if request.given_by is None or not (request.name or "").strip():
        return Decision.deny("consent_missing")  # CR-1: the record must say who gave it
    decision = _capacity(request, holder, minor=is_minor(birth, now))
    if not decision.allowed:
        return decision
    if caller.principal == holder and request.given_by != "holder":
        return Decision.deny("no_professional_capacity")  # the holder records only their own
    named = request.representative
    if named is not None and recorded.get(named) != request.given_by:
        return Decision.deny("representation_unverified")  # DESIGN §4: a fact, not a claim
    return decision


def may_initiate(
    caller: Actor,
    holder: str,
    regime: Regime,
    representatives: Mapping[str, RepresentationKind],
) -> Decision:
    """Who may ask for a dossier at all, whatever the consent says (CR-1, CR-9, RD-7)."""
    if INSURER in caller.roles:
        return Decision.deny("insurer_excluded")  # L1111-18: never a condition of a contract
    if regime == "opt_out":
        return Decision.deny("operator_creates")  # CR-9
    if caller.kind == "professional" or caller.principal == holder:
        return Decision.allow(None)  # collecting the consent, or the holder
    if caller.kind == "patient":
        if caller.principal in representatives:
            return Decision.allow("representative")
        return Decision.deny("representation_unverified")
    return Decision.deny("no_professional_capacity")


def _capacity(request: ConsentRecordInput, holder: str, *, minor: bool) -> Decision:
    """CR-2..CR-4: does the giver's capacity fit the holder's situation?"""
    representative = request.representative
    if minor:
        names_other = representative is not None and representative != holder
        if request.given_by != "legal_representative" or not names_other:
            return Decision.deny("minor_needs_representative")  # CR-3
        if not (representative or "").startswith("patient:"):
            return Decision.deny("representative_not_allowed")
        return Decision.allow("representative")
    if request.given_by == "holder":
        if representative is not None:
            return Decision.deny("representative_not_allowed")  # CR-2
        return Decision.allow("holder")
    if request.protection != "representation" or request.given_by != "protection_person":
        return Decision.deny("holder_must_consent")  # CR-2
    if not (request.holder_opinion or "").strip():
        return Decision.deny("holder_opinion_required")  # CR-4
    if representative is not None and (
        representative == holder or not representative.startswith("patient:")
    ):
        return Decision.deny("representative_not_allowed")
    return Decision.allow("representative")
