"""The one way a dossier changes: decide on a snapshot, then commit state, documents and log
entries together; notify only once the change is committed; retry when the dossier moved."""

from __future__ import annotations

import asyncio
import random
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from dossier_link.access_log import GENESIS, chained
from dossier_link.checkpoints import CheckpointSigner
from dossier_link.consent import Regime
from dossier_link.errors import DossierBusy, DossierNotFound, refusal
from dossier_link.log_models import LogEntry
from dossier_link.models import ConsentRecord, DocumentRecord, DossierRecord
from dossier_link.policy import Actor, Decision, DossierState, notify_after
from dossier_link.store import DossierStore, Snapshot
from messaging.errors import LiaisonError
from messaging.representations import Representation
from messaging.timeutil import utc

MAX_ATTEMPTS = 8
RETRY_STEP = 0.002
"""Seconds: the first retry after a lost version check waits up to this, then twice as long."""


class Notifier(Protocol):
    """Delivers server-signed notifications to every device of the given principals."""

    async def notify(
        self, principals: Iterable[str], body: Mapping[str, Any], item: str, *, hold: bool = False
    ) -> None:
        """``hold``: a principal without a device gets it on the first device it enrolls."""
        ...


class DeviceKeys(Protocol):
    """The X25519 public keys of a principal's active devices, by device id."""

    async def box_keys(self, principal: str) -> dict[str, bytes]: ...


@dataclass(frozen=True, slots=True)
class DossierSettings:
    regime: Regime = "express"
    emergency_duration: timedelta = timedelta(hours=24)
    hide_release: timedelta = timedelta(days=30)
    retention_after_close: timedelta = timedelta(days=3653)
    deletion_delay: timedelta = timedelta(days=90)


@dataclass(frozen=True, slots=True)
class Notice:
    principals: frozenset[str]
    body: dict[str, Any]
    with_checkpoint: bool = True
    """Carry the log's signed checkpoint after this change (DESIGN §4), so that the holder
    keeps proof of the log's state; left out for whoever may have no right on the dossier."""
    hold: bool = False
    """Kept for a principal without a device until its first device enrolls."""


@dataclass
class Change:
    """What one action does to a dossier; ``refusal`` set means it is logged, then refused."""

    record: DossierRecord
    entries: list[dict[str, Any]] = field(default_factory=list)
    documents: list[DocumentRecord] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    refusal: Decision | None = None
    drop_representation: str | None = None
    """A recorded representation removed in the same commit as the entry logging its end."""
    representations: tuple[Representation, ...] = ()
    """The holder's recorded representations the change was decided with."""

    def log(
        self, actor: Actor | str, action: str, decision: Decision, at: datetime, **extra: Any
    ) -> None:
        principal = actor if isinstance(actor, str) else actor.principal
        self.entries.append(
            {
                "at": utc(at),
                "actor": principal,
                "action": action,
                "outcome": "allowed" if decision.allowed else "refused",
                "reason": decision.code,
                "basis": decision.basis,
                **extra,
            }
        )

    def notify(
        self,
        principals: Iterable[str],
        event: str,
        *,
        with_checkpoint: bool = True,
        hold: bool = False,
        **body: Any,
    ) -> None:
        targets = frozenset(principals)
        if targets:
            self.notices.append(Notice(targets, {"event": event, **body}, with_checkpoint, hold))

    def refuse(self, decision: Decision) -> Change:
        self.refusal = decision
        return self


def with_chain(
    record: DossierRecord, entries: list[dict[str, Any]]
) -> tuple[DossierRecord, list[LogEntry]]:
    """Chain ``entries`` after the record's log head; the record carries the new head."""
    head, seq, chained_entries = record.log_head, record.log_seq, []
    for fields in entries:
        seq += 1
        entry = LogEntry.model_validate(chained(head, seq, fields))
        head = entry.hash
        chained_entries.append(entry)
    return record.model_copy(update={"log_head": head, "log_seq": seq}), chained_entries


