"""Documents of a dossier: listing, reading (content key re-sealed for the reader's devices)
and masking or hiding (MK-1, MK-2, HD-1, HD-2, RD-10), each decided by ``policy`` and logged.

The dossier key opens a document's content key only to seal it again for the reader's own
devices (DESIGN §1): the ciphertext is never decrypted here.

A document that does not exist, and one the caller must not know of (RD-10), get the same
answer; a caller without a right on the dossier is refused before any document is looked at
(RD-12), so neither answer tells whether a document id exists.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from dossier_link import policy
from dossier_link.changes import Change, Changes, DeviceKeys, DossierSettings, tell_holder
from dossier_link.errors import NO_SUCH_DOCUMENT
from dossier_link.models import DocumentContent, DocumentList, DocumentPatch, DocumentRecord
from dossier_link.policy import Actor, Decision, DocumentState
from dossier_link.standing import HOLDER_BASES
from dossier_link.store import DossierStore, Snapshot
from messaging import crypto
from messaging.errors import InvalidRequest, NotFound
from messaging.timeutil import utc

Step = tuple[str, Decision, dict[str, Any]]
"""One change a PATCH asks for: the action logged, the decision, the members it sets."""


class DossierDocuments:
    def __init__(
        self,
        changes: Changes,
        store: DossierStore,
        device_keys: DeviceKeys,
        dossier_key: crypto.BoxKey,
        settings: DossierSettings,
    ) -> None:
        self._changes = changes
        self._store = store
        self._device_keys = device_keys
        self._dossier_key = dossier_key
        self._settings = settings

    async def visible(self, actor: Actor, ins: str, now: datetime) -> DocumentList:
        documents = await self._store.documents(ins)

        def decide(snapshot: Snapshot) -> Change:
            state = snapshot.state(now)
            decision = policy.may_list(actor, state, now)
            change = Change(snapshot.record)
            change.log(actor, "list", decision, now)
            if not decision.allowed:
                return change.refuse(decision)
            tell_holder(change, actor, state, decision, "list", now)
            return change

        change = await self._changes.apply(ins, decide)
        state = change.record.state(now, change.representations)
        readable = policy.visible_documents(actor, state, [d.state() for d in documents], now)
        shown = {d.id for d in readable}
        return DocumentList(documents=[d.summary() for d in documents if d.id in shown])

    async def read(
        self, actor: Actor, ins: str, document_id: str, now: datetime
    ) -> DocumentContent:
        def judge(state: policy.DossierState, doc: DocumentState) -> Decision:
            return policy.may_read_document(actor, state, doc, now)

        document = await self._document(actor, ins, document_id, "read", judge, now)

        def decide(snapshot: Snapshot) -> Change:
            state = snapshot.state(now)
            decision = judge(state, document.state())
            change = Change(snapshot.record)
            change.log(actor, "read", decision, now, document=document_id)
            if not decision.allowed:
                return change.refuse(decision)
            if decision.basis in HOLDER_BASES and not document.read_by_holder:
                # HD-2: once the holder has read it, the document can no longer be hidden.
                change.documents.append(document.model_copy(update={"read_by_holder": True}))
            if not policy.hidden_from_holder(document.state(), now):
                # HD-2: the holder hears nothing of reads of a document hidden from them.
                tell_holder(change, actor, state, decision, "read", now, document=document_id)
            return change

        await self._changes.apply(ins, decide)
        content_key = self._dossier_key.open(crypto.b64u_decode(document.dossier_wrap))
        boxes = await self._device_keys.box_keys(actor.principal)
        keys = {d: crypto.b64u_encode(crypto.seal(content_key, box)) for d, box in boxes.items()}
        return DocumentContent(document=document.summary(), envelope=document.envelope, keys=keys)

    async def patch(
        self, actor: Actor, ins: str, document_id: str, patch: DocumentPatch, now: datetime
    ) -> None:
        if (
            patch.masked is None
            and patch.hidden_from_holder is None
            and patch.invisible_to_legal_representatives is None
        ):
            raise InvalidRequest(
                "set masked, hidden_from_holder or invisible_to_legal_representatives"
            )

        def steps(state: policy.DossierState, doc: DocumentState) -> list[Step]:
            """Each change asked for, with the decision on it and what it sets."""
            unknown = policy.may_know_of(actor, state, doc)
            if not unknown.allowed:
                return [("patch", unknown, {})]  # RD-10
            found: list[Step] = []
            if patch.masked is not None:
                action = "mask" if patch.masked else "unmask"
                found.append((action, policy.may_manage(actor, state), {"masked": patch.masked}))
            if patch.hidden_from_holder:
                release = utc(policy.holder_release_at(now, self._settings.hide_release))
                decision = policy.may_hide_from_holder(actor, state, doc, now)  # HD-1, HD-2
                hidden = {"hidden_from_holder_until": release, "hidden_once": True}
                found.append(("hide_from_holder", decision, hidden))
            elif patch.hidden_from_holder is False:
                # HD-1: the author releases it now; a release date only ever comes closer.
                shown = (
                    {"hidden_from_holder_until": None}
                    if policy.hidden_from_holder(doc, now)
                    else {}
                )
                found.append(
                    ("show_to_holder", policy.may_show_to_holder(actor, state, doc), shown)
                )
            flag = patch.invisible_to_legal_representatives
            if flag is not None:
                action = "mark_invisible_to_representatives" if flag else "unmark_invisible"
                decision = policy.may_show_to_holder(actor, state, doc)  # the author (CR-8)
                found.append((action, decision, {"invisible_to_legal_representatives": flag}))
            return found

        def judge(state: policy.DossierState, doc: DocumentState) -> Decision:
            refused = [d for _, d, _ in steps(state, doc) if not d.allowed]
            return refused[0] if refused else Decision.allow(None)

        document = await self._document(actor, ins, document_id, "patch", judge, now)

        def decide(snapshot: Snapshot) -> Change:
            change = Change(snapshot.record)
            update: dict[str, Any] = {}
            for action, decision, changes in steps(snapshot.state(now), document.state()):
                change.log(actor, action, decision, now, document=document_id)
                if not decision.allowed:
                    return change.refuse(decision)
                update.update(changes)
            change.documents.append(document.model_copy(update=update))
            return change

        await self._changes.apply(ins, decide)

    async def _document(
        self,
        actor: Actor,
        ins: str,
        document_id: str,
        action: str,
        judge: Callable[[policy.DossierState, DocumentState], Decision],
        now: datetime,
    ) -> DocumentRecord:
        """The document; for one that does not exist, the caller's refusal on the route's own
        rule (judged on a document of nobody's, and logged), else not found: an id never tells
        a caller without a right whether it exists (RD-12), nor a legal representative whether
        it is kept from them (RD-10)."""
        document = await self._store.document(ins, document_id)
        if document is not None and document.invisible_to_legal_representatives:
            # RD-10: kept from a legal representative, it is answered as one that does not
            # exist, whatever the route (``steps`` checks again on the committed snapshot).
            snapshot = await self._store.load(ins)
            state = None if snapshot is None else snapshot.state(now)
            if state is not None and not policy.may_know_of(actor, state, document.state()).allowed:
                document = None
        if document is not None:
            return document
        nobodys = DocumentState(id=document_id, author="")

        def decide(snapshot: Snapshot) -> Change:
            decision = judge(snapshot.state(now), nobodys)
            change = Change(snapshot.record)
            if decision.allowed:
                raise NotFound(NO_SUCH_DOCUMENT)
            change.log(actor, action, decision, now, document=document_id)
            return change.refuse(decision)

        await self._changes.apply(ins, decide)
        raise NotFound(NO_SUCH_DOCUMENT)
