"""redis-py's clients as Liaison runs them: every round trip timed (``Observe``), commands
packed by hiredis' C packer, and on a cluster a bounded number of operations in flight
(``Turns``) and no multi-key command split across slots (``CrossSlot``).

``messaging.redis_link`` picks one of these for ``LIAISON_REDIS_MODE`` and wraps it; nothing
else builds a redis-py client for the service.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextvars import ContextVar
from typing import Any, TypeAlias
from urllib.parse import urlsplit

from redis.asyncio import BlockingConnectionPool, Redis, RedisCluster
from redis.asyncio.client import Pipeline
from redis.asyncio.cluster import ClusterPipeline
from redis.asyncio.connection import (
    AbstractConnection,
    Connection,
    SSLConnection,
    UnixDomainSocketConnection,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisClusterException

from messaging.redis_pipe import pack

_IN_TURN: ContextVar[bool] = ContextVar("liaison_redis_in_turn", default=False)


class CrossSlot(RedisClusterException):
    """A multi-key command whose keys hash to several slots: a design error, never split."""


class Turns:
    """At most ``size`` Redis operations in flight per process; the others wait their turn.

    An operation uses at most one connection per node, so no node's pool of ``size``
    connections is ever exhausted. Nested operations (redis-py retrying a pipeline's redirected
    command) run within their parent's turn.
    """

    def __init__(self, size: int, timeout: float) -> None:
        self._free = asyncio.Semaphore(size)
        self._timeout = timeout

    @contextlib.asynccontextmanager
    async def __call__(self) -> AsyncIterator[None]:
        if _IN_TURN.get():
            yield
            return
        try:
            async with asyncio.timeout(self._timeout):
                await self._free.acquire()
        except TimeoutError:
            raise RedisConnectionError("no Redis connection became free in time") from None
        token = _IN_TURN.set(True)
        try:
            yield
        finally:
            _IN_TURN.reset(token)
            self._free.release()


Observe: TypeAlias = Callable[[str, float], None]
"""Told of each Redis round trip: its command (``PIPELINE`` for a batch) and its seconds."""


def unobserved(command: str, seconds: float) -> None:
    """The default ``Observe``: nobody is watching."""


def _command_name(name: Any) -> str:
    return (name.decode() if isinstance(name, bytes) else str(name)).upper()


class _TimedPipeline(Pipeline):
    def __init__(self, client: Redis, transaction: bool, observe: Observe) -> None:
        super().__init__(client.connection_pool, client.response_callbacks, transaction, None)
        self._observe = observe

    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        started = time.perf_counter()
        try:
            return await super().execute(raise_on_error)
        finally:
            self._observe("PIPELINE", time.perf_counter() - started)


class Standalone(Redis):
    """redis-py's client for one server, timing each round trip."""

    def __init__(self, pool: BlockingConnectionPool, observe: Observe) -> None:
        super().__init__(connection_pool=pool)
        self.auto_close_connection_pool = True  # closing the client closes the pool
        self._observe = observe

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        started = time.perf_counter()
        try:
            return await super().execute_command(*args, **options)  # type: ignore[no-untyped-call]
        finally:
            self._observe(_command_name(args[0]), time.perf_counter() - started)

    def pipeline(self, transaction: bool = True, shard_hint: Any | None = None) -> Pipeline:
        if shard_hint:
            raise ValueError("shard_hint is not used by Liaison")
        return _TimedPipeline(self, transaction, self._observe)


class _HiredisPacking:
    """Commands packed by hiredis' C packer. redis-py's asyncio connections pack in Python,
    which made packing the costliest part of an enqueue call (35 -> 18 µs of client CPU per
    call in a batch of 32, ``docs/performance.md``); its synchronous client packs with hiredis
    already."""

    def pack_command(self, *args: Any) -> list[bytes]:
        return [pack(args)]


class _Connection(_HiredisPacking, Connection):
    pass


class _SSLConnection(_HiredisPacking, SSLConnection):
    pass


class _UnixConnection(_HiredisPacking, UnixDomainSocketConnection):
    pass


_PACKED_TCP: dict[type[Connection], type[Connection]] = {
    Connection: _Connection,
    SSLConnection: _SSLConnection,
}


def connection_class(url: str) -> type[AbstractConnection]:
    """The packed twin of the class redis-py picks for the URL's scheme."""
    scheme = urlsplit(url).scheme
    return {"rediss": _SSLConnection, "unix": _UnixConnection}.get(scheme, _Connection)


class _ClusterPipeline(ClusterPipeline):
    def __init__(
        self, client: RedisCluster, transaction: bool | None, turns: Turns, observe: Observe
    ) -> None:
        super().__init__(client, transaction)
        self._turns = turns
        self._observe = observe

    async def execute(
        self, raise_on_error: bool = True, allow_redirections: bool = True
    ) -> list[Any]:
        async with self._turns():
            started = time.perf_counter()
            try:
                return await super().execute(raise_on_error, allow_redirections)
            finally:
                self._observe("PIPELINE", time.perf_counter() - started)


class Cluster(RedisCluster):
    """redis-py's cluster client, waiting for a free connection, refusing cross-slot splits,
    and timing each round trip (once a connection is free)."""

    def __init__(self, *args: Any, turns: Turns, observe: Observe, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._turns = turns
        self._observe = observe
        # redis-py has no option for the nodes' connection class: nodes found later are built
        # from the manager's arguments, the startup nodes exist already.
        packed = _PACKED_TCP.get(self.nodes_manager.connection_kwargs["connection_class"])
        if packed is not None:
            self.nodes_manager.connection_kwargs["connection_class"] = packed
            for node in self.nodes_manager.startup_nodes.values():
                node.connection_class = packed

    async def initialize(self, *args: Any, **kwargs: Any) -> RedisCluster:
        try:
            return await super().initialize(*args, **kwargs)
        except CrossSlot:
            raise
        except RedisClusterException as exc:
            # No node answers, or the slots are not all served: an unreachable Redis.
            raise RedisConnectionError(f"Redis Cluster unavailable: {exc}") from exc

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        async with self._turns():
            started = time.perf_counter()
            try:
                return await super().execute_command(*args, **kwargs)
            finally:
                self._observe(_command_name(args[0]), time.perf_counter() - started)

    def pipeline(
        self, transaction: Any | None = None, shard_hint: Any | None = None
    ) -> ClusterPipeline:
        if shard_hint:
            raise RedisClusterException("shard_hint is not supported in cluster mode")
        # mypy sees redis-py's ClusterPipeline as abstract; redis-py instantiates it the same.
        return _ClusterPipeline(  # type: ignore[abstract]
            self, transaction, self._turns, self._observe
        )

    def _partition_keys_by_slot(self, keys: Iterable[Any]) -> dict[int, list[Any]]:
        slots: dict[int, list[Any]] = super()._partition_keys_by_slot(keys)
        if len(slots) > 1:
            raise CrossSlot(f"keys of one command span {len(slots)} slots: {list(keys)!r}")
        return slots
