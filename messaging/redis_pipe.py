"""Batches of commands on a connection of their own, their replies read by hiredis.

redis-py's asyncio pipeline costs its caller about 260 µs of CPU per round trip and 29 µs per
command in it (a pool checkout, the pipeline's command stack, a timeout context and a parser
call per reply); writing the same packed bytes on a socket and letting hiredis cut the replies
costs about 65 µs and 1 µs (``docs/performance.md``, second round). Every batch of
``messaging.autopipeline`` goes through here: one ``PipeConnection`` per Redis node, on which
batches follow one another without waiting (replies come back in order, so each batch takes the
next ``count`` replies), opened on first use and again after it was lost.

What redis-py still does: single commands, scripts' loading, the subscription, and on a cluster
the slot map and whatever a node redirects (``messaging.redis_link``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import ssl
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import hiredis
from redis._parsers import BaseParser
from redis.asyncio.connection import RedisSSLContext, SSLConnection, UnixDomainSocketConnection
from redis.exceptions import AuthenticationError, InvalidResponse
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where a node is and how to log in: what redis-py's pool would use for it."""

    host: str
    port: int
    path: str | None
    tls: ssl.SSLContext | None
    username: str | None
    password: str | None
    db: int
    connect_timeout: float | None
    command_timeout: float | None

    @classmethod
    def of_pool(cls, kwargs: Mapping[str, Any], connection_class: type[Any]) -> Endpoint:
        """The endpoint of redis-py connection arguments (``pool.connection_kwargs``)."""
        tls = None
        if issubclass(connection_class, SSLConnection):
            tls = RedisSSLContext(
                keyfile=kwargs.get("ssl_keyfile"),
                certfile=kwargs.get("ssl_certfile"),
                cert_reqs=kwargs.get("ssl_cert_reqs", "required"),
                ca_certs=kwargs.get("ssl_ca_certs"),
                ca_data=kwargs.get("ssl_ca_data"),
                check_hostname=kwargs.get("ssl_check_hostname", True),
                min_version=kwargs.get("ssl_min_version"),
                ciphers=kwargs.get("ssl_ciphers"),
            ).get()
        unix = issubclass(connection_class, UnixDomainSocketConnection)
        return cls(
            host=str(kwargs.get("host", "localhost")),
            port=int(kwargs.get("port", 6379)),
            path=str(kwargs["path"]) if unix else None,
            tls=tls,
            username=kwargs.get("username"),
            password=kwargs.get("password"),
            db=int(kwargs.get("db", 0) or 0),
            connect_timeout=kwargs.get("socket_connect_timeout"),
            command_timeout=kwargs.get("socket_timeout"),
        )

    def at(self, host: str, port: int) -> Endpoint:
        """The same credentials on another node of a cluster."""
        return dataclasses.replace(self, host=host, port=port, path=None)


def pack(args: Sequence[Any]) -> bytes:
    # redis-py spells some commands as one string ("SCRIPT LOAD"): two words on the wire.
    if isinstance(args[0], str) and " " in args[0]:
        args = (*args[0].split(), *args[1:])
    return bytes(hiredis.pack_command(tuple(args)))


@dataclass(slots=True)
class _Batch:
    count: int
    replies: list[Any]
    done: asyncio.Future[list[Any]]
    timer: asyncio.TimerHandle | None


