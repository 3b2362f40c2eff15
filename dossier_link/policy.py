"""Who may do what on a dossier: pure decisions over frozen snapshots (RULES.md).

Every function takes the state it needs and, where time matters, ``now``; none reads the clock,
Redis or the network, so the store can decide inside one transaction and tests need no fixture.
A refusal is a ``Decision`` with a stable ``code``, never an exception: the caller logs every
outcome (TR-1) and a refused dossier link still delivers the message (W-1). The holder's own
rights (grants, bans, masking, closure…) are decided in ``holder_rights`` and re-exported here.

Interpretations of RULES.md made here:
- Bans hold professionals only (``may_ban`` refuses any other principal), so checking the ban
  first never locks out the holder or a representative (RD-4).
- A live recorded representative exercises the holder's rights (DESIGN §4). Like the holder, a
  representative does not see a document still hidden from the holder (HD-1); a legal
  representative of a minor sees nothing of a document ``invisible_to_legal_representatives``,
  answered as a document that does not exist (RD-10); a protection person does see it.
- RD-6 is read literally: an occupational or fire-brigade physician gets nothing from MT status,
  a care-team grant, a non-express grant or an emergency; only an express consent-basis grant.
- The author reads their own document even when their grant is gone (RD-5, checked before RD-6
  and masking), but a ban still wins.
- Emergency access reads like a standard grant: masked documents stay masked (EM-4). An
  opposition the holder registers ends open emergency accesses at once, like a withdrawn grant.
- ``may_list`` answers whether the caller may see the dossier's list at all; each entry is then
  filtered with ``may_read_document`` (``visible_documents``).
- TR-3: a professional reads the entries of their own actions when they had a right on the
  dossier at some point (an allowed action of theirs is in the log); without one they are
  refused ``no_grant``, as for a dossier that does not exist (RD-12).
- ``Actor.on_behalf_of`` is carried for the trace; it never lends the represented principal's
  rights, because this layer cannot check the delegation.
- Closed means closed (CR-6) for whoever had a right; a caller without one gets the refusal it
  would get on the open dossier (``standing.closed_means_closed``, RD-12).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from dossier_link.holder_rights import (
    may_ban,
    may_close,
    may_grant,
    may_manage,
    may_request_deletion,
    may_set_medecin_traitant,
)
from dossier_link.standing import (
    FULL_BASES,
    HOLDER_BASES,
    access,
    closed_means_closed,
    is_legal_representative,
    no_capacity,
    standing,
    unavailable,
)
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

# The vocabulary and the holder's rights are re-exported: callers import the rules from one place.
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
    "may_ban",
    "may_close",
    "may_grant",
    "may_manage",
    "may_request_deletion",
    "may_set_medecin_traitant",
]


# --- writing, listing, reading ----------------------------------------------------------------


@closed_means_closed
def may_write(actor: Actor, dossier: DossierState, now: datetime) -> Decision:
    """W-1..W-6: may ``actor`` attach a document to the dossier?

    W-4: an allowed professional needs no new consent per write; ``notify_after`` names who is
    informed instead.
    """
    return access(actor, dossier, now)


@closed_means_closed
def may_list(actor: Actor, dossier: DossierState, now: datetime) -> Decision:
    """May ``actor`` see the dossier's list (entries filtered by ``visible_documents``)?"""
    return access(actor, dossier, now)


@closed_means_closed
def may_read_document(
    actor: Actor, dossier: DossierState, document: DocumentState, now: datetime
) -> Decision:
    """RD-1..RD-10, MK-1, MK-2, HD-1: may ``actor`` read this document of the dossier?"""
    if actor.principal in dossier.bans:
        return Decision.deny("banned")
    if INSURER in actor.roles:
        return Decision.deny("insurer_excluded")
    if actor.principal == document.author:
        return Decision.allow("author")  # RD-5
    decision = access(actor, dossier, now)
    if not decision.allowed:
        return decision
    if document.invisible_to_legal_representatives and is_legal_representative(actor, dossier):
        return Decision.deny("document_not_found")  # RD-10: as if it did not exist
    if decision.basis in HOLDER_BASES and hidden_from_holder(document, now):
        return Decision.deny("hidden_from_holder")  # HD-1
    if document.masked and decision.basis not in FULL_BASES | HOLDER_BASES:
        return Decision.deny("document_masked")  # MK-1, MK-2, EM-4
    return decision


def may_know_of(actor: Actor, dossier: DossierState, document: DocumentState) -> Decision:
    """RD-10: a legal representative acts on a document kept from them as on one that does not
    exist (any act on it, not only reading, would confirm it)."""
    if document.invisible_to_legal_representatives and is_legal_representative(actor, dossier):
        return Decision.deny("document_not_found")
    return Decision.allow(None)


