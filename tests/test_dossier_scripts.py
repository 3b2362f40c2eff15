"""The dossier's Lua scripts on their own, against the real Redis (6.2 and 7 both run these):
``commit.lua`` applies a decided change only on the version it was decided on, ``purge.lua``
removes a closed dossier and leaves its tombstone, on the same condition."""

from __future__ import annotations

from importlib import resources

import pytest
from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from messaging import redis_keys

INS = "146026322000196"
DOSSIER = redis_keys.dossier(INS)
LOG = redis_keys.dossier_log(INS)
DOCUMENTS = redis_keys.dossier_documents(INS)
REPRESENTATIONS = redis_keys.representations(INS)
TOMBSTONES = redis_keys.dossier_tombstones(INS)


def _script(redis: Redis, name: str) -> AsyncScript:
    source = resources.files("dossier_link").joinpath(f"lua/{name}.lua").read_text("utf-8")
    return redis.register_script(source)


async def _commit(
    redis: Redis,
    version: int,
    state: str,
    entries: list[str],
    documents: dict[str, str],
    drop_representation: str = "",
) -> int:
    keys = [
        DOSSIER,
        LOG,
        DOCUMENTS,
        REPRESENTATIONS,
        TOMBSTONES,
        *(redis_keys.dossier_document(INS, d) for d in documents),
    ]
    args: list[str | int] = [version, state, drop_representation, len(entries), *entries]
    for document_id, record in documents.items():
        args += [document_id, record]
    return int(await _script(redis, "commit")(keys=keys, args=args))


async def _state(redis: Redis) -> tuple[object, ...]:
    return (
        await redis.hmget(DOSSIER, ["state", "version"]),
        await redis.lrange(LOG, 0, -1),
        await redis.smembers(DOCUMENTS),
    )


async def test_commit_creates_from_version_zero_only(redis: Redis) -> None:
    assert await _commit(redis, 0, "s1", ["e1", "e2"], {"doc_a": "A"}) == 1
    assert await _state(redis) == ([b"s1", b"1"], [b"e1", b"e2"], {b"doc_a"})
    assert await redis.get(redis_keys.dossier_document(INS, "doc_a")) == b"A"
    # A second creation read version 0 too: the dossier exists, nothing is written.
    assert await _commit(redis, 0, "other", ["x"], {"doc_b": "B"}) == 0
    assert await _state(redis) == ([b"s1", b"1"], [b"e1", b"e2"], {b"doc_a"})
    assert await redis.get(redis_keys.dossier_document(INS, "doc_b")) is None


async def test_commit_applies_on_the_version_read_and_moves_it(redis: Redis) -> None:
    await _commit(redis, 0, "s1", ["e1"], {})
    assert await _commit(redis, 1, "s2", ["e2", "e3"], {"doc_a": "A", "doc_b": "B"}) == 1
    assert await _state(redis) == ([b"s2", b"2"], [b"e1", b"e2", b"e3"], {b"doc_a", b"doc_b"})
    # A document written again (masked, say) replaces its record; the set is unchanged.
    assert await _commit(redis, 2, "s3", [], {"doc_a": "A2"}) == 1
    assert await redis.get(redis_keys.dossier_document(INS, "doc_a")) == b"A2"
    assert await _state(redis) == ([b"s3", b"3"], [b"e1", b"e2", b"e3"], {b"doc_a", b"doc_b"})


@pytest.mark.parametrize("stale", [0, 1, 3])
async def test_commit_on_a_moved_version_writes_nothing(redis: Redis, stale: int) -> None:
    await _commit(redis, 0, "s1", ["e1"], {})
    await _commit(redis, 1, "s2", ["e2"], {})
    before = await _state(redis)
    assert await _commit(redis, stale, "lost", ["lost"], {"doc_lost": "L"}) == 0
    assert await _state(redis) == before
    assert await redis.get(redis_keys.dossier_document(INS, "doc_lost")) is None


async def test_commit_removes_a_representation_with_the_entry_of_its_end(redis: Redis) -> None:
    """DESIGN §4: a removed representation goes in the same step as the entry logging its end,
    and only if the version holds (a decision made with it is then decided again)."""
    await redis.hset(REPRESENTATIONS, mapping={"rep_a": "A", "rep_b": "B"})
    await _commit(redis, 0, "s1", ["e1"], {})
    assert await _commit(redis, 0, "lost", ["ended"], {}, drop_representation="rep_a") == 0
    assert await redis.hkeys(REPRESENTATIONS) == [b"rep_a", b"rep_b"]
    assert await _commit(redis, 1, "s2", ["ended"], {}, drop_representation="rep_a") == 1
    assert await redis.hkeys(REPRESENTATIONS) == [b"rep_b"]
    assert await redis.lrange(LOG, 0, -1) == [b"e1", b"ended"]


async def test_a_new_dossier_moves_a_purged_ones_tombstone_aside(redis: Redis) -> None:
    """TR-7: the first commit of a new dossier starts a new log; the tombstone is kept apart."""
    await _commit(redis, 0, "s1", ["e1"], {})
    assert await _purge(redis, 1, "tombstone", []) == 1
    assert await _commit(redis, 0, "s2", ["new1"], {}) == 1
    assert await redis.lrange(LOG, 0, -1) == [b"new1"]
    assert await redis.lrange(TOMBSTONES, 0, -1) == [b"tombstone"]


async def _purge(redis: Redis, version: int, tombstone: str, documents: list[str]) -> int:
    keys = [DOSSIER, LOG, DOCUMENTS, *(redis_keys.dossier_document(INS, d) for d in documents)]
    return int(await _script(redis, "purge")(keys=keys, args=[version, tombstone]))


async def test_purge_leaves_only_the_tombstone(redis: Redis) -> None:
    await _commit(redis, 0, "s1", ["e1", "e2"], {"doc_a": "A", "doc_b": "B"})
    assert await _purge(redis, 1, "tombstone", ["doc_a", "doc_b"]) == 1
    assert await _state(redis) == ([None, None], [b"tombstone"], set())
    assert await redis.keys(redis_keys.dossier_document(INS, "*")) == []


async def test_purge_on_a_moved_version_removes_nothing(redis: Redis) -> None:
    await _commit(redis, 0, "s1", ["e1"], {"doc_a": "A"})
    await _commit(redis, 1, "s2", ["e2"], {})
    before = await _state(redis)
    assert await _purge(redis, 1, "tombstone", ["doc_a"]) == 0
    assert await _state(redis) == before
    assert await redis.get(redis_keys.dossier_document(INS, "doc_a")) == b"A"