class _Replies(asyncio.Protocol):
    """Feeds what Redis sends to hiredis and hands each reply to the oldest batch short of
    its count. A reply that is an error comes as redis-py's exception for it (``NoScriptError``,
    ``MovedError``…), a value among the others, as in redis-py's pipelines."""

    def __init__(self) -> None:
        self._reader = hiredis.Reader(
            protocolError=InvalidResponse, replyError=BaseParser.parse_error
        )
        self.waiting: deque[_Batch] = deque()
        self.transport: asyncio.Transport | None = None
        self.lost: RedisConnectionError | RedisTimeoutError | None = None
        self.ended: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # a stream socket's, always

    def data_received(self, data: bytes) -> None:
        self._reader.feed(data)
        waiting = self.waiting
        try:
            while (reply := self._reader.gets()) is not False:
                if not waiting:
                    raise InvalidResponse("Redis sent a reply nobody asked for")
                batch = waiting[0]
                batch.replies.append(reply)
                if len(batch.replies) == batch.count:
                    waiting.popleft()
                    if batch.timer is not None:
                        batch.timer.cancel()
                    if not batch.done.done():
                        batch.done.set_result(batch.replies)
        except InvalidResponse as exc:
            self.fail(RedisConnectionError(f"Redis protocol error: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.fail(RedisConnectionError(f"Redis connection lost: {exc or 'closed by the server'}"))
        if not self.ended.done():
            self.ended.set_result(None)

    def fail(self, error: RedisConnectionError | RedisTimeoutError) -> None:
        """Every batch still waiting fails: past a lost reply, none can be matched any more."""
        if self.lost is None:
            self.lost = error
        if self.transport is not None:
            self.transport.abort()
        while self.waiting:
            batch = self.waiting.popleft()
            if batch.timer is not None:
                batch.timer.cancel()
            if not batch.done.done():
                batch.done.set_exception(error)


class PipeConnection:
    """One connection to one node, carrying batches back to back."""

    def __init__(self, endpoint: Endpoint, replies: _Replies) -> None:
        self._endpoint = endpoint
        self._replies = replies

    @classmethod
    async def open(cls, endpoint: Endpoint) -> PipeConnection:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(endpoint.connect_timeout):
                if endpoint.path is not None:
                    _, replies = await loop.create_unix_connection(_Replies, endpoint.path)
                else:
                    _, replies = await loop.create_connection(
                        _Replies,
                        endpoint.host,
                        endpoint.port,
                        ssl=endpoint.tls,
                        server_hostname=endpoint.host if endpoint.tls is not None else None,
                    )
        except (OSError, TimeoutError) as exc:
            where = endpoint.path or f"{endpoint.host}:{endpoint.port}"
            raise RedisConnectionError(f"cannot reach Redis at {where}: {exc}") from exc
        connection = cls(endpoint, replies)
        await connection._log_in()
        return connection

    async def _log_in(self) -> None:
        endpoint = self._endpoint
        hello: list[tuple[Any, ...]] = []
        if endpoint.password is not None:
            user = () if endpoint.username is None else (endpoint.username,)
            hello.append(("AUTH", *user, endpoint.password))
        if endpoint.db:
            hello.append(("SELECT", endpoint.db))
        if not hello:
            return
        for reply in await self.send(b"".join(pack(c) for c in hello), len(hello)):
            if isinstance(reply, Exception):  # WRONGPASS, NOAUTH, a database out of range
                await self.aclose()
                raise AuthenticationError(f"Redis refused the connection's login: {reply}")

    @property
    def usable(self) -> bool:
        return self._replies.lost is None

    def send(self, packed: bytes, count: int) -> asyncio.Future[list[Any]]:
        """Write one batch of ``count`` packed commands; the future gets their ``count``
        replies, or fails with the connection (``ConnectionError``, ``TimeoutError``)."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[list[Any]] = loop.create_future()
        replies = self._replies
        if replies.lost is not None or replies.transport is None:
            done.set_exception(replies.lost or RedisConnectionError("not connected"))
            return done
        timeout = self._endpoint.command_timeout
        batch = _Batch(count, [], done, None)
        if timeout is not None:
            batch.timer = loop.call_later(timeout, self._timed_out, timeout)
        replies.waiting.append(batch)
        replies.transport.write(packed)
        return done

    def _timed_out(self, seconds: float) -> None:
        # A reply that never came leaves the rest unmatched: the connection goes with it.
        self._replies.fail(RedisTimeoutError(f"Redis did not answer within {seconds} s"))

    async def aclose(self) -> None:
        """Close, and return once the socket is: an aborted transport closes its socket on the
        loop's next turn, which a loop about to end would never run."""
        self._replies.fail(RedisConnectionError("connection closed"))
        await self._replies.ended


class Pipes:
    """A ``PipeConnection`` per node, opened when first needed and again once lost."""

    def __init__(self, endpoint: Endpoint, observe: Callable[[str, float], None]) -> None:
        self.endpoint = endpoint
        self._observe = observe
        self._open: dict[tuple[str, int], PipeConnection] = {}
        self._opening: dict[tuple[str, int], asyncio.Future[PipeConnection]] = {}
        self._closed = False

    async def run(self, endpoint: Endpoint, commands: Sequence[Sequence[Any]]) -> list[Any]:
        """The replies of ``commands`` on ``endpoint``'s node, in one round trip."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            connection = await self._connection(endpoint)
            return await connection.send(b"".join(map(pack, commands)), len(commands))
        finally:
            self._observe("PIPELINE", loop.time() - started)

    async def _connection(self, endpoint: Endpoint) -> PipeConnection:
        node = (endpoint.host, endpoint.port)
        connection = self._open.get(node)
        if connection is not None and connection.usable:
            return connection
        # Batches arriving while the connection opens wait for the same one.
        opening = self._opening.get(node)
        if opening is None:
            opening = asyncio.ensure_future(PipeConnection.open(endpoint))
            self._opening[node] = opening

            def opened(done: asyncio.Future[PipeConnection]) -> None:
                self._opening.pop(node, None)
                if not done.cancelled():
                    done.exception()  # retrieved here: the batches waiting may be gone

            opening.add_done_callback(opened)
        connection = await asyncio.shield(opening)
        if self._closed:  # closed while it opened: it must not outlive the client
            await connection.aclose()
            raise RedisConnectionError("the Redis client is closed")
        self._open[node] = connection
        return connection

    async def aclose(self) -> None:
        self._closed = True
        for opening in self._opening.values():
            opening.cancel()
        connections, self._open = list(self._open.values()), {}
        await asyncio.gather(*(connection.aclose() for connection in connections))
