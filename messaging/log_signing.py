"""Signed access-log checkpoints (DESIGN §4): what the server signs of a dossier log's head.

Kept beside ``crypto`` (which holds the primitives) so that module stays one screenful of
libsodium; the signature is Ed25519 under ``ctx("liaison/v1/log-checkpoint")``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from messaging import canonical, crypto

CHECKPOINT_FIELDS: Final = frozenset({"ins", "seq", "head", "at"})


def checkpoint_signing_bytes(checkpoint: Mapping[str, Any]) -> bytes:
    """What the server signs: the canonical JSON of exactly ``{ins, seq, head, at}``.

    Anything else is refused rather than signed or verified, so that a checkpoint means the same
    to every implementation: no extra member rides along, ``seq`` is a JSON integer (never a
    boolean or a float) and the three others are strings.
    """
    if set(checkpoint) != CHECKPOINT_FIELDS:
        raise crypto.CryptoError(
            f"a checkpoint has exactly the members {sorted(CHECKPOINT_FIELDS)}"
        )
    seq = checkpoint["seq"]
    if (
        not isinstance(seq, int)
        or isinstance(seq, bool)
        or not 0 <= seq <= canonical.MAX_SAFE_INTEGER
    ):
        raise crypto.CryptoError("a checkpoint's seq is an integer from 0 to 2^53-1")
    if not all(isinstance(checkpoint[name], str) for name in ("ins", "head", "at")):
        raise crypto.CryptoError("a checkpoint's ins, head and at are strings")
    return crypto.canonical_json(dict(checkpoint))


def sign_log_checkpoint(checkpoint: Mapping[str, Any], server_key: crypto.SigningKey) -> str:
    return crypto.b64u_encode(
        server_key.sign(crypto.CTX_LOG_CHECKPOINT, checkpoint_signing_bytes(checkpoint))
    )


def verify_log_checkpoint(
    checkpoint: Mapping[str, Any], signature: str, server_public: bytes
) -> None:
    message = crypto.verifiable(lambda: checkpoint_signing_bytes(checkpoint))
    crypto.verify(server_public, crypto.CTX_LOG_CHECKPOINT, message, crypto.b64u_decode(signature))
