"""Reading the access log (TR-2, TR-3, TR-6) as the reader may see it (RD-10, HD-2, RD-12).

Reading the log is an action like any other (TR-6): it is logged, and a professional's reading
is announced to the holder. The reader is served the log as it stood when they asked, with the
checkpoint of that state; their reading is the next entry, which the next reader sees.

What a reader may not see of an entry is withheld, not dropped: a withheld entry keeps its
``seq``, ``prev`` and ``hash`` (and, for HD-2's announcement of a hidden document, who added a
document and when), so the reader still checks every link of the chain; ``withheld: true`` marks
an entry whose own hash cannot be recomputed from what is shown.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from dossier_link import policy
from dossier_link.access_log import verify_chain
from dossier_link.changes import Change, Changes, tell_holder
from dossier_link.checkpoints import CheckpointSigner
from dossier_link.errors import DossierNotFound
from dossier_link.log_models import AccessLog, LogEntry
from dossier_link.models import DocumentRecord
from dossier_link.policy import Actor, DossierState
from dossier_link.standing import is_legal_representative
from dossier_link.store import DossierStore, Snapshot

_ANNOUNCED = {"at", "actor", "action", "outcome", "reason"}
"""HD-2: what the holder learns of a document hidden from them: a document was added, by whom."""
_LINKS = {"seq", "prev", "hash"}


def withheld(entry: LogEntry, shown: set[str] = _LINKS) -> LogEntry:
    return LogEntry.model_validate(entry.model_dump(include=shown | _LINKS) | {"withheld": True})


def view_for(
    actor: Actor,
    state: DossierState,
    entries: Sequence[LogEntry],
    documents: Mapping[str, DocumentRecord],
    now: datetime,
) -> list[LogEntry]:
    """The whole log as ``actor`` may see it: RD-10 for legal representatives, HD-2 for the
    holder's side; professionals with full access see everything."""
    legal_representative = is_legal_representative(actor, state)
    holder_side = actor.principal == state.holder or actor.principal in state.representatives
    view: list[LogEntry] = []
    for entry in entries:
        document = documents.get(entry.document or "")
        if document is None:
            view.append(entry)
        elif legal_representative and document.invisible_to_legal_representatives:
            view.append(withheld(entry))  # RD-10: nothing of it
        elif holder_side and policy.hidden_from_holder(document.state(), now):
            # HD-2: the write is announced without the document; later acts on it are not.
            view.append(withheld(entry, _ANNOUNCED if entry.action == "write" else _LINKS))
        else:
            view.append(entry)
    return view


class DossierTraces:
    def __init__(
        self, changes: Changes, store: DossierStore, checkpoints: CheckpointSigner
    ) -> None:
        self._changes = changes
        self._store = store
        self._checkpoints = checkpoints

    async def access_log(self, actor: Actor, ins: str, now: datetime) -> AccessLog:
        entries = await self._store.log(ins)
        acted = any(e.actor == actor.principal and e.outcome == "allowed" for e in entries)

        read: list[Snapshot] = []

        def decide(snapshot: Snapshot) -> Change:
            read[:] = [snapshot]
            state = snapshot.state(now)
            decision = policy.may_read_log(actor, state, acted)
            change = Change(snapshot.record)
            change.log(actor, "read_log", decision, now)  # TR-1, TR-6
            if not decision.allowed:
                return change.refuse(decision)
            tell_holder(change, actor, state, decision, "read_log", now)  # TR-6, TR-5
            return change

        await self._changes.apply(ins, decide)
        # The reader gets the log as it stood when they asked, with its checkpoint; their own
        # reading is the entry after it (the holder's notification carries that checkpoint).
        [asked] = read
        record = asked.record
        current, stored = await self._store.load_with_log(ins)
        if current is None:  # purged since the reading was logged: nothing is left to show
            raise DossierNotFound(f"no dossier for INS {ins}")
        entries = [e for e in stored if e.seq <= record.log_seq]
        checkpoint = self._checkpoints.sign(ins, record.log_seq, record.log_head)
        state = asked.state(now)
        if policy.log_visibility(actor, state, acted) == "own":
            own = [e for e in entries if e.actor == actor.principal]
            return AccessLog(scope="own", entries=own, checkpoint=checkpoint)
        # The chain proves every entry and link; the dossier's recorded head proves none of the
        # newest entries was dropped.
        complete = bool(entries) and (entries[-1].hash, entries[-1].seq) == (
            record.log_head,
            record.log_seq,
        )
        chain = verify_chain([e.model_dump() for e in entries])
        documents = {d.id: d for d in await self._store.documents(ins)}
        return AccessLog(
            scope="all",
            entries=view_for(actor, state, entries, documents, now),
            chain_ok=chain.ok and complete,
            checkpoint=checkpoint,
        )
