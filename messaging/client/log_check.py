"""Checking an access log against the server's signed checkpoints (DESIGN §4), here and offline.

The hash chain proves that entries link; the checkpoints prove that the log still holds what the
server once signed for. ``verify_log`` takes the entries, the checkpoint served with them and the
checkpoints this reader kept from earlier reads and notifications, and fails, naming the ``seq``,
when a checkpoint is not the server's, belongs to another dossier, or pins an entry the log no
longer has (truncated) or no longer has as it was (rewritten, even with every hash recomputed).
docs/protocol.md states the same algorithm for other implementations.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from dossier_link.access_log import ChainCheck, entry_hash, verify_chain
from dossier_link.log_models import LogCheckpoint
from messaging import crypto

Scope = Literal["all", "own"]


@dataclass(frozen=True, slots=True)
class LogFailure:
    """Why a log does not verify: a stable ``code``, the ``seq`` at stake, and a sentence."""

    code: str
    seq: int | None
    message: str

    def as_dict(self) -> dict[str, Any]:
        """The failure as a JSON document."""
        return {"code": self.code, "seq": self.seq, "message": self.message}


@dataclass(frozen=True, slots=True)
class LogVerdict:
    """What verifying a log found: the ``chain`` check, the ``checkpoint`` to keep, the
    ``failure`` if any, and whether signatures were checked (not without the server key)."""

    chain: ChainCheck
    checkpoint: LogCheckpoint | None
    """The newest checkpoint the log was found consistent with: the one to keep."""
    failure: LogFailure | None = None
    signatures_checked: bool = True

    @property
    def ok(self) -> bool:
        """Whether the chain holds and nothing failed."""
        return self.chain.ok and self.failure is None

    def as_dict(self) -> dict[str, Any]:
        """The verdict as a JSON document (what ``verify-log --json`` prints)."""
        return {
            "verified": self.ok,
            "entries": self.chain.entries,
            "broken_at": self.chain.broken_at,
            "reason": self.chain.reason,
            "failure": None if self.failure is None else self.failure.as_dict(),
            "checkpoint": None if self.checkpoint is None else self.checkpoint.model_dump(),
            "signatures_checked": self.signatures_checked,
        }


def verify_entries(entries: Sequence[Mapping[str, Any]], scope: Scope = "all") -> ChainCheck:
    """``verify_chain`` for a whole log. A log of one's ``own`` entries has gaps where other
    people's entries were left out, so each entry's own hash and the order are checked, and the
    link wherever two consecutive entries are both present."""
    if scope == "all":
        return verify_chain(entries)
    previous: Mapping[str, Any] | None = None
    for entry in entries:
        seq = entry.get("seq")
        if not isinstance(seq, int) or (previous is not None and seq <= previous["seq"]):
            return ChainCheck(
                False, len(entries), seq if isinstance(seq, int) else None, "sequence"
            )
        if entry.get("hash") != entry_hash(entry):
            return ChainCheck(False, len(entries), seq, "entry hash")
        if (
            previous is not None
            and seq == previous["seq"] + 1
            and entry.get("prev") != (previous["hash"])
        ):
            return ChainCheck(False, len(entries), seq, "link to previous entry")
        previous = entry
    return ChainCheck(True, len(entries))


def verify_log(
    entries: Sequence[Mapping[str, Any]],
    scope: Scope,
    *,
    ins: str | None,
    served: LogCheckpoint | None,
    kept: Sequence[LogCheckpoint] = (),
    server_key: bytes | None,
) -> LogVerdict:
    """Check ``entries`` (the chain), then ``served`` (the checkpoint that came with them) and
    every ``kept`` checkpoint against them. ``ins`` is the dossier the log is meant to be (by
    default the served checkpoint's); without ``server_key`` no signature is checked."""
    chain = verify_entries(entries, scope)
    newest = max([*kept, *([served] if served else [])], key=_order, default=None)
    if not chain.ok:
        reason = f"the hash chain is broken at seq {chain.broken_at}: {chain.reason}"
        return LogVerdict(chain, None, LogFailure("chain_broken", chain.broken_at, reason))
    # A checkpoint the server did not sign proves nothing: that is checked first.
    failure = None if server_key is None else _check_signatures(served, kept, server_key)
    if failure is None:
        failure = _check(entries, scope, ins or (served.ins if served else None), served, kept)
    if failure is not None:
        return LogVerdict(chain, None, failure, server_key is not None)
    return LogVerdict(chain, newest, None, server_key is not None)


def _order(checkpoint: LogCheckpoint) -> tuple[int, str]:
    return checkpoint.seq, checkpoint.at


def _check_signatures(
    served: LogCheckpoint | None, kept: Sequence[LogCheckpoint], server_key: bytes
) -> LogFailure | None:
    for role, checkpoint in [("served", served), *(("kept", k) for k in kept)]:
        if checkpoint is None:
            continue
        try:
            checkpoint.verify(server_key)
        except crypto.CryptoError:
            return LogFailure(
                "checkpoint_forged",
                checkpoint.seq,
                f"the {role} checkpoint of seq {checkpoint.seq} is not signed by the server key",
            )
    return None


def _check(
    entries: Sequence[Mapping[str, Any]],
    scope: Scope,
    ins: str | None,
    served: LogCheckpoint | None,
    kept: Sequence[LogCheckpoint],
) -> LogFailure | None:
    for role, checkpoint in [("served", served), *(("kept", k) for k in kept)]:
        if checkpoint is not None and ins is not None and checkpoint.ins != ins:
            return LogFailure(
                "checkpoint_other_dossier",
                checkpoint.seq,
                f"the {role} checkpoint of seq {checkpoint.seq} is of dossier {checkpoint.ins}, "
                f"not of {ins}",
            )
    hashes = {int(e["seq"]): str(e["hash"]) for e in entries}
    # Where the log ends: the served checkpoint says so for every scope; a whole log shows it.
    last = max(hashes, default=0)
    end = served.seq if served is not None else (last if scope == "all" else None)
    if served is not None and last > served.seq:
        return LogFailure(
            "checkpoint_behind",
            last,
            f"the log goes on to seq {last}, past the checkpoint served with it (seq {served.seq})",
        )
    if scope == "all" and served is not None and last < served.seq:
        return _truncated(last, served, "served with it")
    for checkpoint in sorted([*kept, *([served] if served else [])], key=_order):
        if end is not None and checkpoint.seq > end:
            return _truncated(end, checkpoint, f"of {checkpoint.at}")
        found = hashes.get(checkpoint.seq)
        if found is not None and found != checkpoint.head:
            return _rewritten(checkpoint, found)
        if served is not None and checkpoint.seq == served.seq and checkpoint.head != served.head:
            return _rewritten(checkpoint, served.head)
    return None


def _truncated(end: int, checkpoint: LogCheckpoint, which: str) -> LogFailure:
    missing = checkpoint.seq - end
    return LogFailure(
        "log_truncated",
        checkpoint.seq,
        f"the log ends at seq {end}, but the checkpoint {which} pins seq {checkpoint.seq}: "
        f"{missing} {'entry is' if missing == 1 else 'entries are'} missing",
    )


def _rewritten(checkpoint: LogCheckpoint, found: str) -> LogFailure:
    return LogFailure(
        "log_rewritten",
        checkpoint.seq,
        f"entry {checkpoint.seq} has hash {found[:16]}…, but the checkpoint of {checkpoint.at} "
        f"pins {checkpoint.head[:16]}…: the log was rewritten at or before seq {checkpoint.seq}",
    )
