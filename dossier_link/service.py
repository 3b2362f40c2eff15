"""The operations on a dossier (DESIGN §4, Dossier), each one decided by ``policy`` and logged:
the holder's management, emergency access, closure and purge. Creation is ``creation``, the
documents ``documents``, the dossier side of linked messages ``linker``, the access log
``traces``, the operator's representations ``representations``; all are reached through
``DossierService``.

The store runs in-process behind this boundary (it could be split out as the certified host it
stands for); nothing here knows HTTP.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar

from dossier_link import policy
from dossier_link.access_log import chained
from dossier_link.changes import (
    Change,
    Changes,
    DeviceKeys,
    DossierSettings,
    Notifier,
    tell_holder,
)
from dossier_link.checkpoints import CheckpointSigner
from dossier_link.creation import DossierCreation, Identities
from dossier_link.documents import DossierDocuments
from dossier_link.linker import Linker
from dossier_link.models import (
    DossierRecord,
    DossierSummary,
    EmergencyAccessResponse,
    EmergencyRecord,
    GrantRecord,
    GrantRequest,
)
from dossier_link.policy import Actor, Decision
from dossier_link.representatives import DossierRepresentations
from dossier_link.store import DossierStore, Snapshot
from dossier_link.summary import summary_of
from dossier_link.traces import DossierTraces
from messaging import crypto
from messaging.errors import NotFound
from messaging.representation_store import RepresentationStore
from messaging.timeutil import parse_utc, utc

V = TypeVar("V")

SYSTEM = "system"


class DossierService:
    def __init__(
        self,
        store: DossierStore,
        representations: RepresentationStore,
        identities: Identities,
        notifier: Notifier,
        device_keys: DeviceKeys,
        dossier_key: crypto.BoxKey,
        checkpoints: CheckpointSigner,
        settings: DossierSettings,
    ) -> None:
        self.store = store
        self.changes = Changes(store, notifier, checkpoints)
        self.settings = settings
        self.creation = DossierCreation(self.changes, store, identities, settings)
        self.documents = DossierDocuments(self.changes, store, device_keys, dossier_key, settings)
        self.linker = Linker(self.changes, store, settings, dossier_key)
        self.traces = DossierTraces(self.changes, store, checkpoints)
        self.representations = DossierRepresentations(self.changes, representations, identities)

    # --- viewing and managing -----------------------------------------------------------------

    async def summary(self, actor: Actor, ins: str, now: datetime) -> DossierSummary:
        def decide(snapshot: Snapshot) -> Change:
            change = Change(snapshot.record)
            state = snapshot.state(now)
            decision = policy.may_list(actor, state, now)
            change.log(actor, "view", decision, now)
            if not decision.allowed:
                return change.refuse(decision)
            tell_holder(change, actor, state, decision, "view", now)  # TR-5
            return change

        change = await self.changes.apply(ins, decide)
        return summary_of(change.record, change.representations, actor, now)

    async def _manage(
        self,
        actor: Actor,
        ins: str,
        action: str,
        now: datetime,
        judge: Callable[[policy.DossierState], Decision],
        update: Callable[[DossierRecord], dict[str, Any]],
        **logged: Any,
    ) -> DossierSummary:
        """One management action: decide with ``judge``, log, then apply ``update``."""

        def decide(snapshot: Snapshot) -> Change:
            decision = judge(snapshot.state(now))
            change = Change(snapshot.record)
            change.log(actor, action, decision, now, **logged)
            if not decision.allowed:
                return change.refuse(decision)
            change.record = snapshot.record.model_copy(update=update(snapshot.record))
            return change

        change = await self.changes.apply(ins, decide)
        return summary_of(change.record, change.representations, actor, now)

    async def set_medecin_traitant(
        self, actor: Actor, ins: str, professional: Actor, now: datetime
    ) -> DossierSummary:
        return await self._manage(
            actor,
            ins,
            "set_medecin_traitant",
            now,
            lambda state: policy.may_set_medecin_traitant(actor, state, professional),
            lambda record: {"medecin_traitant": professional.principal},
            target=professional.principal,
        )

    async def grant(
        self, actor: Actor, ins: str, grantee: Actor, request: GrantRequest, now: datetime
    ) -> DossierSummary:
        # The holder's own act: an express grant in the sense of RD-6.
        grant = GrantRecord(level=request.level, basis=request.basis, express=True, at=utc(now))
        return await self._manage(
            actor,
            ins,
            "grant",
            now,
            lambda state: policy.may_grant(actor, state, grantee, request.basis),
            lambda record: {"grants": {**record.grants, grantee.principal: grant}},
            target=grantee.principal,
            detail=request.level,
        )

    async def withdraw_grant(
        self, actor: Actor, ins: str, professional: str, now: datetime
    ) -> DossierSummary:
        return await self._manage(
            actor,
            ins,
            "withdraw_grant",
            now,
            lambda state: policy.may_manage(actor, state),
            lambda record: {"grants": _without(record.grants, professional)},
            target=professional,
        )

    async def ban(self, actor: Actor, ins: str, professional: str, now: datetime) -> DossierSummary:
        return await self._manage(
            actor,
            ins,
            "ban",
            now,
            lambda state: policy.may_ban(actor, state, professional),
            lambda record: {
                "bans": sorted({*record.bans, professional}),
                # RD-4: the ban overrides every basis; none is kept to revive silently.
                "grants": _without(record.grants, professional),
                "emergencies": {
                    i: e for i, e in record.emergencies.items() if e.professional != professional
                },
            },
            target=professional,
        )

    async def lift_ban(
        self, actor: Actor, ins: str, professional: str, now: datetime
    ) -> DossierSummary:
        return await self._manage(
            actor,
            ins,
            "lift_ban",
            now,
            lambda state: policy.may_manage(actor, state),
            lambda record: {"bans": [p for p in record.bans if p != professional]},
            target=professional,
        )

    # --- emergency (EM-1..EM-3) ---------------------------------------------------------------

    async def set_emergency_opposition(
        self, actor: Actor, ins: str, opposed: bool, now: datetime
    ) -> DossierSummary:
        # An opposition ends the emergency accesses already open, like a withdrawn grant.
        return await self._manage(
            actor,
            ins,
            "oppose_emergency" if opposed else "withdraw_emergency_opposition",
            now,
            lambda state: policy.may_manage(actor, state),
            lambda record: (
                {"emergency_opposed": True, "emergencies": {}}
                if opposed
                else {"emergency_opposed": False}
            ),
        )

    async def open_emergency(
        self, actor: Actor, ins: str, reason: str, now: datetime
    ) -> EmergencyAccessResponse:
        access = policy.emergency_access(actor.principal, now, self.settings.emergency_duration)
        opened: list[str] = []

        def decide(snapshot: Snapshot) -> Change:
            state = snapshot.state(now)
            decision = policy.may_open_emergency(actor, state, now)
            change = Change(snapshot.record)
            # EM-4: each access is its own record, named by the log entry that opens it.
            emergency_id = f"em_{snapshot.record.log_seq + 1}"
            change.log(
                actor,
                "emergency_access",
                decision,
                now,
                detail=reason,
                emergency=emergency_id if decision.allowed else None,
                expires_at=utc(access.expires_at) if decision.allowed else None,
            )
            if not decision.allowed:
                return change.refuse(decision)
            emergencies = dict(snapshot.record.emergencies)
            emergencies[emergency_id] = EmergencyRecord(
                professional=actor.principal,
                reason=reason,
                at=utc(now),
                expires_at=utc(access.expires_at),
            )
            change.record = snapshot.record.model_copy(update={"emergencies": emergencies})
            told = {state.holder}
            if state.medecin_traitant is not None:
                told.add(state.medecin_traitant)  # EM-3
            change.notify(
                told - {actor.principal},
                "dossier.emergency_access",
                emergency=emergency_id,
                professional=actor.principal,
                reason=reason,
                expires_at=utc(access.expires_at),
                at=utc(now),
            )
            opened[:] = [emergency_id]
            return change

        await self.changes.apply(ins, decide)
        return EmergencyAccessResponse(
            id=opened[0], professional=actor.principal, expires_at=utc(access.expires_at)
        )

    async def end_emergency(
        self, actor: Actor, ins: str, emergency_id: str, now: datetime
    ) -> DossierSummary:
        """EM-4, TR-4: the holder (or a representative) ends one open emergency access."""

        def decide(snapshot: Snapshot) -> Change:
            decision = policy.may_manage(actor, snapshot.state(now))
            change = Change(snapshot.record)
            change.log(actor, "end_emergency_access", decision, now, target=emergency_id)
            if not decision.allowed:
                return change.refuse(decision)
            if emergency_id not in snapshot.record.emergencies:
                raise NotFound(f"no emergency access {emergency_id} in this dossier")
            emergencies = _without(snapshot.record.emergencies, emergency_id)
            change.record = snapshot.record.model_copy(update={"emergencies": emergencies})
            return change

        change = await self.changes.apply(ins, decide)
        return summary_of(change.record, change.representations, actor, now)

    # --- closure and purge (CR-6) -------------------------------------------------------------

    async def close(
        self, actor: Actor, ins: str, deletion_requested: bool, now: datetime
    ) -> DossierSummary:
        delay = (
            self.settings.deletion_delay
            if deletion_requested
            else self.settings.retention_after_close
        )
        purge_at = now + delay

        def decide(snapshot: Snapshot) -> Change:
            state = snapshot.state(now)
            decision = policy.may_close(actor, state)
            if deletion_requested and state.status == "closed":
                # CR-6: deletion may be asked after closure; the purge only comes closer.
                decision = policy.may_request_deletion(actor, state)
            change = Change(snapshot.record)
            change.log(
                actor,
                "close",
                decision,
                now,
                detail="deletion_requested" if deletion_requested else None,
                purge_at=utc(purge_at) if decision.allowed else None,
            )
            if not decision.allowed:
                return change.refuse(decision)
            record = snapshot.record
            earlier = min(purge_at, parse_utc(record.purge_at)) if record.purge_at else purge_at
            change.record = record.model_copy(
                update={
                    "status": "closed",
                    "closed_at": record.closed_at or utc(now),
                    "purge_at": utc(earlier),
                }
            )
            return change

        change = await self.changes.apply(ins, decide)
        scheduled = parse_utc(change.record.purge_at or utc(purge_at))
        await self.store.schedule_purge(ins, int(scheduled.timestamp() * 1000))
        return summary_of(change.record, change.representations, actor, now)

    async def purge_due(self, now: datetime) -> list[str]:
        """Purge every closed dossier whose retention has elapsed; returns their INS."""
        purged = []
        for ins in await self.store.due_purges(int(now.timestamp() * 1000)):
            snapshot = await self.store.load(ins)
            if snapshot is None or snapshot.record.status != "closed":
                await self.store.unschedule(ins)
                continue
            record = snapshot.record
            tombstone = chained(
                record.log_head,
                record.log_seq + 1,
                {
                    "at": utc(now),
                    "actor": SYSTEM,
                    "action": "purge",
                    "outcome": "allowed",
                    "reason": "retention_elapsed",
                    "closed_at": record.closed_at,
                },
            )
            if await self.store.purge(snapshot, tombstone):
                purged.append(ins)
        return purged


def _without(entries: Mapping[str, V], principal: str) -> dict[str, V]:
    return {p: value for p, value in entries.items() if p != principal}
