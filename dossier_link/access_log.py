"""The dossier's access log: append-only, each entry carrying the hash of the one before (TR-2).

Anyone who may read the whole log can check it with ``verify_chain``: the entry hashes are
SHA-256 over the canonical JSON of the entry without its ``hash`` (DESIGN §2 canonical form), so
a verifier in any language needs nothing but the entries.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from messaging.crypto import canonical_json

GENESIS = "0" * 64


def entry_hash(entry: Mapping[str, Any]) -> str:
    return hashlib.sha256(
        canonical_json({k: v for k, v in entry.items() if k != "hash"})
    ).hexdigest()


def chained(previous_hash: str, seq: int, fields: Mapping[str, Any]) -> dict[str, Any]:
    """The next entry after ``previous_hash``; ``None`` fields are left out of the record."""
    entry = {k: v for k, v in fields.items() if v is not None}
    entry.update(seq=seq, prev=previous_hash)
    entry["hash"] = entry_hash(entry)
    return entry


@dataclass(frozen=True, slots=True)
class ChainCheck:
    ok: bool
    entries: int
    broken_at: int | None = None
    """Sequence number of the first entry that does not verify."""
    reason: str | None = None


def verify_chain(entries: Sequence[Mapping[str, Any]], *, from_genesis: bool = True) -> ChainCheck:
    """Check every hash and every link. A purged dossier's log starts with its tombstone, whose
    ``prev`` is the last hash of the purged entries: verify it with ``from_genesis=False``.

    An entry marked ``withheld`` (a reader's view leaves some of its members out, RD-10, HD-2)
    cannot have its own hash recomputed; its links are still checked, so nothing can be dropped
    or reordered around it."""
    previous: str | None = GENESIS if from_genesis else None
    expected_seq: int | None = 1 if from_genesis else None
    for entry in entries:
        seq = entry.get("seq")
        if not isinstance(seq, int) or (expected_seq is not None and seq != expected_seq):
            return ChainCheck(
                False, len(entries), seq if isinstance(seq, int) else None, "sequence"
            )
        if entry.get("withheld") is not True and entry.get("hash") != entry_hash(entry):
            return ChainCheck(False, len(entries), seq, "entry hash")
        if previous is not None and entry.get("prev") != previous:
            return ChainCheck(False, len(entries), seq, "link to previous entry")
        previous = str(entry["hash"])
        expected_seq = seq + 1
    return ChainCheck(True, len(entries))
