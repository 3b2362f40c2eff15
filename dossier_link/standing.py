"""Who the caller is to a dossier: the steps every decision of ``policy`` and ``holder_rights``
shares. Pure, over the frozen snapshots of ``state``.

A ``patient:`` caller other than the holder can only act as the holder's representative, so
without a live recorded representation it is refused with ``representation_unverified``
(DESIGN §4): a claim is never enough.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from functools import update_wrapper
from typing import Concatenate, ParamSpec

from dossier_link.state import (
    EXPRESS_ONLY_ROLES,
    INSURER,
    Actor,
    Basis,
    Decision,
    DossierState,
    Grant,
)

P = ParamSpec("P")

# Bases that read everything a professional may read, masked documents included (RD-2, RD-3).
FULL_BASES: frozenset[Basis] = frozenset({"medecin_traitant", "extended"})
HOLDER_BASES: frozenset[Basis] = frozenset({"holder", "representative"})


def unavailable(dossier: DossierState | None) -> Decision:
    return Decision.deny("dossier_not_found" if dossier is None else "dossier_closed")


def holder_capacity(actor: Actor, dossier: DossierState) -> Basis | None:
    if actor.principal == dossier.holder:
        return "holder"
    if actor.principal in dossier.representatives:
        return "representative"
    return None


def is_legal_representative(actor: Actor, dossier: DossierState) -> bool:
    """RD-10 concerns legal representatives of minors, not protection persons."""
    return (
        actor.principal in dossier.representatives
        and actor.principal not in dossier.protection_persons
    )


def no_capacity(actor: Actor) -> Decision:
    """The refusal of a caller who is neither the holder, a representative nor a professional."""
    if actor.kind == "patient":
        return Decision.deny("representation_unverified")
    return Decision.deny("no_professional_capacity")


def grant_basis(grant: Grant) -> Basis:
    if grant.level == "extended":
        return "extended"
    return "care_team" if grant.basis == "care_team" else "grant"


def standing(actor: Actor, dossier: DossierState) -> Basis | None:
    """A professional's lasting basis (MT or grant), RD-6 applied; emergency is separate."""
    grant = dossier.grants.get(actor.principal)
    if actor.roles & EXPRESS_ONLY_ROLES:
        if grant is not None and grant.express and grant.basis == "consent":
            return grant_basis(grant)
        return None
    if actor.principal == dossier.medecin_traitant:
        return "medecin_traitant"
    return None if grant is None else grant_basis(grant)


def access(actor: Actor, dossier: DossierState, now: datetime) -> Decision:
    """Dossier-level access of an open dossier, before any per-document filter."""
    if actor.principal in dossier.bans:
        return Decision.deny("banned")  # RD-4, W-3: before every basis
    if INSURER in actor.roles:
        return Decision.deny("insurer_excluded")  # W-6, RD-7
    capacity = holder_capacity(actor, dossier)
    if capacity is not None:
        return Decision.allow(capacity)  # W-5, RD-8
    if actor.kind != "professional":
        return no_capacity(actor)  # W-6
    basis = standing(actor, dossier)
    if basis is not None:
        return Decision.allow(basis)  # W-2, RD-1..RD-3
    if actor.roles & EXPRESS_ONLY_ROLES:
        return Decision.deny("express_grant_required")  # RD-6
    emergency = dossier.emergency_accesses.get(actor.principal)
    if emergency is not None and now < emergency.expires_at:  # EM-2: expiry is exclusive
        if dossier.emergency_opposed:
            return Decision.deny("emergency_opposed")
        return Decision.allow("emergency")  # EM-1
    return Decision.deny("no_grant")  # RD-1


def closed_means_closed(
    decide: Callable[Concatenate[Actor, DossierState, P], Decision],
) -> Callable[Concatenate[Actor, DossierState | None, P], Decision]:
    """CR-6 and RD-12 around a decision on an open dossier.

    Nobody acts on a closed dossier, but a caller who would be refused on the open dossier gets
    that same refusal rather than ``dossier_closed``: it is also what it gets for a dossier that
    does not exist (``Changes`` decides those on a blank dossier), so the answer says nothing of
    the dossier's existence. Whoever had a right hears ``dossier_closed``.
    """

    def decision(
        actor: Actor, dossier: DossierState | None, /, *args: P.args, **kwargs: P.kwargs
    ) -> Decision:
        if dossier is None:
            return unavailable(dossier)
        if dossier.status == "open":
            return decide(actor, dossier, *args, **kwargs)
        on_open = decide(actor, replace(dossier, status="open"), *args, **kwargs)
        return on_open if not on_open.allowed else unavailable(dossier)

    update_wrapper(decision, decide)
    return decision
