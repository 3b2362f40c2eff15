"""The batch connection (``messaging.redis_pipe``) on a real Redis: batches sent back to back
get their own replies, errors come as values, and a lost, stuck or refused connection fails
only what it carried."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from redis.asyncio import BlockingConnectionPool, Redis
from redis.exceptions import AuthenticationError, NoScriptError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from messaging.redis_pipe import Endpoint, Pipes
from messaging.redis_server import RedisServer
from tests.conftest import running_redis
from tests.dossiers import eventually

PASSWORD = "pipe-password"


def _endpoint(url: str, **changes: Any) -> Endpoint:
    pool = BlockingConnectionPool.from_url(url, socket_timeout=5, socket_connect_timeout=5)
    return dataclasses.replace(
        Endpoint.of_pool(pool.connection_kwargs, pool.connection_class), **changes
    )


def _unobserved(command: str, seconds: float) -> None:
    pass


@pytest.fixture(scope="module")
def locked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    yield from running_redis(tmp_path_factory.mktemp("pipe"), password=PASSWORD)


@pytest.fixture
async def pipes(redis_url: str) -> AsyncIterator[Pipes]:
    opened = Pipes(_endpoint(redis_url), _unobserved)
    try:
        yield opened
    finally:
        await opened.aclose()


async def test_batches_sent_back_to_back_each_get_their_own_replies(pipes: Pipes) -> None:
    key = "liaison:test:pipe:counter"

    async def batch(size: int) -> list[Any]:
        return await pipes.run(pipes.endpoint, [("INCR", key)] * size + [("PING",)])

    sizes = [1, 5, 2, 9, 3, 7] * 5
    results = await asyncio.gather(*(batch(size) for size in sizes))
    counts: list[int] = []
    for size, replies in zip(sizes, results, strict=True):
        assert len(replies) == size + 1
        assert replies[-1] == b"PONG"
        counts += replies[:-1]
    # Every INCR answered once, to the batch that sent it, in the order they ran.
    assert sorted(counts) == list(range(1, sum(sizes) + 1))
    for replies in results:
        assert replies[:-1] == sorted(replies[:-1])


async def test_an_error_reply_is_a_value_among_the_others(pipes: Pipes) -> None:
    key = "liaison:test:pipe:text"
    replies = await pipes.run(
        pipes.endpoint,
        [
            ("SET", key, "x"),
            ("EVALSHA", "0" * 40, 0),
            ("HGET", key, "field"),
            ("GET", key),
        ],
    )
    assert replies[0] == b"OK"
    assert isinstance(replies[1], NoScriptError)
    assert isinstance(replies[2], ResponseError)
    assert "WRONGTYPE" in str(replies[2])
    assert replies[3] == b"x"


async def test_a_lost_connection_fails_what_it_carried_and_the_next_batch_reconnects(
    pipes: Pipes, redis_url: str
) -> None:
    admin = Redis.from_url(redis_url)
    try:
        (connection_id,) = await pipes.run(pipes.endpoint, [("CLIENT", "ID")])
        waiting = asyncio.ensure_future(
            pipes.run(pipes.endpoint, [("BLPOP", "liaison:test:pipe:never", 5)])
        )

        async def blocked() -> bool:  # Redis holds the BLPOP on that connection
            return any(
                c["id"] == str(connection_id) and c["cmd"] == "blpop"
                for c in await admin.client_list()
            )

        await eventually(blocked)
        assert await admin.client_kill_filter(_id=connection_id) == 1
        with pytest.raises(RedisConnectionError):
            await asyncio.wait_for(waiting, 2)
        (again,) = await pipes.run(pipes.endpoint, [("CLIENT", "ID")])
        assert again != connection_id
    finally:
        await admin.aclose()


async def test_a_reply_that_does_not_come_in_time_fails_and_the_connection_is_replaced(
    redis_url: str,
) -> None:
    pipes = Pipes(_endpoint(redis_url, command_timeout=0.2), _unobserved)
    try:
        (connection_id,) = await pipes.run(pipes.endpoint, [("CLIENT", "ID")])
        started = time.monotonic()
        with pytest.raises(RedisTimeoutError):
            await pipes.run(pipes.endpoint, [("BLPOP", "liaison:test:pipe:never", 2)])
        assert time.monotonic() - started < 1.5
        # The late reply must not be taken for the next batch's: a new connection answers.
        (again,) = await pipes.run(pipes.endpoint, [("CLIENT", "ID")])
        assert again != connection_id
    finally:
        await pipes.aclose()


async def test_a_password_and_a_database_are_used_and_a_wrong_password_is_refused(
    locked: RedisServer,
) -> None:
    url = f"{locked.url.removesuffix('/0')}/3"
    pipes = Pipes(_endpoint(url), _unobserved)
    try:
        await pipes.run(pipes.endpoint, [("SET", "liaison:test:pipe:db", "3")])
        on_db3 = Redis.from_url(url)
        try:
            assert await on_db3.get("liaison:test:pipe:db") == b"3"
        finally:
            await on_db3.aclose()
    finally:
        await pipes.aclose()
    wrong = Pipes(_endpoint(url, password="not-it"), _unobserved)
    with pytest.raises(AuthenticationError):
        await wrong.run(wrong.endpoint, [("PING",)])


async def test_an_unreachable_node_is_a_connection_error(redis_url: str) -> None:
    pipes = Pipes(_endpoint(redis_url, port=1, connect_timeout=1), _unobserved)
    with pytest.raises(RedisConnectionError):
        await pipes.run(pipes.endpoint, [("PING",)])
