"""Each Lua script on its own, against the real Redis (Redis 6.2 and 7 both run these), and
against a Redis Cluster: a script whose keys span slots is refused there."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from redis.asyncio import Redis, RedisCluster

from messaging import redis_keys
from messaging.redis_link import RedisClient, server_major_version
from messaging.redis_text import text
from messaging.scripts import Scripts
from messaging.timeutil import now_ms

DEVICE = "dev_aaaaaaaaaaaaaaaaaaaaaaaaaa"
QUEUE = redis_keys.queue(DEVICE)
SEEN = redis_keys.seen(DEVICE)
SHARES = redis_keys.shares(DEVICE)
DAY_MS = 86_400_000

ALSO_ON_CLUSTER = True


class Queue:
    """The test device's queue, through ``enqueue.lua``, waking as the server would."""

    def __init__(self, scripts: Scripts, publish: str) -> None:
        self.scripts = scripts
        self.publish = publish

    async def enqueue(
        self,
        item: str,
        *,
        quota: int = 10,
        now: int = 10 * DAY_MS,
        sender: str = "rpps:1",
        share: int = 0,
    ) -> tuple[int, str]:
        status, stream_id = await self.scripts.enqueue(
            keys=[QUEUE, SEEN, SHARES],
            args=[
                *(item, quota, DAY_MS, now, self.publish, redis_keys.wake_channel(DEVICE), DAY_MS),
                *(share, sender if share else ""),
                *("t", "m", "s", sender, "i", item),
            ],
        )
        return int(status), text(stream_id)


@pytest.fixture
async def scripts(redis: RedisClient) -> Scripts:
    return Scripts.register(redis)


@pytest.fixture
async def queue(redis: RedisClient, redis_mode: str, scripts: Scripts) -> Queue:
    sharded = redis_mode == "cluster" and await server_major_version(redis) >= 7
    return Queue(scripts, "SPUBLISH" if sharded else "PUBLISH")


async def test_enqueue_is_idempotent_per_item(redis: RedisClient, queue: Queue) -> None:
    first = await queue.enqueue("m:a:1")
    again = await queue.enqueue("m:a:1")
    assert first[0] == 1
    assert again == (0, "")
    assert await redis.xlen(QUEUE) == 1


async def test_enqueue_refuses_past_the_quota_and_keeps_what_is_queued(
    redis: RedisClient, queue: Queue
) -> None:
    for n in range(3):
        assert (await queue.enqueue(f"m:a:{n}", quota=3))[0] == 1
    assert (await queue.enqueue("m:a:overflow", quota=3))[0] == -1
    assert await redis.xlen(QUEUE) == 3
    # A retry of an already queued item is still recognised when the queue is full.
    assert (await queue.enqueue("m:a:0", quota=3))[0] == 0


async def test_enqueue_refuses_a_sender_past_its_share_and_still_takes_others(
    redis: RedisClient, queue: Queue
) -> None:
    for n in range(2):
        assert (await queue.enqueue(f"m:a:{n}", share=2, sender="rpps:a"))[0] == 1
    assert (await queue.enqueue("m:a:2", share=2, sender="rpps:a"))[0] == -2
    assert (await queue.enqueue("m:b:0", share=2, sender="rpps:b"))[0] == 1
    assert await redis.hgetall(SHARES) == {b"rpps:a": b"2", b"rpps:b": b"1"}


async def test_acks_withdrawals_and_the_retention_give_a_sender_its_share_back(
    redis: RedisClient, queue: Queue, scripts: Scripts
) -> None:
    # Stream ids are Redis's clock: the retention is counted from today.
    today = now_ms()
    _, first = await queue.enqueue("m:a:0", share=2, sender="rpps:a", now=today)
    _, second = await queue.enqueue("m:a:1", share=2, sender="rpps:a", now=today)
    await scripts.ack(keys=[QUEUE, SHARES], args=[first])
    assert await redis.hget(SHARES, "rpps:a") == b"1"
    await scripts.withdraw(keys=[QUEUE, SEEN, SHARES], args=[second, "m:a:1", "rpps:a"])
    assert await redis.hget(SHARES, "rpps:a") is None
    for n in range(2):
        assert (await queue.enqueue(f"m:a:{n + 2}", share=2, sender="rpps:a", now=today))[0] == 1
    # A day later both are past the retention: trimmed, and no longer counted.
    later = now_ms() + DAY_MS + 1000
    assert (await queue.enqueue("m:a:4", share=2, sender="rpps:a", now=later))[0] == 1
    assert await redis.hget(SHARES, "rpps:a") == b"1"


