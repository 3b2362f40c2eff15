"""The seam between Liaison and Redis (``messaging.redis_link``) on a Redis Cluster: calls split
per node, a multi-key command across slots refused rather than split, wake-ups on sharded
pub/sub where the server has it, every connection (subscriptions too) with the URL's password."""

from __future__ import annotations

import pytest
import redis
from pytest_aiohttp import AiohttpClient
from redis.asyncio import RedisCluster

from messaging import redis_keys
from messaging.redis_clients import CrossSlot
from messaging.redis_link import RedisLink, server_major_version
from messaging.scripts import Call
from messaging.server.app import create_app
from messaging.settings import Settings
from tests.cluster import LocalCluster
from tests.conftest import ADMIN_TOKEN
from tests.support import World, compose

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


async def test_a_call_sent_to_a_node_that_no_longer_serves_its_slot_goes_again_and_lands(
    redis_link: RedisLink,
) -> None:
    """The batch connections follow redis-py's slot map; when it is stale (a slot moved), the
    node answers MOVED and the call goes again through redis-py, which repairs the map."""
    cluster = redis_link.cluster
    assert cluster is not None
    keys = [redis_keys.device(device) for device in DEVICES]
    await redis_link.run([Call.command("SET", key, key) for key in keys])
    moved = keys[0]
    slot = cluster.keyslot(moved)
    owner = cluster.get_node_from_key(moved)
    assert owner is not None
    stranger = next(n for n in cluster.get_primaries() if n.name != owner.name)
    cluster.nodes_manager.slots_cache[slot] = [stranger]
    read = await redis_link.run([Call.command("GET", key) for key in keys])
    assert read == [key.encode() for key in keys]
    repaired = cluster.get_node_from_key(moved)
    assert repaired is not None
    assert repaired.name == owner.name


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


async def test_a_cluster_with_a_password_serves_and_wakes_sockets(
    aiohttp_client: AiohttpClient, settings: Settings, redis_cluster: LocalCluster
) -> None:
    password = "cluster-test-password"
    _require_password(redis_cluster, password)
    try:
        url = redis_cluster.url.replace("redis://", f"redis://:{password}@")
        app = create_app(settings.model_copy(update={"redis_url": url}))
        client = RedisCluster.from_url(url)
        world = World(await aiohttp_client(app), ADMIN_TOKEN, client)
        alice, bob = await world.professional(), await world.professional()
        async with world.client.ws_connect("/v1/stream", headers=bob.headers) as ws:
            assert (await ws.receive_json(timeout=10))["type"] == "queue_empty"
            envelope = compose(alice, [bob.principal], [bob])
            sent = await world.client.post("/v1/messages", json=envelope, headers=alice.headers)
            assert sent.status == 202, await sent.text()
            # Woken through the subscription, which authenticated with the same password.
            event = await ws.receive_json(timeout=10)
            assert (event["type"], event["envelope"]["id"]) == ("message", envelope["id"])
        await client.aclose()
    finally:
        _require_password(redis_cluster, "")


def _require_password(cluster: LocalCluster, password: str) -> None:
    """Every node asks for ``password`` (none when empty); replicas use it with their primary."""
    for node in cluster.nodes:
        conn = cluster.client(node)
        if not password:  # the nodes ask for the one being removed
            conn = redis.Redis(host="127.0.0.1", port=node.port, password="cluster-test-password")
        with conn:
            conn.config_set("masterauth", password)
            conn.config_set("requirepass", password)
