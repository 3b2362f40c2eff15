"""The access-log checkpoints this client keeps, per dossier (DESIGN §4).

A reader keeps proof of a dossier's log: every checkpoint seen since it last verified that log
(from notifications, and the one served with the last verified log), so that the next log is
checked against each of them (``log_check.verify_log``). Once a log verifies, the checkpoints it
was checked against are settled into the newest one. Keeping only the newest seen would let a
log rewritten between two notifications pass against the second one, signed after the rewrite.

Kept in memory, and for a client with a key file in ``<stem>.checkpoints.json`` beside it
(``~/.config/liaison/device.json`` → ``device.checkpoints.json``, mode 0600), with the server key
that signed them. Several processes of one device may write it (``watch`` while ``dossier log``
runs): each takes an exclusive lock on ``<file>.lock``, reads, merges and replaces the file.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Final, Literal

from pydantic import Field, ValidationError

from dossier_link.log_models import LogCheckpoint
from messaging import models, wire_types
from messaging.client.errors import SdkError, VerificationError
from messaging.client.identity import write_private

MAX_KEPT: Final = 64
"""Checkpoints kept per dossier between two verified reads of its log; the newest stay."""


class _KeptFile(models.WireModel):
    version: Literal[1]
    server_key: wire_types.Key32 | None = None
    dossiers: dict[str, list[LogCheckpoint]] = Field(default_factory=dict)


def _order(checkpoint: LogCheckpoint) -> tuple[int, str]:
    return checkpoint.seq, checkpoint.at


class CheckpointStore:
    """Checkpoints by dossier; ``path`` None keeps them for this process only."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = None if path is None else Path(path).expanduser()
        self._memory = _KeptFile(version=1)

    @classmethod
    def beside(cls, key_file: str | os.PathLike[str]) -> CheckpointStore:
        """A store in ``<stem>.checkpoints.json`` next to ``key_file``, as the CLI keeps it."""
        key = Path(key_file).expanduser()
        return cls(key.with_name(f"{key.stem}.checkpoints.json"))

    def kept(self, ins: str) -> list[LogCheckpoint]:
        """The checkpoints kept for the dossier of ``ins``, oldest first."""
        return list(self._read().dossiers.get(ins, []))

    def server_key(self) -> str | None:
        """The server key that signed the kept checkpoints (None before the first)."""
        return self._read().server_key

    def add(self, checkpoint: LogCheckpoint, server_key: str) -> bool:
        """Keep a checkpoint seen outside a log read (a notification); already verified.

        False when it conflicts with a kept one (same ``seq``, another ``head``: the server
        signed two different logs). Both are kept, so that every later log fails against one."""
        with self._update(server_key) as dossiers:
            kept = dossiers.setdefault(checkpoint.ins, [])
            conflict = any(k.seq == checkpoint.seq and k.head != checkpoint.head for k in kept)
            _merge(kept, [checkpoint])
        return not conflict

    def settle(
        self,
        checked: Sequence[LogCheckpoint],
        newest: LogCheckpoint,
        server_key: str,
    ) -> None:
        """A log of ``newest.ins`` verified against ``checked``: keep ``newest`` in their
        place, and whatever another process added meanwhile."""
        done = {(c.seq, c.head) for c in checked}
        with self._update(server_key) as dossiers:
            kept = [c for c in dossiers.get(newest.ins, []) if (c.seq, c.head) not in done]
            _merge(kept, [newest])
            dossiers[newest.ins] = kept

    # storage

    def _read(self) -> _KeptFile:
        if self.path is None:
            return self._memory
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return _KeptFile(version=1)
        try:
            return _KeptFile.model_validate_json(text)
        except ValidationError as exc:
            raise SdkError(
                "bad_checkpoint_file", f"{self.path} is not a Liaison checkpoint file"
            ) from exc

    @contextlib.contextmanager
    def _update(self, server_key: str) -> Iterator[dict[str, list[LogCheckpoint]]]:
        with self._locked():
            current = self._read()
            if current.server_key not in (None, server_key) and any(current.dossiers.values()):
                raise VerificationError(
                    "server_key_changed",
                    f"the kept checkpoints ({self.path or 'this process'}) were signed by "
                    "another server key: check why the server's key changed before moving "
                    "them away",
                )
            dossiers = {ins: list(kept) for ins, kept in current.dossiers.items()}
            yield dossiers
            updated = _KeptFile(version=1, server_key=server_key, dossiers=dossiers)
            if self.path is None:
                self._memory = updated
            else:
                write_private(self.path, updated.model_dump_json(indent=2) + "\n")

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        if self.path is None:
            yield
            return
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.path.with_name(f"{self.path.name}.lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)


def _merge(kept: list[LogCheckpoint], more: Sequence[LogCheckpoint]) -> None:
    seen = {(c.seq, c.head) for c in kept}
    kept.extend(c for c in more if (c.seq, c.head) not in seen)
    kept.sort(key=_order)
    del kept[:-MAX_KEPT]
