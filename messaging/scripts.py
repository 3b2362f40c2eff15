"""The Lua scripts that make each multi-key step atomic on one hash tag (see ``lua/``), and the
calls that pipelines carry (run by ``messaging.redis_link.RedisLink.run``).

redis-py's own pipelines check ``SCRIPT EXISTS`` before every execution: one more round trip on
the hot path. ``RedisLink.run`` sends ``EVALSHA`` straight away and loads a script only when
Redis answers ``NOSCRIPT`` (after a restart, a flush or a failover), retrying just those calls.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from importlib import resources
from typing import Any

from redis.asyncio import Redis, RedisCluster
from redis.commands.core import AsyncScript


def _source(name: str) -> str:
    return resources.files("messaging").joinpath(f"lua/{name}.lua").read_text(encoding="utf-8")


class Enqueue(IntEnum):
    """What ``enqueue.lua`` did with one item."""

    QUEUED = 1
    DUPLICATE = 0
    """Already in the queue: a retry."""
    FULL = -1
    """Refused: the queue holds its quota."""
    SHARE = -2
    """Refused: the queue holds the sender's whole share of the quota."""


class Claim(IntEnum):
    """What ``claim.lua`` found for a message id."""

    NEW = 1
    RETRY = 0
    """The same envelope again: the first attempt's acceptance time, and whether it finished."""
    CONFLICT = -1
    """The id was used for another envelope."""


@dataclass(frozen=True, slots=True)
class Scripts:
    enqueue: AsyncScript
    withdraw: AsyncScript
    ack: AsyncScript
    enroll: AsyncScript
    claim: AsyncScript
    answer: AsyncScript
    release: AsyncScript
    revoke: AsyncScript
    retire: AsyncScript
    limit: AsyncScript
    blob_create: AsyncScript
    blob_write: AsyncScript
    blob_complete: AsyncScript
    blob_bind: AsyncScript
    blob_delete: AsyncScript
    blob_pin: AsyncScript

    @classmethod
    def register(cls, redis: Redis | RedisCluster) -> Scripts:
        return cls(
            **{name: redis.register_script(_source(name)) for name in cls.__dataclass_fields__}
        )


@dataclass(frozen=True, slots=True)
class Call:
    """One command of a pipeline: a script with its keys and arguments, or a plain command."""

    script: AsyncScript | None
    args: tuple[Any, ...]

    @classmethod
    def of(cls, script: AsyncScript, keys: Sequence[str], args: Sequence[Any]) -> Call:
        return cls(script, (len(keys), *keys, *args))

    @classmethod
    def command(cls, *args: Any) -> Call:
        return cls(None, args)

    @property
    def wire(self) -> tuple[Any, ...]:
        """The command as sent: a script by its SHA1 (``EVALSHA``)."""
        return self.args if self.script is None else ("EVALSHA", self.script.sha, *self.args)

    @property
    def key(self) -> str:
        """The call's first key: its slot is the call's slot (a call never spans two)."""
        return str(self.args[1])
