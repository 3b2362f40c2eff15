"""redis-py types replies as ``bytes | str``; Liaison's clients always return bytes."""

from __future__ import annotations

from typing import Any


def text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def fields_text(fields: dict[Any, Any]) -> dict[str, str]:
    return {text(k): text(v) for k, v in fields.items()}
