"""The operator's representations as the dossier sees them (DESIGN §4, CR-3, CR-4, CR-7):
recording one (its end computed from the holder's verified birth date), listing, removing, and
logging every end in the holder's dossier with a notification to the holder.

Rights follow the stored record at every act (``messaging.representations``); the end logged
here is the trace, not the switch: a representation that reached its end has no rights before
the sweep logs it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from dossier_link.changes import Change, Changes
from dossier_link.creation import Identities
from dossier_link.errors import DossierNotFound
from dossier_link.majority import BirthDate, is_minor, majority_at
from dossier_link.policy import Decision
from dossier_link.store import Snapshot
from messaging.errors import InvalidRequest, NotFound
from messaging.identifiers import InvalidIns, validate_ins
from messaging.representation_store import RepresentationStore
from messaging.representations import (
    CreateRepresentationRequest,
    Representation,
    new_representation_id,
)
from messaging.timeutil import parse_utc, utc

OPERATOR = "operator"
EndReason = Literal["removed", "majority", "valid_until"]


class DossierRepresentations:
    def __init__(
        self, changes: Changes, store: RepresentationStore, identities: Identities
    ) -> None:
        self._changes = changes
        self._store = store
        self._identities = identities

    async def record(self, request: CreateRepresentationRequest, now: datetime) -> Representation:
        try:
            validate_ins(request.holder)
        except InvalidIns as exc:
            raise InvalidRequest(str(exc), field="holder") from exc
        holder = f"patient:{request.holder}"
        if request.representative == holder:
            raise InvalidRequest("a holder does not represent themself", field="representative")
        if not await self._identities.registered_patient(request.representative):
            raise InvalidRequest("the representative is not a registered patient principal")
        recorded = await self._identities.recorded_birth_date(holder)
        if recorded is None:
            raise InvalidRequest(
                "record the holder's identity (patient principal with birth_date) first",
                field="holder",
            )
        birth = BirthDate.parse(recorded)
        valid_until = None if request.valid_until is None else parse_utc(request.valid_until)
        if valid_until is not None and valid_until <= now:
            raise InvalidRequest("valid_until is already past", field="valid_until")
        minor = is_minor(birth, now)
        ends: datetime | None
        if request.kind == "legal_representative":
            if not minor:
                raise InvalidRequest("the holder is of age: no legal representative (CR-3)")
            majority = majority_at(birth)
            ends = majority if valid_until is None else min(majority, valid_until)
        else:
            if minor:
                raise InvalidRequest("a protection measure is for an adult holder (CR-4)")
            ends = valid_until
        representation = Representation(
            id=new_representation_id(),
            holder=request.holder,
            representative=request.representative,
            kind=request.kind,
            evidence=request.evidence,
            valid_until=request.valid_until,
            ends_at=None if ends is None else utc(ends),
            created_at=utc(now),
        )
        await self._store.add(representation)
        await self._log(representation, "record_representation", None, now)
        return representation

    async def listed(self, holder: str | None, representative: str | None) -> list[Representation]:
        if holder is not None:
            found = await self._store.of_holder(holder)
            if representative is None:
                return found
            return [r for r in found if r.representative == representative]
        return await self._store.of_representative(representative or "")

    async def remove(self, representation_id: str, now: datetime) -> None:
        """Ends the rights at once: the record goes in the same commit as the log entry."""
        representation = await self._store.get(representation_id)
        if representation is None:
            raise NotFound(f"no representation {representation_id}")
        if not await self._log(representation, "representation_ended", "removed", now):
            await self._store.remove(representation)
            await self._tell_holder(representation, "removed", now)
        await self._store.forget(representation)

    async def log_due_ends(self, now: datetime) -> int:
        """Log and announce every representation that reached its end (majority, valid_until)."""
        logged = 0
        for ins, representation_id in await self._store.due_ends(int(now.timestamp() * 1000)):
            found = [r for r in await self._store.of_holder(ins) if r.id == representation_id]
            if found and not found[0].live(now):
                ended = found[0]
                reason: EndReason = (
                    "valid_until"
                    if ended.valid_until is not None and ended.ends_at == _utc_of(ended.valid_until)
                    else "majority"
                )
                if not await self._log(ended, "representation_ended", reason, now):
                    await self._tell_holder(ended, reason, now)
                logged += 1
            await self._store.end_logged(ins, representation_id)
        return logged

    async def _log(
        self, representation: Representation, action: str, reason: EndReason | None, now: datetime
    ) -> bool:
        """Log in the holder's dossier, if one exists; a removal drops the record with it."""

        def decide(snapshot: Snapshot) -> Change:
            change = Change(snapshot.record)
            change.log(
                OPERATOR,
                action,
                Decision.allow(None),
                now,
                target=representation.representative,
                detail=representation.kind if reason is None else reason,
            )
            if reason is not None:
                # The holder hears of every end (DESIGN §4), through the dossier's own path.
                change.notify(
                    [snapshot.record.holder], _ENDED, **_ended(representation, reason, now)
                )
            if reason == "removed":
                change.drop_representation = representation.id
            return change

        try:
            await self._changes.apply(representation.holder, decide)
        except DossierNotFound:
            return False
        return True

    async def _tell_holder(
        self, representation: Representation, reason: EndReason, now: datetime
    ) -> None:
        """For a holder without a dossier: nothing to log in, the notification is the trace."""
        await self._changes.notify_directly(
            [f"patient:{representation.holder}"],
            {"event": _ENDED, "ins": representation.holder, **_ended(representation, reason, now)},
            f"n:{representation.holder}:representation:{representation.id}",
        )


_ENDED = "dossier.representation_ended"


def _ended(representation: Representation, reason: EndReason, now: datetime) -> dict[str, Any]:
    return {
        "representative": representation.representative,
        "kind": representation.kind,
        "reason": reason,
        "at": utc(now),
    }


def _utc_of(timestamp: str) -> str:
    return utc(parse_utc(timestamp))
