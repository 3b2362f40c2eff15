"""The holder's rights over their dossier, exercised by the holder or a live recorded
representative: masking, grants, bans, the MT, emergency opposition, closure (MK-1, RD-3, RD-4,
RD-9, TR-4, EM-1, CR-6). Pure decisions, like ``policy``.

CR-8: while the holder is a minor these acts are the legal representative's; the minor holder
is refused with ``minor_holder``. A protection person acts for the adult holder beside them.
"""

from __future__ import annotations

from dossier_link.standing import closed_means_closed, holder_capacity, no_capacity, unavailable
from dossier_link.state import (
    EXPRESS_ONLY_ROLES,
    INSURER,
    Actor,
    Decision,
    DossierState,
    GrantBasis,
)


def _manage(actor: Actor, dossier: DossierState) -> Decision:
    capacity = holder_capacity(actor, dossier)
    if capacity == "holder" and dossier.holder_minor:
        return Decision.deny("minor_holder")  # CR-8
    if capacity is not None:
        return Decision.allow(capacity)
    if actor.kind == "patient":
        return no_capacity(actor)
    return Decision.deny("holder_only")


@closed_means_closed
def may_manage(actor: Actor, dossier: DossierState) -> Decision:
    """MK-1, RD-9, TR-4: mask or unmask, withdraw a grant, lift a ban, (un)oppose emergencies,
    end an emergency access (EM-4)."""
    return _manage(actor, dossier)


def may_close(actor: Actor, dossier: DossierState | None) -> Decision:
    """CR-6: the holder or a representative closes the dossier."""
    return may_manage(actor, dossier)


def may_request_deletion(actor: Actor, dossier: DossierState | None) -> Decision:
    """CR-6: the holder or a representative asks for deletion, before or after closure."""
    if dossier is None:
        return unavailable(dossier)
    return _manage(actor, dossier)


@closed_means_closed
def may_grant(
    actor: Actor, dossier: DossierState, grantee: Actor, basis: GrantBasis = "consent"
) -> Decision:
    """RD-1, RD-3, RD-6, RD-7: may ``actor`` give ``grantee`` access on ``basis``?"""
    managed = _manage(actor, dossier)
    if not managed.allowed:
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


@closed_means_closed
def may_ban(actor: Actor, dossier: DossierState, professional: str) -> Decision:
    """RD-4: the holder bans a professional, but not the current MT."""
    managed = _manage(actor, dossier)
    if not managed.allowed:
        return managed
    if not professional.startswith("rpps:"):
        return Decision.deny("no_professional_capacity")
    if professional == dossier.medecin_traitant:
        return Decision.deny("cannot_ban_medecin_traitant")
    return managed


@closed_means_closed
def may_set_medecin_traitant(actor: Actor, dossier: DossierState, professional: Actor) -> Decision:
    """RD-2, RD-4, RD-6: the holder declares a professional, not banned, as MT."""
    managed = _manage(actor, dossier)
    if not managed.allowed:
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
