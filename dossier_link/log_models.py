"""The access log on the wire (TR-1, TR-2, DESIGN §4): an entry, the signed checkpoint of the
log's end, and a reading of the log."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, StringConstraints, model_validator

from dossier_link.policy import Basis
from messaging import log_signing
from messaging.models import (
    WireModel,
)
from messaging.wire_types import (
    Ins,
    Signature,
    Timestamp,
)

Hash = Annotated[str, StringConstraints(strict=True, pattern=r"^[0-9a-f]{64}$")]


def _is_none(value: object) -> bool:
    return value is None


def _optional() -> Any:
    return Field(default=None, exclude_if=_is_none)


def _absent_not_null(schema: dict[str, Any]) -> None:
    # A member that does not apply is left out, never sent as null: the schema says so.
    for prop in schema.get("properties", {}).values():
        options = prop.pop("anyOf", None)
        if options is not None:
            prop.update(next(o for o in options if o.get("type") != "null"))
            prop.pop("default", None)


class LogEntry(WireModel):
    """One entry of a dossier's access log (TR-1, TR-2), exactly as stored and hashed: ``hash``
    is SHA-256 over the canonical JSON of every other member present (``access_log``), so a
    member that does not apply is absent, never null."""

    model_config = ConfigDict(json_schema_extra=_absent_not_null)

    seq: int = Field(ge=1)
    prev: Hash
    hash: Hash
    at: Timestamp | None = _optional()
    actor: str | None = Field(
        default=None, exclude_if=_is_none, description="A principal, or `operator` or `system`."
    )
    action: str | None = _optional()
    outcome: Literal["allowed", "refused"] | None = _optional()
    reason: str | None = Field(
        default=None,
        exclude_if=_is_none,
        description="The rules' reason code (`ok` when allowed).",
    )
    withheld: Literal[True] | None = Field(
        default=None,
        exclude_if=_is_none,
        description="RD-10, HD-2: members this reader may not see are left out, so the entry's "
        "own hash cannot be checked; its links (`seq`, `prev`, `hash`) still can.",
    )
    basis: Basis | None = _optional()
    target: str | None = _optional()
    detail: str | None = _optional()
    document: str | None = _optional()
    message: str | None = _optional()
    expires_at: Timestamp | None = _optional()
    purge_at: Timestamp | None = _optional()
    closed_at: Timestamp | None = _optional()
    emergency: str | None = _optional()

    @model_validator(mode="after")
    def _complete(self) -> LogEntry:
        # Every entry as stored says when, who, what and how it ended; only a reader's view
        # withholds members.
        stated = (self.at, self.actor, self.action, self.outcome, self.reason)
        if self.withheld is None and None in stated:
            raise ValueError("an entry states at, actor, action, outcome and reason")
        return self


class LogCheckpoint(WireModel):
    """The server's signed word that at ``at`` the log of ``ins`` ended at entry ``seq``, whose
    hash is ``head`` (DESIGN §4). ``signature`` covers the four other members
    (``log_signing.sign_log_checkpoint``)."""

    ins: Ins
    seq: int = Field(ge=1, le=2**53 - 1)
    head: Hash
    at: Timestamp
    signature: Signature

    def body(self) -> dict[str, Any]:
        """The signed members: ``{ins, seq, head, at}``."""
        return self.model_dump(exclude={"signature"})

    def verify(self, server_key: bytes) -> None:
        """Raise ``crypto.CryptoError`` unless the server key signed this checkpoint."""
        log_signing.verify_log_checkpoint(self.body(), self.signature, server_key)


class AccessLog(WireModel):
    scope: Literal["all", "own"]
    entries: list[LogEntry]
    chain_ok: bool | None = Field(
        default=None, description="The server's own check of the chain (for scope all)."
    )
    checkpoint: LogCheckpoint = Field(
        description="The latest signed checkpoint of the whole log, whatever the scope."
    )