def tell_holder(
    change: Change,
    actor: Actor,
    state: DossierState,
    decision: Decision,
    action: str,
    now: datetime,
    **extra: Any,
) -> None:
    """TR-5, W-4: the holder hears of each access by a professional (and the MT of emergencies)."""
    change.notify(
        notify_after(actor, state, decision),
        "dossier.accessed",
        actor=actor.principal,
        action=action,
        basis=decision.basis,
        at=utc(now),
        **extra,
    )


_NEVER = "1970-01-01T00:00:00.000Z"


def blank_record(ins: str) -> DossierRecord:
    """A dossier with nothing in it: what a caller is judged on when none exists (RD-12).
    Never stored, never shown: its dates are placeholders."""
    at = _NEVER
    return DossierRecord(
        ins=ins,
        holder=f"patient:{ins}",
        birth_date="1900",
        consent=ConsentRecord(given_by=None, name=None, regime="express", at=at),
        created_at=at,
        log_head=GENESIS,
    )


def _missing(
    ins: str, decide: Callable[[Snapshot], Change], representations: tuple[Representation, ...]
) -> LiaisonError:
    """RD-12: the answer for a dossier that does not exist is the one the caller would get on
    a blank dossier, so a caller without a right cannot tell a missing dossier from a real one.
    Nothing is stored."""
    blank = Snapshot(blank_record(ins), 0, representations)
    change = decide(blank)
    if change.refusal is not None:
        return refusal(change.refusal.code, f"refused: {change.refusal.code}")
    return DossierNotFound(f"no dossier for INS {ins}")


class Changes:
    def __init__(
        self, store: DossierStore, notifier: Notifier, checkpoints: CheckpointSigner
    ) -> None:
        self._store = store
        self._notifier = notifier
        self._checkpoints = checkpoints
        self.lost_version_checks = 0
        """Commits refused because another process changed the dossier first (then retried)."""
        # Weak values: a dossier's lock lives only while requests use it.
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    def _lock(self, ins: str) -> asyncio.Lock:
        lock = self._locks.get(ins)
        if lock is None:
            lock = self._locks[ins] = asyncio.Lock()
        return lock

    async def apply(self, ins: str, decide: Callable[[Snapshot], Change]) -> Change:
        # Within a process, changes to one dossier take turns: optimistic retries alone would
        # thrash when many requests write at once. Across processes the version check decides,
        # and a loser waits a random, growing moment before it reads again.
        async with self._lock(ins):
            for attempt in range(MAX_ATTEMPTS):
                snapshot, representations = await self._store.load_with_representations(ins)
                if snapshot is None:
                    raise _missing(ins, decide, representations)
                change = decide(snapshot)
                change.representations = snapshot.representations
                if await self.commit(snapshot.version, change):
                    if change.refusal is not None:
                        raise refusal(change.refusal.code, f"refused: {change.refusal.code}")
                    return change
                self.lost_version_checks += 1
                await asyncio.sleep(random.uniform(0, RETRY_STEP * 2**attempt))  # noqa: S311
        raise DossierBusy("the dossier is being changed by others; retry")

    async def commit(self, version: int, change: Change) -> bool:
        record, entries = with_chain(change.record, change.entries)
        if not await self._store.commit(
            version, record, entries, change.documents, change.drop_representation
        ):
            return False
        change.record = record
        # A notification is numbered by the log entry it follows, so a retry never repeats it.
        last_seq = entries[-1].seq if entries else record.log_seq
        checkpoint = (
            self._checkpoints.sign(record.ins, record.log_seq, record.log_head).model_dump()
            if any(notice.with_checkpoint for notice in change.notices)
            else None
        )
        for number, notice in enumerate(change.notices):
            body = {**notice.body, "ins": record.ins}
            if notice.with_checkpoint:
                body["checkpoint"] = checkpoint
            await self.notify_directly(
                notice.principals, body, f"n:{record.ins}:{last_seq}:{number}", hold=notice.hold
            )
        return True

    async def notify_directly(
        self, principals: Iterable[str], body: Mapping[str, Any], item: str, *, hold: bool = False
    ) -> None:
        await self._notifier.notify(principals, body, item, hold=hold)
