"""Signing access-log checkpoints (DESIGN §4): the server's word on where a dossier's log ends.

The hash chain (``access_log``) proves that entries link, not that they are all there: whoever
holds the log can drop its newest entries, or rewrite one and recompute every hash after it, and
the chain still verifies. A checkpoint signed with the server key pins the log's end; a reader
who keeps one can later tell a log that only grew from one that was cut or rewritten
(``messaging.client.log_check``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from dossier_link.log_models import LogCheckpoint
from messaging import crypto, log_signing
from messaging.timeutil import utc


class CheckpointSigner:
    """Signs checkpoints with the server key; ``clock`` dates them (``at``: when signed)."""

    def __init__(self, key: crypto.SigningKey, clock: Callable[[], datetime]) -> None:
        self._key = key
        self._clock = clock

    def sign(self, ins: str, seq: int, head: str) -> LogCheckpoint:
        at = utc(self._clock())
        signature = log_signing.sign_log_checkpoint(
            {"ins": ins, "seq": seq, "head": head, "at": at}, self._key
        )
        return LogCheckpoint(ins=ins, seq=seq, head=head, at=at, signature=signature)