def visible_documents(
    actor: Actor, dossier: DossierState | None, documents: Iterable[DocumentState], now: datetime
) -> list[DocumentState]:
    """The documents ``actor`` may read, in the given order."""
    return [doc for doc in documents if may_read_document(actor, dossier, doc, now).allowed]


def hidden_from_holder(document: DocumentState, now: datetime) -> bool:
    until = document.hidden_from_holder_until
    return until is not None and now < until


def holder_release_at(
    created_at: datetime, hide_release: timedelta = DEFAULT_HIDE_RELEASE
) -> datetime:
    """HD-1: when a document hidden from the holder at ``created_at`` becomes visible to them.

    The store keeps this instant as ``hidden_from_holder_until`` so that reading only compares
    it with ``now``, and a later change of the setting does not move past deadlines.
    """
    return created_at + hide_release


@closed_means_closed
def may_hide_from_holder(
    actor: Actor, dossier: DossierState, document: DocumentState, now: datetime
) -> Decision:
    """HD-1, HD-2: only the author, a professional, hides a document from the holder, once,
    before the holder has read it; a hidden or released document is never hidden again."""
    decision = may_show_to_holder(actor, dossier, document)
    if not decision.allowed:
        return decision
    if hidden_from_holder(document, now):
        return Decision.deny("already_hidden")
    if document.hidden_once:
        return Decision.deny("already_released")
    if document.read_by_holder:
        return Decision.deny("read_by_holder")
    return decision


@closed_means_closed
def may_show_to_holder(actor: Actor, dossier: DossierState, document: DocumentState) -> Decision:
    """HD-1: the author releases the document to the holder before the delay runs out."""
    if actor.principal in dossier.bans:
        return Decision.deny("banned")
    if INSURER in actor.roles or actor.kind != "professional":
        return Decision.deny("no_professional_capacity")
    if actor.principal != document.author:
        return Decision.deny("not_author")
    return Decision.allow("author")


# --- emergency --------------------------------------------------------------------------------


@closed_means_closed
def may_open_emergency(actor: Actor, dossier: DossierState, now: datetime) -> Decision:
    """EM-1: a professional (SAMU regulator included) opens emergency access.

    ``now`` is taken like every time-bound decision; the outcome does not depend on it yet.
    The stated reason is checked by the wire model (EM-4): this layer cannot judge its truth.
    """
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


@closed_means_closed
def may_read_log(actor: Actor, dossier: DossierState, acted: bool = True) -> Decision:
    """TR-3: basis ``author`` means "only the entries of the actor's own actions". ``acted``
    says whether the log holds an allowed action of the actor's (RD-12)."""
    if actor.principal in dossier.bans:
        return Decision.deny("banned")
    if INSURER in actor.roles:
        return Decision.deny("insurer_excluded")
    if actor.principal == dossier.holder or actor.principal in dossier.representatives:
        return Decision.allow("holder" if actor.principal == dossier.holder else "representative")
    if actor.kind != "professional":
        return no_capacity(actor)
    basis = standing(actor, dossier)
    if basis in FULL_BASES:
        return Decision.allow(basis)
    if basis is None and not acted:
        return Decision.deny("no_grant")  # RD-12: no right, no trace of the dossier
    return Decision.allow("author")


def log_visibility(actor: Actor, dossier: DossierState | None, acted: bool = True) -> LogVisibility:
    """TR-3: which entries of the access log ``actor`` reads."""
    decision = may_read_log(actor, dossier, acted)
    if not decision.allowed:
        return "none"
    return "own" if decision.basis == "author" else "all"


def notify_after(actor: Actor, dossier: DossierState, decision: Decision) -> frozenset[str]:
    """W-4, TR-5, EM-3: who is informed of an allowed access by a professional.

    Only the holder (not representatives): a notification naming the professional could reveal a
    document the holder keeps from them (RD-8).
    """
    if not decision.allowed or decision.basis is None or decision.basis in HOLDER_BASES:
        return frozenset()
    told = {dossier.holder}
    if decision.basis == "emergency" and dossier.medecin_traitant is not None:
        told.add(dossier.medecin_traitant)
    told.discard(actor.principal)
    return frozenset(told)


def may_link_message_to(recipient_professional: str, dossier: DossierState | None) -> Decision:
    """MS-2, MS-3: a dossier-linked message may not involve a professional the holder banned,
    whether or not they have a device, while the dossier's record exists (closed included).

    An organisation recipient is checked member by member by the caller.
    """
    if dossier is None:
        return unavailable(dossier)
    if recipient_professional in dossier.bans:
        return Decision.deny("patient_opposed")
    return Decision.allow(None)


def may_receive_linked(recipient: Actor) -> Decision:
    """RD-11: no dossier-linked message to an insurer, directly or through an organisation
    (the caller checks an organisation's members one by one)."""
    if INSURER in recipient.roles:
        return Decision.deny("recipient_excluded")
    return Decision.allow(None)
