"""How one batch of the auto-pipeline travels to Redis, by deployment shape.

- One server: the whole batch, with its ``WAIT``, on the server's batch connection
  (``messaging.redis_pipe``).
- A cluster: one part per primary, by each call's slot in redis-py's slot map, every part on that
  node's batch connection, all parts at once. A call a node redirects (``MOVED``, ``ASK``),
  cannot take yet (``TRYAGAIN``, ``CLUSTERDOWN``), or that was on a node's lost connection, goes
  again through redis-py's cluster pipeline: redis-py follows the redirection, refreshes its slot
  map on the way, and waits out a failover as it always did. No call spans slots (DESIGN §7), so
  splitting a batch by node never splits a call.
- redis-py's pipeline itself (the cluster's second try).

Each returns every call's reply (an error reply standing in for its call, as in redis-py's
pipelines) and the replies of the ``WAIT`` commands its durable calls needed, one per node
written.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from redis.asyncio import Redis, RedisCluster
from redis.asyncio.cluster import ClusterNode
from redis.exceptions import (
    AskError,
    ClusterDownError,
    SlotNotCoveredError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from messaging.redis_pipe import Pipes
from messaging.scripts import Call

_ANOTHER_TRY = (AskError, TryAgainError, ClusterDownError)  # MovedError is an AskError
_NODE_LOST = (RedisConnectionError, RedisTimeoutError)


@dataclass(frozen=True, slots=True)
class Wait:
    """``WAIT replicas timeout``: sent after a node's durable writes, on their connection."""

    replicas: int
    timeout_ms: int

    @property
    def command(self) -> tuple[Any, ...]:
        return ("WAIT", self.replicas, self.timeout_ms)


class RoundTrip(Protocol):
    async def __call__(
        self, calls: Sequence[Call], durable: Sequence[bool]
    ) -> tuple[list[Any], list[Any]]:
        """The replies of ``calls``, and of the ``WAIT`` each node written by a durable call
        got (none when ``durable`` is all False)."""
        ...


def _shaped(calls: Sequence[Call], replies: list[Any], callbacks: Mapping[Any, Any]) -> None:
    """A plain command's reply in the shape redis-py's callback for it gives (XRANGE's entries
    as (id, fields) pairs), as its pipelines would; scripts have no callback."""
    for i, call in enumerate(calls):
        if call.script is None and not isinstance(replies[i], Exception):
            callback = callbacks.get(call.args[0])
            if callback is not None:
                replies[i] = callback(replies[i])


class ThroughRedisPy:
    """The batch as one redis-py pipeline (one round trip per node on a cluster)."""

    def __init__(self, client: Redis | RedisCluster, wait: Wait) -> None:
        self._client = client
        self._wait = wait

    async def __call__(
        self, calls: Sequence[Call], durable: Sequence[bool]
    ) -> tuple[list[Any], list[Any]]:
        waits = self._waits([c for c, d in zip(calls, durable, strict=True) if d])
        async with self._client.pipeline(transaction=False) as pipe:
            for call in calls:
                pipe.execute_command(*call.wire)
            for target in waits:
                pipe.execute_command(*self._wait.command, **target)
            results: list[Any] = await pipe.execute(raise_on_error=False)
        return results[: len(calls)], results[len(calls) :]

    def _waits(self, calls: Sequence[Call]) -> list[dict[str, Any]]:
        """One ``WAIT`` per node the calls write to: its target, as a pipeline keyword."""
        if not calls:
            return []
        if not isinstance(self._client, RedisCluster):
            return [{}]
        nodes = {node.name: node for node in map(_node_of(self._client), calls)}
        return [{"target_nodes": node} for node in nodes.values()]


class OnPipe:
    """The batch on one server's batch connection."""

    def __init__(self, pipes: Pipes, callbacks: Mapping[Any, Any], wait: Wait) -> None:
        self._pipes = pipes
        self._callbacks = callbacks
        self._wait = wait

    async def __call__(
        self, calls: Sequence[Call], durable: Sequence[bool]
    ) -> tuple[list[Any], list[Any]]:
        commands = [call.wire for call in calls]
        if any(durable):
            commands.append(self._wait.command)
        results = await self._pipes.run(self._pipes.endpoint, commands)
        replies, acks = results[: len(calls)], results[len(calls) :]
        _shaped(calls, replies, self._callbacks)
        return replies, acks


class OnClusterPipes:
    """The batch split by node, each part on its node's batch connection; what a node turns
    away goes again through redis-py (``again``)."""

    def __init__(
        self,
        cluster: RedisCluster,
        pipes: Pipes,
        callbacks: Mapping[Any, Any],
        wait: Wait,
        again: ThroughRedisPy,
    ) -> None:
        self._node_of = _node_of(cluster)
        self._pipes = pipes
        self._callbacks = callbacks
        self._wait = wait
        self._again = again

    async def __call__(
        self, calls: Sequence[Call], durable: Sequence[bool]
    ) -> tuple[list[Any], list[Any]]:
        parts: dict[str, tuple[ClusterNode, list[int]]] = {}
        for i, call in enumerate(calls):
            node = self._node_of(call)
            parts.setdefault(node.name, (node, []))[1].append(i)
        outcomes = await asyncio.gather(
            *(self._part(node, calls, indices, durable) for node, indices in parts.values()),
            return_exceptions=True,
        )
        replies: list[Any] = [None] * len(calls)
        acks: list[Any] = []
        again: list[int] = []
        for (_, indices), outcome in zip(parts.values(), outcomes, strict=True):
            if isinstance(outcome, _NODE_LOST):
                again += indices
                continue
            if isinstance(outcome, BaseException):
                raise outcome
            for i, reply in zip(indices, outcome, strict=False):
                if isinstance(reply, _ANOTHER_TRY):
                    again.append(i)
                else:
                    replies[i] = reply
            acks += outcome[len(indices) :]
        _shaped(calls, replies, self._callbacks)
        if again:
            again.sort()  # a caller's calls in their order again
            retried, retried_acks = await self._again(
                [calls[i] for i in again], [durable[i] for i in again]
            )
            for i, reply in zip(again, retried, strict=True):
                replies[i] = reply
            acks += retried_acks
        return replies, acks

    async def _part(
        self, node: ClusterNode, calls: Sequence[Call], indices: list[int], durable: Sequence[bool]
    ) -> list[Any]:
        commands = [calls[i].wire for i in indices]
        if any(durable[i] for i in indices):
            commands.append(self._wait.command)
        return await self._pipes.run(self._pipes.endpoint.at(node.host, int(node.port)), commands)


def _node_of(cluster: RedisCluster) -> Callable[[Call], ClusterNode]:
    def node_of(call: Call) -> ClusterNode:
        node = cluster.get_node_from_key(call.key)
        if node is None:
            raise SlotNotCoveredError(f"no node serves the slot of {call.key!r}")
        return node

    return node_of
