"""The one place that knows whether Redis is one server or a cluster (``LIAISON_REDIS_MODE``).

Everything else holds a ``RedisLink``: ``client`` for single commands (redis-py's ``Redis`` or
``RedisCluster``, which share one command API), ``run`` for pipelines of scripts and commands,
``publish`` and ``feed`` for wake-ups. Keys touched together share one hash tag (DESIGN §7), so
no call ever spans slots; what differs on a cluster is kept here:

- ``run`` sends one batch per node: each call goes to the node owning its slot, each node's
  calls travel on that node's batch connection, all nodes at once, and what a node redirects
  goes again through redis-py's cluster pipeline (``messaging.redis_batches``). The calls of
  every request of one event-loop turn share that batch (``messaging.autopipeline``).
- A multi-key command whose keys span slots is refused, never split: redis-py would split a
  ``DEL`` or ``EXISTS`` into one command per slot, quietly making one atomic step several
  (``messaging.redis_clients.CrossSlot``).
- A burst waits for a free connection (``redis_pool_timeout_seconds``), as the standalone
  ``BlockingConnectionPool`` does, instead of failing with redis-py's ``MaxConnectionsError``
  (``messaging.redis_clients.Turns``).
- ``durable`` writes end with ``WAIT`` on every node they touched
  (``LIAISON_REDIS_WAIT_REPLICAS``).
- Wake-ups travel as sharded pub/sub on Redis 7 and as broadcast ``PUBLISH`` on 6.2
  (``messaging.pubsub``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, Literal, TypeAlias

from redis.asyncio import BlockingConnectionPool, Redis, RedisCluster
from redis.exceptions import (
    ClusterDownError,
    ClusterError,
    MasterDownError,
    NoScriptError,
    SlotNotCoveredError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.maint_notifications import MaintNotificationsConfig

from messaging.autopipeline import AutoPipeline, Then
from messaging.errors import ReplicasUnavailable
from messaging.pubsub import Feed, PatternFeed, ShardedFeed, SubscriberOptions
from messaging.redis_batches import OnClusterPipes, OnPipe, RoundTrip, ThroughRedisPy, Wait
from messaging.redis_clients import (
    Cluster,
    Observe,
    Standalone,
    Turns,
    connection_class,
    unobserved,
)
from messaging.redis_pipe import Endpoint, Pipes
from messaging.redis_text import text
from messaging.scripts import Call
from messaging.settings import Settings

RedisClient: TypeAlias = Redis | RedisCluster
PublishCommand: TypeAlias = Literal["PUBLISH", "SPUBLISH"]

UNAVAILABLE: tuple[type[Exception], ...] = (
    RedisConnectionError,
    RedisTimeoutError,
    ClusterDownError,
    ClusterError,
    MasterDownError,
    SlotNotCoveredError,
    TryAgainError,
)
"""What an unreachable Redis raises, one server or a cluster in failover: a 503, not a bug."""

_HEALTH_CHECK_SECONDS = 30
BATCHES_IN_FLIGHT = 2
"""Batches of calls out at once per process; more calls wait for one to come back."""


def _connection_options(settings: Settings) -> dict[str, Any]:
    return {
        "socket_connect_timeout": settings.redis_connect_timeout_seconds,
        "socket_timeout": settings.redis_command_timeout_seconds,
        "health_check_interval": _HEALTH_CHECK_SECONDS,
    }


def retry_after(settings: Settings) -> int:
    """Whole seconds a client should wait after a 503 for an unreachable Redis."""
    return max(1, math.ceil(settings.redis_reconnect_seconds))


class RedisLink:
    def __init__(
        self,
        client: RedisClient,
        feed: Callable[[Callable[[bytes, bytes], None]], Feed],
        *,
        sharded: bool,
        wait_replicas: int,
        wait_timeout_ms: int,
        pipes: Pipes,
        batches_in_flight: int = BATCHES_IN_FLIGHT,
    ) -> None:
        self.client = client
        self._pipes = pipes
        self._feed = feed
        self.sharded = sharded
        self.publish_command: PublishCommand = "SPUBLISH" if sharded else "PUBLISH"
        self._wait_replicas = wait_replicas
        wait = Wait(wait_replicas, wait_timeout_ms)
        self._round_trip: RoundTrip = (
            OnClusterPipes(
                client, pipes, client.response_callbacks, wait, ThroughRedisPy(client, wait)
            )
            if isinstance(client, RedisCluster)
            else OnPipe(pipes, client.response_callbacks, wait)
        )
        self._batches = AutoPipeline(self._execute, max_in_flight=batches_in_flight)

    @property
    def waits_for_replicas(self) -> bool:
        return self._wait_replicas > 0

    @property
    def cluster(self) -> RedisCluster | None:
        return self.client if isinstance(self.client, RedisCluster) else None

    def feed(self, on_message: Callable[[bytes, bytes], None]) -> Feed:
        """The subscription that brings wake-up and invalidation messages to ``on_message``."""
        return self._feed(on_message)

    async def publish(self, channel: str, data: bytes | str) -> None:
        await self.client.execute_command(self.publish_command, channel, data)

    async def ready(self) -> None:
        """Raise unless every primary answers."""
        cluster = self.cluster
        if cluster is None:
            await self.client.ping()
        else:
            await cluster.ping(target_nodes=RedisCluster.PRIMARIES)

    async def aclose(self) -> None:
        await self._pipes.aclose()
        await self.client.aclose()

    async def run(self, calls: Sequence[Call], *, durable: bool = False) -> list[Any]:
        """The replies to ``calls``, sent in one round trip per node together with the calls
        of every other request of this event-loop turn (``messaging.autopipeline``).

        ``durable``: each node written then waits until ``redis_wait_replicas`` replicas hold
        what it has (``WAIT``, on the connection that wrote), else ``ReplicasUnavailable``.
        A reply that is an error is raised (the first, in call order).
        """
        if not calls:
            return []
        replies = await self._batches.run(calls, durable and self._wait_replicas > 0)
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        return replies

    def run_later(
        self, calls: Sequence[Call], *, then: Then | None = None, durable: bool = False
    ) -> None:
        """Send ``calls`` with the next batch, without waiting: ``then`` gets the replies (an
        error as a value), or the exception that failed the batch."""
        if calls:
            self._batches.later(calls, then, durable and self._wait_replicas > 0)

    async def _execute(self, calls: Sequence[Call], durable: Sequence[bool]) -> list[Any]:
        """One batch, one round trip per node (two when a script must first be loaded); an
        error reply stands in the list for its call."""
        replies, acks = await self._round_trip(calls, durable)
        unloaded = [i for i, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
        if unloaded:
            missing = {id(s): s for i in unloaded if (s := calls[i].script) is not None}
            for script in missing.values():
                # On a cluster SCRIPT LOAD goes to every primary: a promoted replica starts
                # with an empty script cache.
                await self.client.script_load(script.script)
            retried = await self._execute(
                [calls[i] for i in unloaded], [durable[i] for i in unloaded]
            )
            for i, reply in zip(unloaded, retried, strict=True):
                replies[i] = reply
        failed = next((ack for ack in acks if isinstance(ack, Exception)), None)
        if failed is None and any(int(ack) < self._wait_replicas for ack in acks):
            failed = ReplicasUnavailable(
                f"fewer than {self._wait_replicas} replica(s) confirmed the write in time; "
                "retry: the send is idempotent"
            )
        if failed is not None:
            replies = [
                failed if d and not isinstance(r, Exception) else r
                for r, d in zip(replies, durable, strict=True)
            ]
        return replies


async def server_major_version(client: RedisClient) -> int:
    info = await client.info("server")
    if "redis_version" not in info:
        # Asked of several nodes: one entry per node, and the nodes of a cluster agree.
        info = next(iter(info.values()))
    return int(text(str(info["redis_version"])).split(".", 1)[0])


async def connect(settings: Settings, observe: Observe = unobserved) -> RedisLink:
    """Build the client for ``settings.redis_mode`` and learn what the server supports;
    ``observe`` is told of every round trip on it (not of the subscription's)."""
    if settings.redis_url is None:
        raise ValueError("connect needs settings.redis_url; `liaison serve` starts one")
    options = _connection_options(settings)
    subscriber = SubscriberOptions(
        connection=options,
        idle_seconds=_HEALTH_CHECK_SECONDS,
        answer_seconds=settings.redis_command_timeout_seconds,
    )
    if settings.redis_mode == "standalone":
        pool = BlockingConnectionPool.from_url(
            settings.redis_url,
            max_connections=settings.redis_max_connections,
            timeout=settings.redis_pool_timeout_seconds,
            connection_class=connection_class(settings.redis_url),
            # redis-py skips its check of a pooled connection (closed by a restarted server?)
            # whenever maintenance notifications are on, and its default "auto" counts as on:
            # after a Redis restart, each idle connection then failed one request with a 503.
            # They are a managed-service feature Liaison does not use.
            maint_notifications_config=MaintNotificationsConfig(enabled=False),
            **options,
        )
        standalone = Standalone(pool, observe)
        return RedisLink(
            standalone,
            lambda on_message: PatternFeed.on_server(standalone, subscriber, on_message),
            sharded=False,
            wait_replicas=settings.redis_wait_replicas,
            wait_timeout_ms=round(settings.redis_wait_timeout_seconds * 1000),
            pipes=Pipes(Endpoint.of_pool(pool.connection_kwargs, pool.connection_class), observe),
        )
    cluster = Cluster.from_url(
        settings.redis_url,
        max_connections=settings.redis_max_connections,
        turns=Turns(settings.redis_max_connections, settings.redis_pool_timeout_seconds),
        observe=observe,
        **options,
    )
    try:
        await cluster.initialize()
        pubsub = settings.redis_pubsub
        if pubsub == "auto":
            pubsub = "sharded" if await server_major_version(cluster) >= 7 else "broadcast"
    except BaseException:
        await cluster.aclose()
        raise
    return RedisLink(
        cluster,
        (
            (lambda on_message: ShardedFeed(cluster, subscriber, on_message))
            if pubsub == "sharded"
            else (lambda on_message: PatternFeed.on_cluster(cluster, subscriber, on_message))
        ),
        sharded=pubsub == "sharded",
        wait_replicas=settings.redis_wait_replicas,
        wait_timeout_ms=round(settings.redis_wait_timeout_seconds * 1000),
        pipes=Pipes(
            Endpoint.of_pool(
                cluster.nodes_manager.connection_kwargs,
                cluster.nodes_manager.connection_kwargs["connection_class"],
            ),
            observe,
        ),
    )