async def test_enqueue_without_an_item_queues_every_time_and_indexes_nothing(
    redis: RedisClient, queue: Queue
) -> None:
    assert (await queue.enqueue(""))[0] == 1
    assert (await queue.enqueue(""))[0] == 1
    assert await redis.xlen(QUEUE) == 2
    assert await redis.exists(SEEN) == 0


async def test_enqueue_sets_retention_on_queue_and_index(redis: RedisClient, queue: Queue) -> None:
    await queue.enqueue("m:a:1")
    assert 0 < await redis.pttl(QUEUE) <= DAY_MS
    assert 0 < await redis.pttl(SEEN) <= DAY_MS


async def test_enqueue_forgets_items_older_than_the_retention(
    redis: RedisClient, queue: Queue
) -> None:
    await queue.enqueue("m:a:old", now=DAY_MS)
    await queue.enqueue("m:a:new", now=3 * DAY_MS)
    assert await redis.zrange(SEEN, 0, -1) == [b"m:a:new"]


async def test_enqueue_wakes_the_device_channel(redis: RedisClient, queue: Queue) -> None:
    channel = redis_keys.wake_channel(DEVICE)
    # On a cluster, listen where the channel's slot lives: a sharded message goes nowhere else.
    if isinstance(redis, RedisCluster):
        node = redis.get_node_from_key(channel)
        assert node is not None
        listener = Redis(host=node.host, port=int(node.port))
    else:
        listener = redis
    pubsub = listener.pubsub()
    await pubsub.execute_command(
        "SSUBSCRIBE" if queue.publish == "SPUBLISH" else "SUBSCRIBE", channel
    )
    await pubsub.get_message(timeout=1)  # the subscription confirmation
    await queue.enqueue("m:a:1")
    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=2)
    await pubsub.aclose()  # type: ignore[no-untyped-call]
    if listener is not redis:
        await listener.aclose()
    assert message is not None
    assert message["data"] == b"w"


async def test_ack_deletes_and_reports_messages_once(redis: RedisClient, scripts: Scripts) -> None:
    stream_id = text(await redis.xadd(QUEUE, {"t": "m", "s": "rpps:12345678901", "i": "id-1"}))
    receipt_id = text(await redis.xadd(QUEUE, {"t": "e", "j": "{}"}))
    # Two events deleted, one of them a message.
    assert await scripts.ack(keys=[QUEUE, SHARES], args=[stream_id, receipt_id]) == 1
    assert await redis.xlen(QUEUE) == 0
    assert await scripts.ack(keys=[QUEUE, SHARES], args=[stream_id]) == 0


async def test_withdraw_removes_event_and_index_entry(
    redis: RedisClient, scripts: Scripts, queue: Queue
) -> None:
    _status, stream_id = await queue.enqueue("m:a:1")
    await scripts.withdraw(keys=[QUEUE, SEEN, SHARES], args=[stream_id, "m:a:1", "rpps:1"])
    assert await redis.xlen(QUEUE) == 0
    assert await redis.zcard(SEEN) == 0


MESSAGE = uuid.UUID("6b3f2a10-8c1d-4e5f-9a7b-0c1d2e3f4a5b").bytes
SENDER = "rpps:1"
NOW = 10 * DAY_MS


def _record_keys(generation: int = 10) -> list[str]:
    return [redis_keys.sent(SENDER, g) for g in (generation - 1, generation, generation + 1)]


async def _claim(
    scripts: Scripts, digest: bytes, *, now: int = NOW, payload: str = "", generation: int = 10
) -> list[Any]:
    keys = [*_record_keys(generation), redis_keys.payload(SENDER, "m1")]
    holders = [DEVICE, "dev_other"] if payload else []
    return list(
        await scripts.claim(
            keys=keys, args=[MESSAGE, digest, now, DAY_MS, DAY_MS, payload, *holders]
        )
    )


