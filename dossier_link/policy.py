"""Who may do what on a dossier: pure decisions over frozen snapshots (RULES.md).

Every function takes the state it needs and, where time matters, ``now``; none reads the clock,
Redis or the network, so the store can decide inside one transaction and tests need no fixture.
A refusal is a ``Decision`` with a stable ``code``, never an exception: the caller logs every
outcome (TR-1) and a refused dossier link still delivers the message (W-1).

Interpretations of RULES.md made here:
- Bans hold professionals only (``may_ban`` refuses any other principal), so checking the ban
  first never locks out the holder or a representative (RD-4).
- A representative exercises the holder's rights (DESIGN §4): writes, grants, bans, masks,
  closes and reads the whole log. Like the holder, a representative does not see a document
  still hidden from the holder (HD-1), and never sees one ``invisible_to_legal_representatives``;
  this applies to every representative, protection persons included (RD-8, read strictly).
- RD-6 is read literally: an occupational or fire-brigade physician gets nothing from MT status,
  a care-team grant, a non-express grant or an emergency; only an express consent-basis grant.
- The author reads their own document even when their grant is gone (RD-5, checked before RD-6
  and masking), but a ban still wins.
- Emergency access reads like a standard grant (masked documents stay masked). An opposition the
  holder registers ends open emergency accesses at once, like a withdrawn grant (RD-9).
- ``may_list`` answers whether the caller may see the dossier's list at all; each entry is then
  filtered with ``may_read_document`` (``visible_documents``). An author without a grant reads
  their own documents by id, not through the list.
- TR-3: any non-banned professional (not insurer) reads the entries of their own actions.
- ``Actor.on_behalf_of`` is carried for the trace; it never lends the represented principal's
  rights, because this layer cannot check the delegation.
- A grant made through ``may_grant`` is the holder's own act, so the store records it with
  ``express=True``; ``care_team`` is the deemed basis RD-6 excludes.
- Closed means closed (CR-6): every function, log reading included, answers ``dossier_closed``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from dossier_link.state import (
    DEFAULT_EMERGENCY_DURATION,
    DEFAULT_HIDE_RELEASE,
    EXPRESS_ONLY_ROLES,
    INSURER,
    SAMU_REGULATOR,
    Actor,
    ActorKind,
    Basis,
    Decision,
    DocumentState,
    DossierState,
    DossierStatus,
    EmergencyAccess,
    Grant,
    GrantBasis,
    GrantLevel,
    LogVisibility,
    Protection,
    ReasonCode,
)

# The state's vocabulary is re-exported: callers import the rules and their terms from one place.
__all__ = [
    "DEFAULT_EMERGENCY_DURATION",
    "DEFAULT_HIDE_RELEASE",
    "EXPRESS_ONLY_ROLES",
    "INSURER",
    "SAMU_REGULATOR",
    "Actor",
    "ActorKind",
    "Basis",
    "Decision",
    "DocumentState",
    "DossierState",
    "DossierStatus",
    "EmergencyAccess",
    "Grant",
    "GrantBasis",
    "GrantLevel",
    "LogVisibility",
    "Protection",
    "ReasonCode",
]

# Bases that read everything a professional may read, masked documents included (RD-2, RD-3).
_FULL_BASES: frozenset[Basis] = frozenset({"medecin_traitant", "extended"})
_HOLDER_BASES: frozenset[Basis] = frozenset({"holder", "representative"})


# --- shared steps -----------------------------------------------------------------------------


def _unavailable(dossier: DossierState | None) -> Decision:
    return Decision.deny("dossier_not_found" if dossier is None else "dossier_closed")


def _holder_capacity(actor: Actor, dossier: DossierState) -> Basis | None:
    if actor.principal == dossier.holder:
        return "holder"
    if actor.principal in dossier.representatives:
        return "representative"
    return None


def _grant_basis(grant: Grant) -> Basis:
    if grant.level == "extended":
        return "extended"
    return "care_team" if grant.basis == "care_team" else "grant"


def _standing(actor: Actor, dossier: DossierState) -> Basis | None:
    """A professional's lasting basis (MT or grant), RD-6 applied; emergency is separate."""
    grant = dossier.grants.get(actor.principal)
    if actor.roles & EXPRESS_ONLY_ROLES:
        if grant is not None and grant.express and grant.basis == "consent":
            return _grant_basis(grant)
        return None
    if actor.principal == dossier.medecin_traitant:
        return "medecin_traitant"
    return None if grant is None else _grant_basis(grant)


def _access(actor: Actor, dossier: DossierState, now: datetime) -> Decision:
    """Dossier-level access of an open dossier, before any per-document filter."""
    if actor.principal in dossier.bans:
        return Decision.deny("banned")  # RD-4, W-3: before every basis
    if INSURER in actor.roles:
        return Decision.deny("insurer_excluded")  # W-6, RD-7
    capacity = _holder_capacity(actor, dossier)
    if capacity is not None:
        return Decision.allow(capacity)  # W-5, RD-8
    if actor.kind != "professional":
        return Decision.deny("no_professional_capacity")  # W-6
    standing = _standing(actor, dossier)
    if standing is not None:
        return Decision.allow(standing)  # W-2, RD-1..RD-3
    if actor.roles & EXPRESS_ONLY_ROLES:
        return Decision.deny("express_grant_required")  # RD-6
    emergency = dossier.emergency_accesses.get(actor.principal)
    if emergency is not None and now < emergency.expires_at:  # EM-2: expiry is exclusive
        if dossier.emergency_opposed:
            return Decision.deny("emergency_opposed")
        return Decision.allow("emergency")  # EM-1
    return Decision.deny("no_grant")  # RD-1


