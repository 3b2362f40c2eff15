"""The dossier summary as a caller may see it (``GET /v1/dossiers/{ins}``); TR-4's view for the
holder and the representatives."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from dossier_link import policy
from dossier_link.models import DossierRecord, DossierSummary, EmergencyView, GrantView
from dossier_link.policy import Actor
from messaging.representations import Representation
from messaging.timeutil import parse_utc


def summary_of(
    record: DossierRecord,
    representations: Iterable[Representation],
    viewer: Actor,
    now: datetime,
) -> DossierSummary:
    state = record.state(now, representations)
    basis = policy.may_list(viewer, state, now).basis if record.status == "open" else None
    holder_view = viewer.principal == record.holder or viewer.principal in state.representatives
    return DossierSummary(
        ins=record.ins,
        holder=record.holder,
        status=record.status,
        medecin_traitant=record.medecin_traitant,
        your_basis=basis,
        created_at=record.created_at,
        closed_at=record.closed_at,
        grants=[
            GrantView(professional=p, level=g.level, basis=g.basis, at=g.at)
            for p, g in sorted(record.grants.items())
        ]
        if holder_view
        else None,
        bans=list(record.bans) if holder_view else None,
        # TR-4, EM-4: the open emergency accesses are accesses too.
        emergencies=[
            EmergencyView(
                id=i, professional=e.professional, reason=e.reason, expires_at=e.expires_at
            )
            for i, e in sorted(record.emergencies.items())
            if now < parse_utc(e.expires_at)
        ]
        if holder_view
        else None,
        emergency_opposed=record.emergency_opposed if holder_view else None,
        consent=record.consent.model_dump(exclude_none=True) if holder_view else None,
    )