async def test_claim_distinguishes_new_retry_and_conflict(
    redis: RedisClient, scripts: Scripts
) -> None:
    digest_a, digest_b = b"a" * 16, b"b" * 16
    assert await _claim(scripts, digest_a) == [1, str(NOW).encode()]
    # A retry gets the first attempt's acceptance time, pending (0) until answered.
    assert await _claim(scripts, digest_a, now=NOW + 5) == [0, str(NOW).encode(), 0, None]
    assert await scripts.answer(keys=_record_keys(), args=[MESSAGE, ""]) == 1
    assert await _claim(scripts, digest_a, now=NOW + 9) == [0, str(NOW).encode(), 1, None]
    assert await _claim(scripts, digest_b) == [-1]
    # The record sits in the current generation's hash, which outlives it by one window.
    assert await redis.hlen(_record_keys()[1]) == 1
    assert 0 < await redis.pttl(_record_keys()[1]) <= DAY_MS


async def test_claim_finds_a_record_from_the_generation_before_and_after(
    scripts: Scripts,
) -> None:
    await _claim(scripts, b"a" * 16, generation=10)
    assert (await _claim(scripts, b"a" * 16, generation=11))[0] == 0
    assert (await _claim(scripts, b"a" * 16, generation=9))[0] == 0
    assert (await _claim(scripts, b"a" * 16, generation=12))[0] == 1


async def test_answer_keeps_the_dossier_outcome_for_retries(scripts: Scripts) -> None:
    await _claim(scripts, b"a" * 16)
    outcome = '{"status":"attached","code":null,"document":"d1"}'
    assert await scripts.answer(keys=_record_keys(), args=[MESSAGE, outcome]) == 1
    assert await _claim(scripts, b"a" * 16) == [0, str(NOW).encode(), 1, outcome.encode()]
    assert await scripts.answer(keys=_record_keys(12), args=[MESSAGE, ""]) == 0


async def test_a_shared_payload_goes_with_the_last_device_to_release_it(
    redis: RedisClient, scripts: Scripts
) -> None:
    await _claim(scripts, b"a" * 16, payload='{"id":"m1"}')
    payload = redis_keys.payload(SENDER, "m1")
    assert await redis.hget(payload, "e") == b'{"id":"m1"}'
    await scripts.release(keys=[payload], args=[DEVICE])
    await scripts.release(keys=[payload], args=[DEVICE])  # acked twice: no effect
    assert await redis.exists(payload) == 1
    await scripts.release(keys=[payload], args=["dev_other"])
    assert await redis.exists(payload) == 0


async def test_enroll_consumes_the_code_once(redis: RedisClient, scripts: Scripts) -> None:
    code = redis_keys.enrollment_code("rpps:1", "abc")
    devices = redis_keys.principal_devices("rpps:1")
    await redis.set(code, b"1")
    assert await scripts.enroll(keys=[code, devices], args=[DEVICE, "{}"]) == 1
    assert await scripts.enroll(keys=[code, devices], args=["dev_other", "{}"]) == 0
    assert await redis.hkeys(devices) == [DEVICE.encode()]


async def test_revoke_drops_tokens_and_queue(
    redis: RedisClient, scripts: Scripts, queue: Queue
) -> None:
    await redis.set(redis_keys.token(DEVICE, "t1"), b"rpps:1")
    await redis.sadd(redis_keys.tokens(DEVICE), "t1")
    await queue.enqueue("m:a:1")
    revoked = await scripts.revoke(
        keys=[redis_keys.device(DEVICE), redis_keys.tokens(DEVICE), QUEUE, SEEN, SHARES],
        args=[redis_keys.token(DEVICE, "")],
    )
    assert revoked == 1
    assert await redis.exists(redis_keys.token(DEVICE, "t1"), QUEUE, SEEN, SHARES) == 0
    assert await redis.hget(redis_keys.device(DEVICE), "revoked") == b"1"


async def test_retire_keeps_the_public_record_with_its_revocation_time(
    redis: RedisClient, scripts: Scripts
) -> None:
    active, retired = redis_keys.principal_devices("rpps:1"), redis_keys.retired_devices("rpps:1")
    await redis.hset(active, DEVICE, '{"id": "dev", "sign_key": "k"}')
    keys = [active, retired]
    assert await scripts.retire(keys=keys, args=[DEVICE, "2026-11-26T10:00:00.000Z"]) == 1
    assert await scripts.retire(keys=keys, args=[DEVICE, "2026-11-26T10:00:01.000Z"]) == 0
    assert await redis.hexists(active, DEVICE) == 0
    record = json.loads(await redis.hget(retired, DEVICE) or b"{}")
    assert record == {"id": "dev", "sign_key": "k", "revoked_at": "2026-11-26T10:00:00.000Z"}
