"""The two background tasks (the wake-up subscription, the dossier purge) outlive a killed Redis
connection and an unexpected failure: each is logged, and the task works again afterwards."""

from __future__ import annotations

import asyncio
import logging

import pytest
from pytest_aiohttp import AiohttpClient
from redis.asyncio import Redis

from messaging import redis_keys
from messaging.server.appkeys import WAKE_HUB
from messaging.settings import Settings
from messaging.supervision import Backoff
from messaging.wakeup import Listener
from tests.dossiers import dossier_call, eventually, open_dossier, world_with
from tests.support import World

PATIENCE = 20.0
"""Seconds to wait for what takes milliseconds on an idle machine: the CI host is shared."""


def _task(name: str) -> asyncio.Task[object]:
    [task] = [t for t in asyncio.all_tasks() if t.get_name() == name]
    return task


async def _woken(listener: Listener) -> None:
    async def woken() -> bool:
        return listener.wake.is_set()

    await eventually(woken, within=PATIENCE)


def _logged(caplog: pytest.LogCaptureFixture, logger: str, level: int) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == logger and r.levelno == level]


async def test_wakeup_subscription_survives_a_killed_connection_and_a_bad_message(
    world: World, redis: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    bob = await world.professional()
    hub = world.client.app[WAKE_HUB]
    task = _task("liaison-wakeup")
    async with hub.listen(bob.device_id) as listener:
        listener.wake.clear()
        assert await redis.client_kill_filter(_type="pubsub") == 1
        # Subscribed again, it wakes every listener: what was published meanwhile is lost.
        await _woken(listener)
        assert _logged(caplog, "messaging.wakeup", logging.WARNING)

        listener.wake.clear()
        # A claim whose time is not a number: an unexpected failure inside the task.
        await redis.publish(redis_keys.wake_channel(bob.device_id), b"c:not-a-time:x")
        await _woken(listener)
        [failure] = _logged(caplog, "messaging.wakeup", logging.ERROR)
        assert failure.exc_info is not None
        assert failure.exc_info[0] is ValueError

        listener.wake.clear()
        await redis.publish(redis_keys.wake_channel(bob.device_id), b"w")
        await _woken(listener)
    assert not task.done()


async def test_purge_survives_a_failing_sweep_and_killed_connections(
    aiohttp_client: AiohttpClient,
    settings: Settings,
    redis: Redis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    world = await world_with(aiohttp_client, settings, redis, purge_interval_seconds=0.05)
    holder, ins = await open_dossier(world)
    status, answer = await dossier_call(
        world, holder, "POST", f"/v1/dossiers/{ins}/close", {"deletion_requested": True}
    )
    assert status == 200, answer  # purged in 90 days: not yet
    task = _task("liaison-purge")
    # The purge schedule of the wrong type: every sweep fails until it is repaired.
    await redis.set(redis_keys.DOSSIER_PURGES, "not a sorted set")

    async def failed() -> bool:
        return bool(_logged(caplog, "messaging.server.app", logging.ERROR))

    await eventually(failed, within=PATIENCE)
    await redis.delete(redis_keys.DOSSIER_PURGES)
    # Every connection of the server's pool, the purge's among them (it takes one per sweep).
    assert await redis.client_kill_filter(_type="normal", skipme=True) >= 1
    # The dossier falls due, as if the 90 days had passed.
    await redis.zadd(redis_keys.DOSSIER_PURGES, {ins: 0})

    async def purged() -> bool:
        return not await redis.exists(redis_keys.dossier(ins))

    await eventually(purged, within=PATIENCE)
    assert not task.done()


def test_backoff_doubles_up_to_its_cap_and_starts_over_after_a_success() -> None:
    backoff = Backoff(0.1, 1.0)
    delays = [backoff.next_delay() for _ in range(7)]
    ceilings = [0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0]
    assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings, strict=True)), delays
    backoff.reset()
    assert 0.05 <= backoff.next_delay() <= 0.1
