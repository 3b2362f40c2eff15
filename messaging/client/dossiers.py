"""The dossier (DMP) calls of DESIGN §4, made as one device: ``LiaisonClient.dossiers``.

Nothing the server says about a document or the access log is taken on trust. A document is
opened like a received message: its author's envelope signature is checked against the
directory, the envelope must be the one of the document asked for, and the content key sealed
to this device opens it. The access log is verified here, whatever the server's own
``chain_ok`` says: its hash chain, and the server's signed checkpoints (``log_check``), the one
served with it and those this device kept (``checkpoints``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any, Literal

from pydantic import ValidationError

from dossier_link.access_log import ChainCheck
from dossier_link.log_models import AccessLog, LogCheckpoint
from dossier_link.models import (
    BanRequest,
    CloseRequest,
    ConsentRequest,
    CreateDossierRequest,
    DocumentContent,
    DocumentList,
    DocumentPatch,
    DocumentSummary,
    DossierSummary,
    EmergencyAccessRequest,
    EmergencyAccessResponse,
    EmergencyOppositionRequest,
    GrantRequest,
    MedecinTraitantRequest,
    ObjectionRequest,
)
from dossier_link.policy import GrantBasis, GrantLevel, Protection
from messaging import crypto, models
from messaging.client.content import MessageContent, SignedEnvelope, attachments_wire
from messaging.client.errors import SdkError, VerificationError, validation_detail
from messaging.client.http import parse, request_body, url_path
from messaging.client.log_check import LogFailure, LogVerdict, verify_log

if TYPE_CHECKING:
    from messaging.client.session import DeviceSession


@dataclass(frozen=True, slots=True)
class DossierDocument:
    """A dossier document, its author's signature verified and its content decrypted."""

    document: DocumentSummary
    """The store's view of it: ids, author, masking and hiding as they stand now."""
    header: models.DossierHeader
    """The dossier header as the author signed it."""
    sender_device: str
    recipients: tuple[str, ...]
    created_at: str
    content: MessageContent

    def as_dict(self) -> dict[str, Any]:
        """The document, verified and decrypted, as a JSON document."""
        return {
            "document": self.document.model_dump(),
            "header": self.header.model_dump(exclude_none=True),
            "author": self.document.author,
            "sender_device": self.sender_device,
            "recipients": list(self.recipients),
            "created_at": self.created_at,
            "subject": self.content.subject,
            "body": self.content.body,
            "attachments": attachments_wire(self.content.attachments),
            "in_reply_to": self.content.in_reply_to,
        }


@dataclass(frozen=True, slots=True)
class VerifiedAccessLog:
    """The access log with this client's own check of it: the chain (``check``) and the
    checkpoints (``failure`` names what did not verify); ``server_chain_ok`` is only what the
    server claimed."""

    scope: Literal["all", "own"]
    entries: list[dict[str, Any]]
    check: ChainCheck
    server_chain_ok: bool | None
    checkpoint: LogCheckpoint
    """The signed checkpoint served with the log: keep it as proof of the log's state."""
    failure: LogFailure | None = None

    @property
    def ok(self) -> bool:
        """Whether the log verified: its chain and every checkpoint."""
        return self.check.ok and self.failure is None

    def as_dict(self) -> dict[str, Any]:
        """The log and the verdict as a JSON document (what ``verify-log`` reads back)."""
        return {
            "scope": self.scope,
            "entries": self.entries,
            "checkpoint": self.checkpoint.model_dump(),
            "verified": self.ok,
            "broken_at": self.check.broken_at,
            "reason": self.check.reason,
            "failure": None if self.failure is None else self.failure.as_dict(),
            "server_chain_ok": self.server_chain_ok,
        }