# --- writing, listing, reading ----------------------------------------------------------------


def may_write(actor: Actor, dossier: DossierState | None, now: datetime) -> Decision:
    """W-1..W-6: may ``actor`` attach a document to the dossier?

    W-4: an allowed professional needs no new consent per write; ``notify_after`` names who is
    informed instead.
    """
    if dossier is None or dossier.status == "closed":
        return _unavailable(dossier)
    return _access(actor, dossier, now)


def may_list(actor: Actor, dossier: DossierState | None, now: datetime) -> Decision:
    """May ``actor`` see the dossier's document list (entries filtered by ``visible_documents``)?"""
    if dossier is None or dossier.status == "closed":
        return _unavailable(dossier)
    return _access(actor, dossier, now)


def may_read_document(
    actor: Actor, dossier: DossierState | None, document: DocumentState, now: datetime
) -> Decision:
    """RD-1..RD-8, MK-1, MK-2, HD-1: may ``actor`` read this document of the dossier?"""
    if dossier is None or dossier.status == "closed":
        return _unavailable(dossier)
    if actor.principal in dossier.bans:
        return Decision.deny("banned")
    if INSURER in actor.roles:
        return Decision.deny("insurer_excluded")
    if actor.principal == document.author:
        return Decision.allow("author")  # RD-5
    decision = _access(actor, dossier, now)
    if not decision.allowed:
        return decision
    if decision.basis == "representative" and document.invisible_to_legal_representatives:
        return Decision.deny("invisible_to_representatives")  # RD-8
    hidden_until = document.hidden_from_holder_until
    if decision.basis in _HOLDER_BASES and hidden_until is not None and now < hidden_until:
        return Decision.deny("hidden_from_holder")  # HD-1
    if document.masked and decision.basis not in _FULL_BASES | _HOLDER_BASES:
        return Decision.deny("document_masked")  # MK-1, MK-2
    return decision


def visible_documents(
    actor: Actor, dossier: DossierState | None, documents: Iterable[DocumentState], now: datetime
) -> list[DocumentState]:
    """The documents ``actor`` may read, in the given order."""
    return [doc for doc in documents if may_read_document(actor, dossier, doc, now).allowed]


def holder_release_at(
    created_at: datetime, hide_release: timedelta = DEFAULT_HIDE_RELEASE
) -> datetime:
    """HD-1: when a document hidden from the holder at ``created_at`` becomes visible to them.

    The store keeps this instant as ``hidden_from_holder_until`` so that reading only compares
    it with ``now``, and a later change of the setting does not move past deadlines.
    """
    return created_at + hide_release


def may_hide_from_holder(
    actor: Actor, dossier: DossierState | None, document: DocumentState
) -> Decision:
    """HD-1: only the document's author, a professional, hides it from the holder or unhides it."""
    if dossier is None or dossier.status == "closed":
        return _unavailable(dossier)
    if actor.principal in dossier.bans:
        return Decision.deny("banned")
    if INSURER in actor.roles or actor.kind != "professional":
        return Decision.deny("no_professional_capacity")
    if actor.principal != document.author:
        return Decision.deny("not_author")
    return Decision.allow("author")


# --- the holder's rights ----------------------------------------------------------------------


def may_manage(actor: Actor, dossier: DossierState | None) -> Decision:
    """MK-1, RD-9, TR-4: mask or unmask, withdraw a grant, lift a ban, (un)oppose emergencies."""
    if dossier is None or dossier.status == "closed":
        return _unavailable(dossier)
    capacity = _holder_capacity(actor, dossier)
    return Decision.deny("holder_only") if capacity is None else Decision.allow(capacity)


def may_close(actor: Actor, dossier: DossierState | None) -> Decision:
    """CR-6: the holder or a representative closes the dossier."""
    return may_manage(actor, dossier)


def may_request_deletion(actor: Actor, dossier: DossierState | None) -> Decision:
    """CR-6: the holder or a representative asks for deletion, before or after closure."""
    if dossier is None:
        return _unavailable(dossier)
    capacity = _holder_capacity(actor, dossier)
    return Decision.deny("holder_only") if capacity is None else Decision.allow(capacity)


