"""The subscription feed's reader (``messaging.pubsub``): messages reach the callback, a quiet
connection is kept under watch with PINGs, and a PING left unanswered loses the feed."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from messaging import redis_keys
from messaging.pubsub import FeedLost, PatternFeed, SubscriberOptions
from tests.dossiers import eventually


async def test_a_quiet_feed_pings_and_still_delivers(redis_url: str) -> None:
    client = Redis.from_url(redis_url)
    received: list[tuple[bytes, bytes]] = []
    both = asyncio.Event()

    def on_message(channel: bytes, data: bytes) -> None:
        received.append((channel, data))
        if len(received) == 2:
            both.set()

    feed = PatternFeed.on_server(
        client,
        SubscriberOptions({}, idle_seconds=0.05, answer_seconds=5.0),
        on_message,
    )
    await feed.open()
    serving = asyncio.create_task(feed.serve())
    try:
        # Several rounds of silence, each checked with a PING that Redis counts.
        pings = await _pings(client)

        async def pinged() -> bool:
            return await _pings(client) >= pings + 3

        await eventually(pinged)
        channel = redis_keys.wake_channel("dev-quiet")
        for data in (b"w1", b"w2"):
            await client.publish(channel, data)
        async with asyncio.timeout(5):
            await both.wait()
        assert received == [(channel.encode(), b"w1"), (channel.encode(), b"w2")]
        assert not serving.done()
    finally:
        serving.cancel()
        await feed.close()
        await client.aclose()


async def _pings(client: Redis) -> int:
    stats = await client.info("commandstats")
    return int(stats.get("cmdstat_ping", {}).get("calls", 0))


async def test_an_unanswered_ping_loses_the_feed(redis_url: str) -> None:
    client = Redis.from_url(redis_url)
    feed = PatternFeed.on_server(
        client, SubscriberOptions({}, idle_seconds=0.05, answer_seconds=0.2), lambda c, d: None
    )
    await feed.open()
    try:
        # Redis holds every client's commands, the subscriber's PING among them: silence.
        await client.client_pause(1000, all=True)
        async with asyncio.timeout(5):
            with pytest.raises(FeedLost, match="did not answer the subscription's PING"):
                await feed.serve()
    finally:
        # Answered once the pause is over: the next test finds Redis serving.
        await client.client_unpause()
        await feed.close()
        await client.aclose()
