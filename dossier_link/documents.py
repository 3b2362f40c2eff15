"""Documents of a dossier: listing, reading (content key re-sealed for the reader's devices)
and masking or hiding (MK-1, MK-2, HD-1), each decided by ``policy`` and logged.

The dossier key opens a document's content key only to seal it again for the reader's own
devices (DESIGN §1): the ciphertext is never decrypted here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from dossier_link import policy
from dossier_link.changes import Change, Changes, DeviceKeys, DossierSettings, tell_holder
from dossier_link.models import DocumentContent, DocumentList, DocumentPatch
from dossier_link.policy import Actor
from dossier_link.store import DossierStore, Snapshot
from messaging import crypto
from messaging.errors import InvalidRequest, NotFound
from messaging.timeutil import utc


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
            state = snapshot.record.state(now)
            decision = policy.may_list(actor, state, now)
            change = Change(snapshot.record)
            change.log(actor, "list", decision, now)
            if not decision.allowed:
                return change.refuse(decision)
            tell_holder(change, actor, state, decision, "list", now)
            return change

        change = await self._changes.apply(ins, decide)
        state = change.record.state(now)
        readable = policy.visible_documents(actor, state, [d.state() for d in documents], now)
        shown = {d.id for d in readable}
        return DocumentList(documents=[d.summary() for d in documents if d.id in shown])

    async def read(
        self, actor: Actor, ins: str, document_id: str, now: datetime
    ) -> DocumentContent:
        document = await self._store.document(ins, document_id)
        if document is None:
            # Whether the dossier exists at all is no secret to hide from this caller's answer:
            # both are "not found".
            raise NotFound(f"no document {document_id} in this dossier")

        def decide(snapshot: Snapshot) -> Change:
            state = snapshot.record.state(now)
            decision = policy.may_read_document(actor, state, document.state(), now)
            change = Change(snapshot.record)
            change.log(actor, "read", decision, now, document=document_id)
            if not decision.allowed:
                return change.refuse(decision)
            tell_holder(change, actor, state, decision, "read", now, document=document_id)
            return change

        await self._changes.apply(ins, decide)
        content_key = self._dossier_key.open(crypto.b64u_decode(document.dossier_wrap))
        boxes = await self._device_keys.box_keys(actor.principal)
        keys = {d: crypto.b64u_encode(crypto.seal(content_key, box)) for d, box in boxes.items()}
        return DocumentContent(document=document.summary(), envelope=document.envelope, keys=keys)

    async def patch(
        self, actor: Actor, ins: str, document_id: str, patch: DocumentPatch, now: datetime
    ) -> DocumentContent | None:
        document = await self._store.document(ins, document_id)
        if document is None:
            raise NotFound(f"no document {document_id} in this dossier")
        if patch.masked is None and patch.hidden_from_holder is None:
            raise InvalidRequest("set masked or hidden_from_holder")

        def decide(snapshot: Snapshot) -> Change:
            state = snapshot.record.state(now)
            change = Change(snapshot.record)
            update: dict[str, Any] = {}
            if patch.masked is not None:
                decision = policy.may_manage(actor, state)  # MK-1
                action = "mask" if patch.masked else "unmask"
                change.log(actor, action, decision, now, document=document_id)
                if not decision.allowed:
                    return change.refuse(decision)
                update["masked"] = patch.masked
            if patch.hidden_from_holder is not None:
                decision = policy.may_hide_from_holder(actor, state, document.state())  # HD-1
                action = "hide_from_holder" if patch.hidden_from_holder else "show_to_holder"
                change.log(actor, action, decision, now, document=document_id)
                if not decision.allowed:
                    return change.refuse(decision)
                release = policy.holder_release_at(now, self._settings.hide_release)
                update["hidden_from_holder_until"] = (
                    utc(release) if patch.hidden_from_holder else None
                )
            change.documents.append(document.model_copy(update=update))
            return change

        await self._changes.apply(ins, decide)
        return None