def may_grant(
    actor: Actor, dossier: DossierState | None, grantee: Actor, basis: GrantBasis = "consent"
) -> Decision:
    """RD-1, RD-3, RD-6, RD-7: may ``actor`` give ``grantee`` access on ``basis``?"""
    managed = may_manage(actor, dossier)
    if not managed.allowed or dossier is None:
        return managed
    if INSURER in grantee.roles:
        return Decision.deny("insurer_cannot_be_granted")  # RD-7: whatever the holder says
    if grantee.kind != "professional":
        return Decision.deny("no_professional_capacity")
    if grantee.principal in dossier.bans:
        return Decision.deny("banned")  # lift the ban first: a ban would override the grant
    if grantee.roles & EXPRESS_ONLY_ROLES and basis != "consent":
        return Decision.deny("express_grant_required")  # RD-6
    return managed


def may_ban(actor: Actor, dossier: DossierState | None, professional: str) -> Decision:
    """RD-4: the holder bans a professional, but not the current MT."""
    managed = may_manage(actor, dossier)
    if not managed.allowed or dossier is None:
        return managed
    if not professional.startswith("rpps:"):
        return Decision.deny("no_professional_capacity")
    if professional == dossier.medecin_traitant:
        return Decision.deny("cannot_ban_medecin_traitant")
    return managed


def may_set_medecin_traitant(
    actor: Actor, dossier: DossierState | None, professional: Actor
) -> Decision:
    """RD-2, RD-4, RD-6: the holder declares a professional, not banned, as MT."""
    managed = may_manage(actor, dossier)
    if not managed.allowed or dossier is None:
        return managed
    if INSURER in professional.roles:
        return Decision.deny("insurer_excluded")
    if professional.kind != "professional":
        return Decision.deny("no_professional_capacity")
    if professional.principal in dossier.bans:
        return Decision.deny("banned")
    if professional.roles & EXPRESS_ONLY_ROLES:
        return Decision.deny("express_grant_required")  # MT status would confer nothing
    return managed


# --- emergency --------------------------------------------------------------------------------


def may_open_emergency(actor: Actor, dossier: DossierState | None, now: datetime) -> Decision:
    """EM-1: a professional (SAMU regulator included) opens emergency access.

    ``now`` is taken like every time-bound decision; the outcome does not depend on it yet.
    The stated reason is checked by the caller: it is free text this layer cannot judge.
    """
    if dossier is None or dossier.status == "closed":
        return _unavailable(dossier)
    if actor.principal in dossier.bans:
        return Decision.deny("banned")
    if INSURER in actor.roles:
        return Decision.deny("insurer_excluded")
    if actor.kind != "professional":
        return Decision.deny("no_professional_capacity")
    if actor.roles & EXPRESS_ONLY_ROLES:
        return Decision.deny("emergency_not_allowed")  # RD-6: nothing is deemed
    if dossier.emergency_opposed:
        return Decision.deny("emergency_opposed")
    return Decision.allow("emergency")


def emergency_access(
    professional: str, now: datetime, duration: timedelta = DEFAULT_EMERGENCY_DURATION
) -> EmergencyAccess:
    """EM-2: the time-limited access to record once ``may_open_emergency`` allowed it."""
    if duration <= timedelta(0):
        raise ValueError("an emergency access must last a positive time")
    return EmergencyAccess(professional=professional, expires_at=now + duration)


# --- traces, notifications, messaging ---------------------------------------------------------


def may_read_log(actor: Actor, dossier: DossierState | None) -> Decision:
    """TR-3: basis ``author`` means "only the entries of the actor's own actions"."""
    if dossier is None or dossier.status == "closed":
        return _unavailable(dossier)
    if actor.principal in dossier.bans:
        return Decision.deny("banned")
    if INSURER in actor.roles:
        return Decision.deny("insurer_excluded")
    capacity = _holder_capacity(actor, dossier)
    if capacity is not None:
        return Decision.allow(capacity)
    if actor.kind != "professional":
        return Decision.deny("no_professional_capacity")
    standing = _standing(actor, dossier)
    return Decision.allow(standing if standing in _FULL_BASES else "author")


def log_visibility(actor: Actor, dossier: DossierState | None) -> LogVisibility:
    """TR-3: which entries of the access log ``actor`` reads."""
    decision = may_read_log(actor, dossier)
    if not decision.allowed:
        return "none"
    return "own" if decision.basis == "author" else "all"


def notify_after(actor: Actor, dossier: DossierState, decision: Decision) -> frozenset[str]:
    """W-4, TR-5, EM-3: who is informed of an allowed access by a professional.

    Only the holder (not representatives): a notification naming the professional could reveal a
    document the holder keeps from them (RD-8).
    """
    if not decision.allowed or decision.basis is None or decision.basis in _HOLDER_BASES:
        return frozenset()
    told = {dossier.holder}
    if decision.basis == "emergency" and dossier.medecin_traitant is not None:
        told.add(dossier.medecin_traitant)
    told.discard(actor.principal)
    return frozenset(told)


def may_link_message_to(recipient_professional: str, dossier: DossierState | None) -> Decision:
    """MS-2: a dossier-linked message may not go to a professional the holder banned.

    An organisation recipient is checked member by member by the caller.
    """
    if dossier is None or dossier.status == "closed":
        return _unavailable(dossier)
    if recipient_professional in dossier.bans:
        return Decision.deny("patient_opposed")
    return Decision.allow(None)
