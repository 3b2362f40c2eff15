"""The Lua scripts that make each multi-key step atomic on one hash tag (see ``lua/``), and a
pipeline runner for them.

redis-py's own pipelines check ``SCRIPT EXISTS`` before every execution: one more round trip on
the hot path. ``run`` sends ``EVALSHA`` straight away and loads a script only when Redis answers
``NOSCRIPT`` (after a restart or a flush), retrying just the calls that were not run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from importlib import resources
from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError


def _source(name: str) -> str:
    return resources.files("messaging").joinpath(f"lua/{name}.lua").read_text(encoding="utf-8")


class Enqueue(IntEnum):
    """What ``enqueue.lua`` did with one item."""

    QUEUED = 1
    DUPLICATE = 0
    """Already in the queue: a retry."""
    FULL = -1
    """Refused: the queue holds its quota."""


class Claim(IntEnum):
    """What ``claim.lua`` found for a message id."""

    NEW = 1
    RETRY = 0
    """The same envelope again; its answer follows when the first attempt finished."""
    CONFLICT = -1
    """The id was used for another envelope."""


@dataclass(frozen=True, slots=True)
class Scripts:
    enqueue: AsyncScript
    withdraw: AsyncScript
    ack: AsyncScript
    enroll: AsyncScript
    claim: AsyncScript
    revoke: AsyncScript
    retire: AsyncScript

    @classmethod
    def register(cls, redis: Redis) -> Scripts:
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


async def run(redis: Redis, calls: Sequence[Call]) -> list[Any]:
    """Run ``calls`` in one round trip (two when a script must first be loaded)."""
    async with redis.pipeline(transaction=False) as pipe:
        for call in calls:
            if call.script is None:
                pipe.execute_command(*call.args)
            else:
                pipe.execute_command("EVALSHA", call.script.sha, *call.args)
        results: list[Any] = await pipe.execute(raise_on_error=False)
    unloaded = [i for i, result in enumerate(results) if isinstance(result, NoScriptError)]
    if unloaded:
        missing = {id(s): s for i in unloaded if (s := calls[i].script) is not None}
        for script in missing.values():
            await redis.script_load(script.script)
        retried = await run(redis, [calls[i] for i in unloaded])
        for i, result in zip(unloaded, retried, strict=True):
            results[i] = result
    for result in results:
        if isinstance(result, Exception):
            raise result
    return results
