"""Creating a dossier: who may consent, and for whom (CR-1..CR-5). Pure, like ``policy``.

Interpretations of RULES.md made here:
- Age is counted on ``now``'s calendar date (callers pass UTC): around midnight on the 18th
  birthday the holder is still treated as a minor, which only asks for more consent, never less.
- CR-2: an adult not under protection consents personally and names no representative: a
  representative would gain the holder's rights.
- CR-3: a minor's consent names the representative's own ``patient:`` principal, which must not
  be the holder's; a protection flag on a minor changes nothing.
- CR-4: a protected adult who can express their will consents personally; otherwise the
  protection person consents with the holder's opinion recorded. Naming the protection person's
  principal as ``representative`` is optional there.
- CR-5: an objection blocks creation in both regimes; it must be withdrawn first, as an express
  consent collected while an objection stands may predate it. In the opt-out regime a dossier
  needs no consent, but a consent that is supplied is checked like an express one, so that
  nobody becomes representative without the capacity.
- The caller is the person who gave consent (holder or named representative) or a professional
  collecting it (recorded as ``collected_by``). The operator's own opt-out creation has no
  principal and is not modelled as an ``Actor``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from dossier_link.policy import INSURER, Actor, Decision, Protection

ConsentGiver = Literal["holder", "legal_representative", "protection_person"]
Regime = Literal["express", "opt_out"]

ADULT_AGE = 18


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsentRecordInput:
    ins: str
    protection: Protection | None = None
    given_by: ConsentGiver | None = None
    name: str | None = None  # who gave the consent, as recorded (CR-1)
    representative: str | None = None  # patient: principal of whoever consented for the holder
    holder_opinion: str | None = None
    objection_registered: bool = False


def age_on(birth_date: date, today: date) -> int:
    """Whole years completed on ``today``."""
    before_birthday = (today.month, today.day) < (birth_date.month, birth_date.day)
    return today.year - birth_date.year - before_birthday


def may_create(
    request: ConsentRecordInput,
    caller: Actor,
    birth_date: date,
    now: datetime,
    regime: Regime = "express",
) -> Decision:
    """CR-1..CR-5: may ``caller`` create the dossier of ``request.ins`` with this consent?"""
    holder = f"patient:{request.ins}"
    refused = _caller_refusal(request, caller, holder)
    if refused is not None:
        return refused
    if request.objection_registered:
        return Decision.deny("objection_registered")  # CR-5
    if request.given_by is None:
        # CR-1: the default regime needs a recorded consent; opt-out does not (CR-5).
        return Decision.allow(None) if regime == "opt_out" else Decision.deny("consent_missing")
    if not (request.name or "").strip():
        return Decision.deny("consent_missing")  # CR-1: the record must say who gave it
    return _capacity(request, holder, minor=age_on(birth_date, now.date()) < ADULT_AGE)


def _caller_refusal(request: ConsentRecordInput, caller: Actor, holder: str) -> Decision | None:
    if INSURER in caller.roles:
        return Decision.deny("insurer_excluded")  # L1111-18: never a condition of a contract
    if caller.kind == "professional":
        return None  # collecting the consent
    if caller.principal == holder and request.given_by in (None, "holder"):
        return None
    speaks_for_holder = request.given_by in ("legal_representative", "protection_person")
    if speaks_for_holder and caller.principal == request.representative:
        return None
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
