"""The seam between Liaison and Redis (``messaging.redis_link``) on a Redis Cluster: calls split
per node, a multi-key command across slots refused rather than split, wake-ups on sharded
pub/sub where the server has it."""

from __future__ import annotations

import pytest

from messaging import redis_keys
from messaging.redis_link import CrossSlot, RedisLink, server_major_version
from messaging.scripts import Call

pytestmark = pytest.mark.parametrize("redis_mode", ["cluster"], indirect=True)

DEVICES = [f"dev_{n:026d}" for n in range(12)]


async def test_one_pipeline_reaches_every_node_and_answers_in_call_order(
    redis_link: RedisLink,
) -> None:
    cluster = redis_link.cluster
    assert cluster is not None
    keys = [redis_keys.device(device) for device in DEVICES]
    # Twelve device tags land on all three primaries.
    assert len({cluster.get_node_from_key(key).name for key in keys}) == 3  # type: ignore[union-attr]
    await redis_link.run([Call.command("SET", key, key) for key in keys])
    read = await redis_link.run([Call.command("GET", key) for key in keys])
    assert read == [key.encode() for key in keys]


async def test_a_multi_key_command_across_slots_is_refused_not_split(
    redis_link: RedisLink,
) -> None:
    first, second = (redis_keys.device(device) for device in DEVICES[:2])
    with pytest.raises(CrossSlot):
        await redis_link.client.delete(first, second)
    # One tag, one slot: allowed.
    assert await redis_link.client.delete(first, redis_keys.queue(DEVICES[0])) == 0


async def test_wake_ups_are_sharded_where_redis_has_sharded_pub_sub(
    redis_link: RedisLink,
) -> None:
    sharded = await server_major_version(redis_link.client) >= 7
    assert redis_link.sharded is sharded
    assert redis_link.publish_command == ("SPUBLISH" if sharded else "PUBLISH")
