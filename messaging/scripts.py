"""The Lua scripts that make each multi-key step atomic on one hash tag (see ``lua/``)."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

from redis.asyncio import Redis
from redis.commands.core import AsyncScript


def _source(name: str) -> str:
    return resources.files("messaging").joinpath(f"lua/{name}.lua").read_text(encoding="utf-8")


@dataclass(frozen=True, slots=True)
class Scripts:
    enqueue: AsyncScript
    withdraw: AsyncScript
    ack: AsyncScript
    enroll: AsyncScript
    claim: AsyncScript
    revoke: AsyncScript

    @classmethod
    def register(cls, redis: Redis) -> Scripts:
        return cls(
            **{name: redis.register_script(_source(name)) for name in cls.__dataclass_fields__}
        )