@dataclass(frozen=True, slots=True)
class SavedLog:
    """A log saved as JSON: the bare ``entries`` list, or an access-log answer (``dossier log
    --json`` or ``GET …/access-log``), whose ``scope`` and ``checkpoint`` then apply."""

    entries: list[dict[str, Any]]
    scope: Literal["all", "own"]
    checkpoint: LogCheckpoint | None

    @classmethod
    def parse(cls, document: Any) -> SavedLog:
        """A saved log (a whole ``access_log`` answer, or the bare list of entries)."""
        scope: Any = "all"
        checkpoint = None
        if isinstance(document, dict):
            scope = document.get("scope", "all")
            if document.get("checkpoint") is not None:
                checkpoint = parse_checkpoint(document["checkpoint"], "the log's checkpoint")
            document = document.get("entries")
        if scope not in ("all", "own"):
            raise SdkError("bad_log", f"unknown log scope {scope!r}")
        if not isinstance(document, list) or not all(isinstance(e, dict) for e in document):
            raise SdkError("bad_log", "not an access log: expected a list of entries or {entries}")
        return cls(document, scope, checkpoint)

    def verify(
        self,
        *,
        kept: Sequence[LogCheckpoint] = (),
        server_key: bytes | None = None,
        ins: str | None = None,
    ) -> LogVerdict:
        """Verify the chain, the checkpoint served with it and every ``kept`` one; the
        ``server_key`` checks their signatures."""
        return verify_log(
            self.entries,
            self.scope,
            ins=ins,
            served=self.checkpoint,
            kept=kept,
            server_key=server_key,
        )


def parse_checkpoint(document: Any, what: str = "the checkpoint") -> LogCheckpoint:
    """A checkpoint as saved: the object itself, or any document carrying it as
    ``checkpoint`` (a log answer, a notification) or ``notification.checkpoint`` (an event)."""
    if isinstance(document, dict) and isinstance(document.get("notification"), dict):
        document = document["notification"]
    if isinstance(document, dict) and isinstance(document.get("checkpoint"), dict):
        document = document["checkpoint"]
    try:
        return LogCheckpoint.model_validate(document)
    except ValidationError as exc:
        raise SdkError("bad_checkpoint", f"{what} is malformed: {validation_detail(exc)}") from exc


