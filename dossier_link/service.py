"""The operations on a dossier (DESIGN §4, Dossier), each one decided by ``policy`` and logged:
creation, the holder's management, emergency access, the access log, closure and purge. Its
documents are ``documents.DossierDocuments``, reached as ``DossierService.documents``, and the
dossier side of linked messages is ``linker.Linker``, reached as ``DossierService.linker``.

The store runs in-process behind this boundary (it could be split out as the certified host it
stands for); nothing here knows HTTP.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar

from dossier_link import consent, policy
from dossier_link.access_log import GENESIS, chained, verify_chain
from dossier_link.changes import (
    Change,
    Changes,
    DeviceKeys,
    DossierSettings,
    Notifier,
    tell_holder,
)
from dossier_link.checkpoints import CheckpointSigner
from dossier_link.documents import DossierDocuments
from dossier_link.errors import DossierExists, DossierNotFound, refusal
from dossier_link.linker import Linker
from dossier_link.models import (
    AccessLog,
    ConsentRecord,
    ConsentRequest,
    CreateDossierRequest,
    DossierRecord,
    DossierSummary,
    EmergencyAccessResponse,
    EmergencyRecord,
    GrantRecord,
    GrantRequest,
    GrantView,
    OperatorCreateDossierRequest,
)
from dossier_link.policy import Actor, Decision
from dossier_link.store import DossierStore, Snapshot
from messaging import crypto
from messaging.errors import InvalidRequest
from messaging.identifiers import InvalidIns, check_ins_birth_date, latest_birth_month
from messaging.timeutil import parse_utc, utc

V = TypeVar("V")

OPERATOR = "operator"
SYSTEM = "system"


class DossierService:
    def __init__(
        self,
        store: DossierStore,
        notifier: Notifier,
        device_keys: DeviceKeys,
        dossier_key: crypto.BoxKey,
        checkpoints: CheckpointSigner,
        settings: DossierSettings,
    ) -> None:
        self.store = store
        self.changes = Changes(store, notifier, checkpoints)
        self._checkpoints = checkpoints
        self.settings = settings
        self.documents = DossierDocuments(self.changes, store, device_keys, dossier_key, settings)
        self.linker = Linker(self.changes, store, settings, dossier_key)

    # --- creation (CR-1..CR-5) ----------------------------------------------------------------

    async def create(
        self, actor: Actor, request: CreateDossierRequest, now: datetime
    ) -> DossierSummary:
        _check_birth_date(request.ins, request.birth_date)
        # The consent as given (every member None without one), judged and then recorded as is.
        given = (
            request.consent.model_dump()
            if request.consent
            else dict.fromkeys(ConsentRequest.model_fields)
        )
        decision = consent.may_create(
            consent.ConsentRecordInput(
                ins=request.ins,
                protection=request.protection,
                objection_registered=await self.store.objection(request.ins) is not None,
                **given,
            ),
            actor,
            request.birth_date,
            now,
            self.settings.regime,
        )
        if not decision.allowed:
            raise refusal(decision.code, f"the dossier cannot be created: {decision.code}")
        record = self._new_record(
            request.ins,
            request.birth_date,
            request.protection,
            ConsentRecord(
                **given,
                collected_by=actor.principal if actor.kind == "professional" else None,
                regime=self.settings.regime,
                at=utc(now),
            ),
            now,
        )
        change = Change(record)
        change.log(actor, "create", decision, now)
        change.log(actor, "consent", decision, now, detail=given["given_by"])
        return await self._create(change, actor, now)

    async def create_by_operator(
        self, request: OperatorCreateDossierRequest, now: datetime
    ) -> DossierSummary:
        """CR-5: in the opt-out regime the operator creates dossiers unless the holder objected."""
        if self.settings.regime != "opt_out":
            raise refusal("consent_missing", "this deployment creates dossiers on express consent")
        _check_birth_date(request.ins, request.birth_date)
        if await self.store.objection(request.ins) is not None:
            raise refusal("objection_registered", "the holder objected to the dossier's creation")
        record = self._new_record(
            request.ins,
            request.birth_date,
            request.protection,
            ConsentRecord(given_by=None, name=None, regime="opt_out", at=utc(now)),
            now,
        )
        change = Change(record)
        change.log(OPERATOR, "create", Decision.allow(None), now, detail="opt_out")
        return await self._create(change, None, now)

    async def set_objection(self, actor: Actor, ins: str, objected: bool, now: datetime) -> None:
        """CR-5: the holder, or a representative, registers or withdraws an objection.

        Before a dossier exists no record says who represents a minor holder, so a person (a
        ``patient:`` principal) who objects for a minor, by the birth year and month in the INS,
        is taken at their word and recorded: an objection can only prevent a dossier, never
        expose one. Only the holder or whoever registered it may withdraw it.
        """
        holder = f"patient:{ins}"
        if objected:
            minor = consent.age_on(latest_birth_month(ins, now.date()), now.date()) < (
                consent.ADULT_AGE
            )
            # CR-2, CR-3: an adult objects personally; a minor's legal representative for them.
            if actor.principal != holder and not (minor and actor.kind == "patient"):
                raise refusal("holder_only", "only the holder or their representative objects")
            await self.store.set_objection(ins, actor.principal, utc(now))
            return
        registered_by = await self.store.objection(ins)
        if registered_by is not None and actor.principal not in (holder, registered_by):
            raise refusal("holder_only", "only the holder or the objector withdraws it")
        await self.store.withdraw_objection(ins)

    def _new_record(
        self,
        ins: str,
        birth_date: Any,
        protection: Any,
        consent_record: ConsentRecord,
        now: datetime,
    ) -> DossierRecord:
        representative = consent_record.representative
        return DossierRecord(
            ins=ins,
            holder=f"patient:{ins}",
            birth_date=birth_date,
            protection=protection,
            representatives=[representative] if representative else [],
            consent=consent_record,
            created_at=utc(now),
            log_head=GENESIS,
        )

    async def _create(self, change: Change, actor: Actor | None, now: datetime) -> DossierSummary:
        if not await self.changes.commit(0, change):
            raise DossierExists(f"a dossier already exists for INS {change.record.ins}")
        viewer = actor or Actor(principal=change.record.holder, kind="patient")
        return _summary(change.record, viewer, now)

    # --- viewing and managing -----------------------------------------------------------------

    async def summary(self, actor: Actor, ins: str, now: datetime) -> DossierSummary:
        def decide(snapshot: Snapshot) -> Change:
            change = Change(snapshot.record)
            state = snapshot.record.state(now)
            decision = policy.may_list(actor, state, now)
            change.log(actor, "view", decision, now)
            if not decision.allowed:
                return change.refuse(decision)
            tell_holder(change, actor, state, decision, "view", now)  # TR-5
            return change

        change = await self.changes.apply(ins, decide)
        return _summary(change.record, actor, now)

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
            decision = judge(snapshot.record.state(now))
            change = Change(snapshot.record)
            change.log(actor, action, decision, now, **logged)
            if not decision.allowed:
                return change.refuse(decision)
            change.record = snapshot.record.model_copy(update=update(snapshot.record))
            return change

        return _summary((await self.changes.apply(ins, decide)).record, actor, now)

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
                "emergencies": _without(record.emergencies, professional),
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

        def decide(snapshot: Snapshot) -> Change:
            state = snapshot.record.state(now)
            decision = policy.may_open_emergency(actor, state, now)
            change = Change(snapshot.record)
            change.log(
                actor,
                "emergency_access",
                decision,
                now,
                detail=reason,
                expires_at=utc(access.expires_at) if decision.allowed else None,
            )
            if not decision.allowed:
                return change.refuse(decision)
            emergencies = dict(snapshot.record.emergencies)
            emergencies[actor.principal] = EmergencyRecord(
                expires_at=utc(access.expires_at), reason=reason
            )
            change.record = snapshot.record.model_copy(update={"emergencies": emergencies})
            told = {state.holder}
            if state.medecin_traitant is not None:
                told.add(state.medecin_traitant)  # EM-3
            change.notify(
                told - {actor.principal},
                "dossier.emergency_access",
                professional=actor.principal,
                reason=reason,
                expires_at=utc(access.expires_at),
                at=utc(now),
            )
            return change

        await self.changes.apply(ins, decide)
        return EmergencyAccessResponse(
            professional=actor.principal, expires_at=utc(access.expires_at)
        )

    # --- traces (TR-1..TR-3) ------------------------------------------------------------------

    async def access_log(self, actor: Actor, ins: str, now: datetime) -> AccessLog:
        snapshot = await self.store.load(ins)
        if snapshot is None:
            raise DossierNotFound(f"no dossier for INS {ins}")
        decision = policy.may_read_log(actor, snapshot.record.state(now))
        if not decision.allowed:
            # TR-1: the refusal is an action on the dossier like any other. (Allowed readings
            # of the log are not logged: each one would lengthen what it reads.)
            def refuse(current: Snapshot) -> Change:
                change = Change(current.record)
                change.log(actor, "read_log", decision, now)
                return change.refuse(decision)

            await self.changes.apply(ins, refuse)
        current, entries = await self.store.load_with_log(ins)
        if current is None:
            raise DossierNotFound(f"no dossier for INS {ins}")
        # The checkpoint signs the recorded head, read with the entries: a log damaged in the
        # store then fails against it, on the server (chain_ok) and for every reader.
        record = current.record
        checkpoint = self._checkpoints.sign(ins, record.log_seq, record.log_head)
        if policy.log_visibility(actor, record.state(now)) == "own":
            own = [e for e in entries if e.actor == actor.principal]
            return AccessLog(scope="own", entries=own, checkpoint=checkpoint)
        complete = bool(entries) and (entries[-1].hash, entries[-1].seq) == (
            record.log_head,
            record.log_seq,
        )
        chain = verify_chain([e.model_dump() for e in entries])
        return AccessLog(
            scope="all", entries=entries, chain_ok=chain.ok and complete, checkpoint=checkpoint
        )

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
            state = snapshot.record.state(now)
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
        return _summary(change.record, actor, now)

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


def _check_birth_date(ins: str, birth_date: Any) -> None:
    try:
        check_ins_birth_date(ins, birth_date)
    except InvalidIns as exc:
        raise InvalidRequest(str(exc), field="birth_date") from exc


def _summary(record: DossierRecord, viewer: Actor, now: datetime) -> DossierSummary:
    state = record.state(now)
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
        emergency_opposed=record.emergency_opposed if holder_view else None,
        consent=record.consent.model_dump(exclude_none=True) if holder_view else None,
    )
