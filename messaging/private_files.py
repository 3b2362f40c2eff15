"""Secrets kept in files only their owner may read (mode 0600), created once and read back."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def create_private(path: Path, content: str) -> bool:
    """Write ``content`` to a new file readable by its owner only; False if it already exists."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(content)
    return True


def random_secret(path: Path) -> str:
    """The secret kept in ``path``, generated (256 bits, URL-safe) on first use."""
    create_private(path, secrets.token_urlsafe(32))
    return path.read_text(encoding="utf-8").strip()