class DossierClient:
    """Every dossier call of DESIGN §4, as the device of ``session``."""

    def __init__(self, session: DeviceSession) -> None:
        self._device = session

    async def _call(
        self, method: str, ins: str, *path: str, body: Mapping[str, Any] | None = None
    ) -> Any:
        return await self._device._authed(method, url_path("v1", "dossiers", ins, *path), body=body)

    # the dossier

    async def create(
        self,
        ins: str,
        birth_date: date | str | None = None,
        consent: ConsentRequest | Mapping[str, Any] | None = None,
        *,
        protection: Protection | None = None,
    ) -> DossierSummary:
        """Create the dossier on recorded consent (CR-1..CR-4): ``consent`` is ``{given_by,
        name, representative?, holder_opinion?}``. ``birth_date`` only when a professional
        attests it for a patient whose birth date the operator has not recorded (ID-4)."""
        text = birth_date.isoformat() if isinstance(birth_date, date) else birth_date
        body = request_body(
            CreateDossierRequest,
            {"ins": ins, "birth_date": text, "protection": protection, "consent": consent},
        )
        answer = await self._device._authed("POST", "/v1/dossiers", body=body)
        return parse(DossierSummary, answer)

    async def summary(self, ins: str) -> DossierSummary:
        """The dossier as the caller may see it (TR-4: the holder sees grants and bans too)."""
        return parse(DossierSummary, await self._call("GET", ins))

    async def set_medecin_traitant(self, ins: str, professional: str) -> DossierSummary:
        """Declare ``professional`` the holder's médecin traitant."""
        body = request_body(MedecinTraitantRequest, {"professional": professional})
        return parse(DossierSummary, await self._call("PUT", ins, "medecin-traitant", body=body))

    async def set_objection(self, ins: str, objected: bool = True) -> None:
        """The holder objects (or stops objecting) to an opt-out creation (CR-5)."""
        body = request_body(ObjectionRequest, {"objected": objected})
        await self._call("PUT", ins, "objection", body=body)

    async def close(self, ins: str, *, deletion_requested: bool = False) -> DossierSummary:
        """Close the dossier (CR-6), asking for its deletion if ``deletion_requested``."""
        body = request_body(CloseRequest, {"deletion_requested": deletion_requested})
        return parse(DossierSummary, await self._call("POST", ins, "close", body=body))

    # who may read it

    async def grant(
        self,
        ins: str,
        professional: str,
        *,
        level: GrantLevel = "standard",
        basis: GrantBasis = "consent",
    ) -> DossierSummary:
        """Grant ``professional`` access at ``level``, on ``basis`` (the holder's decision)."""
        body = request_body(
            GrantRequest, {"professional": professional, "level": level, "basis": basis}
        )
        return parse(DossierSummary, await self._call("POST", ins, "grants", body=body))

    async def withdraw_grant(self, ins: str, professional: str) -> None:
        """Withdraw the grant of ``professional``."""
        await self._call("DELETE", ins, "grants", professional)

    async def ban(self, ins: str, professional: str) -> DossierSummary:
        """Ban ``professional`` from the dossier, whatever grants they hold."""
        body = request_body(BanRequest, {"professional": professional})
        return parse(DossierSummary, await self._call("POST", ins, "bans", body=body))

    async def lift_ban(self, ins: str, professional: str) -> None:
        """Lift the ban of ``professional``."""
        await self._call("DELETE", ins, "bans", professional)

    async def set_emergency_opposition(self, ins: str, opposed: bool = True) -> DossierSummary:
        """Oppose emergency access (``opposed``), or stop opposing it."""
        body = request_body(EmergencyOppositionRequest, {"opposed": opposed})
        answer = await self._call("PUT", ins, "emergency-opposition", body=body)
        return parse(DossierSummary, answer)

    async def emergency_access(self, ins: str, reason: str) -> EmergencyAccessResponse:
        """Open time-limited emergency access (EM-1); the holder and the MT are told."""
        body = request_body(EmergencyAccessRequest, {"reason": reason})
        answer = await self._call("POST", ins, "emergency-access", body=body)
        return parse(EmergencyAccessResponse, answer)

    async def end_emergency(self, ins: str, emergency: str) -> DossierSummary:
        """The holder (or a representative) ends one open emergency access (EM-4, TR-4)."""
        return parse(DossierSummary, await self._call("DELETE", ins, "emergency-access", emergency))

    # documents

    async def documents(self, ins: str) -> list[DocumentSummary]:
        """The documents the caller may read, without their content (``read_document``)."""
        return parse(DocumentList, await self._call("GET", ins, "documents")).documents

    async def read_document(self, ins: str, document: str) -> DossierDocument:
        """The document verified like a received message, and decrypted."""
        answer = parse(DocumentContent, await self._call("GET", ins, "documents", document))
        try:
            envelope = SignedEnvelope.model_validate(answer.envelope)
        except ValidationError as exc:
            raise VerificationError("malformed_document", validation_detail(exc)) from exc
        summary = answer.document
        # A validly signed envelope of another document (or dossier) is no answer to this call.
        if (
            summary.id != document
            or envelope.dossier is None
            or envelope.dossier.ins != ins
            or envelope.id != summary.message_id
            or envelope.sender != summary.author
        ):
            raise VerificationError(
                "document_mismatch", f"the envelope served is not the one of document {document}"
            )
        wrap = answer.keys.get(self._device.identity.device_id)
        if wrap is None:
            raise VerificationError(
                "no_device_key", f"no content key was sealed to {self._device.identity.device_id}"
            )
        content = await self._device._open_signed(
            answer.envelope, envelope, wrap, answer.document.created_at
        )
        return DossierDocument(
            summary,
            envelope.dossier,
            envelope.sender_device,
            tuple(envelope.recipients),
            envelope.created_at,
            content,
        )

    async def patch_document(
        self,
        ins: str,
        document: str,
        *,
        masked: bool | None = None,
        hidden_from_holder: bool | None = None,
    ) -> None:
        """Mask or unmask (MK-1), hide from or show to the holder (HD-1)."""
        if masked is None and hidden_from_holder is None:
            raise SdkError("invalid_request", "set masked or hidden_from_holder")
        body = request_body(
            DocumentPatch, {"masked": masked, "hidden_from_holder": hidden_from_holder}
        )
        await self._call("PATCH", ins, "documents", document, body=body)

    # traces

    async def access_log(self, ins: str) -> VerifiedAccessLog:
        """The log, verified here (TR-2): its chain, the checkpoint served with it, and every
        checkpoint this device kept of the dossier. A log that verifies settles them into the
        served one; one that does not leaves them as they were."""
        raw = await self._call("GET", ins, "access-log")
        answer = parse(AccessLog, raw)
        # Checked on the entries as received (their schema is checked above), not re-encoded.
        entries: list[dict[str, Any]] = raw["entries"]
        server_key = await self._device.server_key()
        kept = self._device.checkpoints.kept(ins)
        served = SavedLog(entries, answer.scope, answer.checkpoint)
        verdict = served.verify(kept=kept, server_key=server_key, ins=ins)
        if verdict.ok and verdict.checkpoint is not None:
            self._device.checkpoints.settle(
                kept, verdict.checkpoint, crypto.b64u_encode(server_key)
            )
        return VerifiedAccessLog(
            answer.scope,
            entries,
            verdict.chain,
            answer.chain_ok,
            answer.checkpoint,
            verdict.failure,
        )
