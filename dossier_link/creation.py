"""Creating a dossier and the objection that prevents it (CR-1..CR-5, CR-9, ID-4), decided by
``consent`` on the holder's verified birth date and live recorded representatives."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from dossier_link import consent
from dossier_link.access_log import GENESIS
from dossier_link.changes import Change, Changes, DossierSettings
from dossier_link.errors import DossierExists, refusal
from dossier_link.majority import BirthDate, check_birth_date, is_minor
from dossier_link.models import (
    ConsentRecord,
    CreateDossierRequest,
    DossierRecord,
    DossierSummary,
    OperatorCreateDossierRequest,
)
from dossier_link.policy import Actor, Decision, Protection
from dossier_link.store import DossierStore
from dossier_link.summary import summary_of
from messaging.errors import InvalidRequest
from messaging.identifiers import InvalidIns
from messaging.representations import live_representatives
from messaging.timeutil import utc

OPERATOR = "operator"


class Identities(Protocol):
    """The verified identity the operator recorded (ID-4)."""

    async def recorded_birth_date(self, principal: str) -> str | None:
        """The birth date recorded with ``principal``, if it is a registered patient with one."""
        ...

    async def registered_patient(self, principal: str) -> bool:
        """Whether ``principal`` is a registered ``patient:`` principal."""
        ...


class DossierCreation:
    def __init__(
        self,
        changes: Changes,
        store: DossierStore,
        identities: Identities,
        settings: DossierSettings,
    ) -> None:
        self._changes = changes
        self._store = store
        self._identities = identities
        self._settings = settings

    async def create(
        self, actor: Actor, request: CreateDossierRequest, now: datetime
    ) -> DossierSummary:
        snapshot, representations = await self._store.load_with_representations(request.ins)
        live = live_representatives(representations, now)
        regime = self._settings.regime
        holder = f"patient:{request.ins}"
        initiated = consent.may_initiate(actor, holder, regime, live)
        if not initiated.allowed:
            raise refusal(initiated.code, f"the dossier cannot be created: {initiated.code}")
        birth, attested = await self._birth_date(actor, request.ins, request.birth_date, now)
        given = request.consent
        decision = consent.may_create(
            consent.ConsentRecordInput(
                ins=request.ins,
                protection=request.protection,
                given_by=None if given is None else given.given_by,
                name=None if given is None else given.name,
                representative=None if given is None else given.representative,
                holder_opinion=None if given is None else given.holder_opinion,
                objection_registered=await self._store.objection(request.ins) is not None,
            ),
            actor,
            birth,
            now,
            regime,
            live,
        )
        if not decision.allowed:
            raise refusal(decision.code, f"the dossier cannot be created: {decision.code}")
        record = _new_record(
            request.ins,
            birth,
            request.protection,
            ConsentRecord(
                **(given.model_dump() if given is not None else {"given_by": None, "name": None}),
                collected_by=actor.principal if actor.kind == "professional" else None,
                regime=regime,
                at=utc(now),
            ),
            now,
        )
        change = Change(record)
        change.log(actor, "create", decision, now)
        change.log(actor, "consent", decision, now, detail=given.given_by if given else None)
        if attested:
            change.log(actor, "attest_birth_date", decision, now)  # ID-4
        if actor.kind == "professional":
            # Issue 7: the holder (and their representatives) learn who collected the consent.
            change.notify(
                {holder, *live},
                "dossier.created",
                hold=True,  # as soon as the holder has a device, if they have none yet
                collected_by=actor.principal,
                at=utc(now),
            )
        if snapshot is not None or not await self._changes.commit(0, change):
            raise DossierExists(f"a dossier already exists for INS {request.ins}")
        return summary_of(change.record, representations, actor, now)

    async def create_by_operator(
        self, request: OperatorCreateDossierRequest, now: datetime
    ) -> DossierSummary:
        """CR-5, CR-9: in the opt-out regime the operator creates dossiers unless the holder
        objected."""
        if self._settings.regime != "opt_out":
            raise refusal("consent_missing", "this deployment creates dossiers on express consent")
        recorded = await self._identities.recorded_birth_date(f"patient:{request.ins}")
        if recorded is not None and request.birth_date not in (None, recorded):
            raise InvalidRequest(
                "birth_date differs from the recorded identity", field="birth_date"
            )
        text = recorded or request.birth_date
        if text is None:
            raise InvalidRequest(
                "the holder's birth date is not recorded: give it", field="birth_date"
            )
        birth = BirthDate.parse(text)
        _check(request.ins, birth, now)
        if await self._store.objection(request.ins) is not None:
            raise refusal("objection_registered", "the holder objected to the dossier's creation")
        record = _new_record(
            request.ins,
            birth,
            request.protection,
            ConsentRecord(given_by=None, name=None, regime="opt_out", at=utc(now)),
            now,
        )
        change = Change(record)
        change.log(OPERATOR, "create", Decision.allow(None), now, detail="opt_out")
        if not await self._changes.commit(0, change):
            raise DossierExists(f"a dossier already exists for INS {request.ins}")
        holder = Actor(principal=record.holder, kind="patient")
        return summary_of(change.record, (), holder, now)

    async def set_objection(self, actor: Actor, ins: str, objected: bool, now: datetime) -> None:
        """CR-5, CR-8, CR-9: the adult holder or a live recorded representative registers or
        withdraws an objection, only while no dossier exists (then ``dossier_exists``)."""
        snapshot, representations = await self._store.load_with_representations(ins)
        holder = f"patient:{ins}"
        if actor.principal == holder:
            recorded = await self._identities.recorded_birth_date(holder)
            if recorded is None:
                raise refusal("birth_date_unverified", "the holder's birth date is not recorded")
            if is_minor(BirthDate.parse(recorded), now):
                raise refusal("minor_holder", "a minor's objection is their representative's")
        elif actor.principal not in live_representatives(representations, now):
            code = "representation_unverified" if actor.kind == "patient" else "holder_only"
            raise refusal(code, "only the holder or a recorded representative objects")
        if snapshot is not None:
            raise DossierExists("the dossier exists: close it instead (CR-6)")
        if objected:
            await self._store.set_objection(ins, actor.principal, utc(now))
        else:
            await self._store.withdraw_objection(ins)

    async def _birth_date(
        self, actor: Actor, ins: str, given: str | None, now: datetime
    ) -> tuple[BirthDate, bool]:
        """ID-4: the recorded birth date, or one a professional attests for a patient whose
        birth date is not recorded. Returns it and whether it was attested."""
        recorded = await self._identities.recorded_birth_date(f"patient:{ins}")
        if recorded is not None:
            if given is not None and given != recorded:
                raise refusal("birth_date_unverified", "birth_date differs from the recorded one")
            birth, attested = BirthDate.parse(recorded), False
        elif actor.kind != "professional":
            raise refusal("birth_date_unverified", "only the operator or a professional states it")
        elif given is None:
            raise InvalidRequest("attest the holder's birth date", field="birth_date")
        else:
            birth, attested = BirthDate.parse(given), True
        _check(ins, birth, now)
        return birth, attested


def _check(ins: str, birth: BirthDate, now: datetime) -> None:
    try:
        check_birth_date(ins, birth, now)
    except InvalidIns as exc:
        raise InvalidRequest(str(exc), field="birth_date") from exc


def _new_record(
    ins: str,
    birth: BirthDate,
    protection: Protection | None,
    consent_record: ConsentRecord,
    now: datetime,
) -> DossierRecord:
    return DossierRecord(
        ins=ins,
        holder=f"patient:{ins}",
        birth_date=str(birth),
        protection=protection,
        consent=consent_record,
        created_at=utc(now),
        log_head=GENESIS,
    )
