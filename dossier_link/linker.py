"""Attaching a dossier-linked message to the patient's dossier (W-1..W-6, MS-2).

Two steps around the message's own delivery: ``check_exchange`` runs before the message is
queued and refuses it whole when the holder opposed an exchange with one of the professionals
involved (MS-2); ``attach`` runs once it is queued and attaches it to the dossier, or refuses the
attachment only (W-1): the message is delivered either way and the sender is told.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from dossier_link import policy
from dossier_link.changes import Change, Changes, DossierSettings, blank_record, tell_holder
from dossier_link.errors import DossierRefused
from dossier_link.models import DocumentRecord
from dossier_link.policy import Actor, Decision, ReasonCode
from dossier_link.store import DossierStore, Snapshot
from messaging import crypto
from messaging.identifiers import InvalidIns, validate_ins
from messaging.models import DOSSIER_KEY, DossierHeader, DossierOutcome
from messaging.timeutil import utc


def document_id(sender: str, message_id: str) -> str:
    """Derived from the message, so that a retried send attaches the same document once."""
    raw = crypto.digest(f"{sender}\x00{message_id}".encode(), 16)
    return "doc_" + base64.b32encode(raw).decode().rstrip("=").lower()


class Linker:
    def __init__(
        self,
        changes: Changes,
        store: DossierStore,
        settings: DossierSettings,
        dossier_key: crypto.BoxKey,
    ) -> None:
        self._changes = changes
        self._store = store
        self._settings = settings
        self._dossier_key = dossier_key

    async def check_exchange(
        self, sender: Actor, header: DossierHeader, people: Iterable[Actor], now: datetime
    ) -> None:
        """RD-11, MS-2, MS-3: refuse the whole message if it is addressed to an insurer, or if
        the holder banned its sender or a recipient (``people``: every recipient, organisations
        expanded to their members, devices or not)."""
        recipients = list(people)
        excluded = sorted(
            p.principal for p in recipients if not policy.may_receive_linked(p).allowed
        )
        if excluded:
            await self._refuse(sender, header, "recipient_excluded", excluded, "recipients", now)
        snapshot = await self._store.load(header.ins)
        if snapshot is None:
            return  # nothing to oppose with; ``attach`` refuses the attachment (W-1)
        state = snapshot.state(now)  # MS-3: a closed dossier's bans still hold
        opposed = sorted(
            p
            for p in {sender.principal, *(r.principal for r in recipients)}
            if not policy.may_link_message_to(p, state).allowed
        )
        if opposed:
            await self._refuse(sender, header, "patient_opposed", opposed, "professionals", now)

    async def _refuse(
        self,
        sender: Actor,
        header: DossierHeader,
        code: ReasonCode,
        whom: list[str],
        member: str,
        now: datetime,
    ) -> None:
        """Log the refusal in the dossier when it exists, then refuse naming ``whom``."""
        decision = Decision.deny(code)

        def decide(current: Snapshot) -> Change:
            change = Change(current.record)
            change.log(sender, "message", decision, now, target=",".join(whom))
            return change.refuse(decision)

        try:
            await self._changes.apply(header.ins, decide)
        except DossierRefused as refused:
            refused.extra[member] = whom
            raise
        # Fail closed: ``apply`` raises the refusal it committed; nothing passes this point.
        raise DossierRefused(code, f"refused: {code}", **{member: whom})

    async def attach(
        self, sender: Actor, envelope: Mapping[str, Any], header: DossierHeader, now: datetime
    ) -> DossierOutcome:
        wrap = envelope["keys"][DOSSIER_KEY]
        message_id = str(envelope["id"])
        doc_id = document_id(sender.principal, message_id)
        try:
            validate_ins(header.ins)
        except InvalidIns:
            # ID-1: a mistyped INS names nobody's dossier; say so rather than "not found".
            await self._tell_sender_refused(sender, header, message_id, "invalid_ins", now)
            return DossierOutcome(status="refused", code="invalid_ins")
        snapshot, representations = await self._store.load_with_representations(header.ins)
        if snapshot is None:
            # RD-12: a sender without a right hears what it would hear of a real dossier.
            blank = blank_record(header.ins).state(now, representations)
            judged = policy.may_write(sender, blank, now)
            code = "dossier_not_found" if judged.allowed else judged.code
            await self._tell_sender_refused(sender, header, message_id, code, now)
            return DossierOutcome(status="refused", code=code)
        wrap_opens = self._opens(wrap)
        if await self._store.document(header.ins, doc_id) is not None:
            return DossierOutcome(status="attached", document=doc_id)
        hidden_until = (
            utc(policy.holder_release_at(now, self._settings.hide_release))
            if header.hidden_from_holder
            else None
        )
        document = DocumentRecord(
            id=doc_id,
            message_id=message_id,
            author=sender.principal,
            type=header.type,
            title=header.title,
            masked=bool(header.masked),
            hidden_from_holder_until=hidden_until,
            hidden_once=hidden_until is not None,
            invisible_to_legal_representatives=bool(header.invisible_to_legal_representatives),
            created_at=utc(now),
            envelope={k: v for k, v in envelope.items() if k != "keys"},
            dossier_wrap=wrap,
        )
        outcome: list[DossierOutcome] = []

        def decide(current: Snapshot) -> Change:
            state = current.state(now)
            # A wrap the dossier key cannot open would make the document unreadable for good.
            decision = (
                policy.may_write(sender, state, now)
                if wrap_opens
                else Decision.deny("bad_dossier_wrap")
            )
            change = Change(current.record)
            change.log(sender, "write", decision, now, document=doc_id, message=message_id)
            outcome.clear()
            if not decision.allowed:
                # RD-12: the refused author may have no right on this dossier; its checkpoint
                # would tell them that it exists and how long its log is.
                change.notify(
                    [sender.principal],
                    "dossier.link_refused",
                    with_checkpoint=False,
                    message_id=message_id,
                    code=decision.code,
                    at=utc(now),
                )
                outcome.append(DossierOutcome(status="refused", code=decision.code))
                return change
            change.documents.append(document)
            change.notify(
                [sender.principal],
                "dossier.document_attached",
                message_id=message_id,
                document=doc_id,
                at=utc(now),
            )
            # HD-2: a document hidden from the holder is announced without its id.
            shown = {} if hidden_until is not None else {"document": doc_id}
            tell_holder(change, sender, state, decision, "write", now, **shown)
            outcome.append(DossierOutcome(status="attached", document=doc_id))
            return change

        await self._changes.apply(header.ins, decide)
        return outcome[0]

    def _opens(self, wrap: str) -> bool:
        """A wrap the dossier key cannot open would make the document unreadable forever."""
        try:
            self._dossier_key.open(crypto.b64u_decode(wrap))
        except crypto.CryptoError:
            return False
        return True

    async def _tell_sender_refused(
        self, sender: Actor, header: DossierHeader, message_id: str, code: str, now: datetime
    ) -> None:
        # Nothing is written to the dossier: the notification is the sender's only trace.
        await self._changes.notify_directly(
            [sender.principal],
            {
                "event": "dossier.link_refused",
                "ins": header.ins,
                "message_id": message_id,
                "code": code,
                "at": utc(now),
            },
            f"n:{header.ins}:refused:{message_id}",
        )
