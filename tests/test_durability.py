"""``LIAISON_REDIS_WAIT_REPLICAS``: a 202 waits until that many replicas of every node written
hold the message (``WAIT``), else the send answers 503 ``replicas_unavailable``."""

from __future__ import annotations

import pytest
from pytest_aiohttp import AiohttpClient

from messaging import redis_keys
from messaging.redis_link import RedisClient
from messaging.settings import Settings
from tests.cluster import LocalCluster
from tests.dossiers import world_with
from tests.support import compose

ON_CLUSTER = pytest.mark.parametrize("redis_mode", ["cluster"], indirect=True)


@ON_CLUSTER
async def test_a_202_waits_for_a_replica_of_every_node_written(
    aiohttp_client: AiohttpClient,
    settings: Settings,
    redis: RedisClient,
    redis_cluster: LocalCluster,
) -> None:
    world = await world_with(aiohttp_client, settings, redis, redis_wait_replicas=1)
    alice, bob = await world.professional(), await world.professional()
    envelope = compose(alice, [bob.principal], [bob])
    queue = redis_keys.queue(bob.device_id)
    written = {
        redis_cluster.primary_of(queue),
        redis_cluster.primary_of(redis_keys.sent(alice.principal, envelope["id"])),
    }
    waits = {node.port: redis_cluster.calls(node, "wait") for node in written}

    response = await world.client.post("/v1/messages", json=envelope, headers=alice.headers)

    assert response.status == 202, await response.text()
    for node in written:
        assert redis_cluster.calls(node, "wait") > waits[node.port]
    # Acknowledged by the replica before the 202: it holds the queue entry already.
    replica = redis_cluster.replica_of(redis_cluster.primary_of(queue))
    with redis_cluster.client(replica) as conn:
        conn.execute_command("READONLY")
        assert conn.xlen(queue) == 1


@ON_CLUSTER
@pytest.mark.store_outage
async def test_too_few_replicas_refuse_the_send_with_503(
    aiohttp_client: AiohttpClient, settings: Settings, redis: RedisClient
) -> None:
    # Each primary of the test cluster has one replica: two can never confirm.
    world = await world_with(aiohttp_client, settings, redis, redis_wait_replicas=2)
    alice, bob = await world.professional(), await world.professional()
    envelope = compose(alice, [bob.principal], [bob])

    response = await world.client.post("/v1/messages", json=envelope, headers=alice.headers)

    assert response.status == 503
    assert (await response.json())["code"] == "replicas_unavailable"
    assert response.headers["Retry-After"] == "1"
    # Not acknowledged, so no answer is stored: a retry is judged afresh (and waits again).
    again = await world.client.post("/v1/messages", json=envelope, headers=alice.headers)
    assert (again.status, (await again.json())["code"]) == (503, "replicas_unavailable")


@pytest.mark.store_outage
async def test_a_lone_redis_cannot_satisfy_a_replica_wait(
    aiohttp_client: AiohttpClient, settings: Settings, redis: RedisClient
) -> None:
    world = await world_with(aiohttp_client, settings, redis, redis_wait_replicas=1)
    alice, bob = await world.professional(), await world.professional()

    response = await world.client.post(
        "/v1/messages", json=compose(alice, [bob.principal], [bob]), headers=alice.headers
    )

    assert (response.status, (await response.json())["code"]) == (503, "replicas_unavailable")
