"""Everything Redis holds, in memory and on disk, as bytes to search for secrets."""

from __future__ import annotations

import base64
from pathlib import Path

from redis.asyncio import Redis


async def redis_dump(redis: Redis) -> bytes:
    """Every key name and every value of every type, concatenated."""
    parts: list[bytes] = []
    async for key in redis.scan_iter(count=1000):
        parts.append(key)
        kind = (await redis.type(key)).decode()
        if kind == "string":
            parts.append(await redis.get(key) or b"")
        elif kind == "hash":
            for field, value in (await redis.hgetall(key)).items():
                parts += [field, value]
        elif kind == "list":
            parts += await redis.lrange(key, 0, -1)
        elif kind == "set":
            parts += list(await redis.smembers(key))
        elif kind == "zset":
            parts += [member for member, _ in await redis.zrange(key, 0, -1, withscores=True)]
        elif kind == "stream":
            for entry_id, fields in await redis.xrange(key):
                parts.append(entry_id)
                for field, value in fields.items():
                    parts += [field, value]
        else:
            raise AssertionError(f"unexpected Redis type {kind} for {key!r}")
    return b"\x00".join(parts)


def disk_dump(data_dir: Path) -> bytes:
    """Every file Redis wrote (the AOF, in one file on 6.2 or a directory on 7)."""
    return b"\x00".join(p.read_bytes() for p in sorted(data_dir.rglob("*")) if p.is_file())


def secret_forms(secret: bytes) -> list[bytes]:
    """A secret as it could leak: raw, base64 (both alphabets, padded or not), hex."""
    standard = base64.b64encode(secret)
    url = base64.urlsafe_b64encode(secret)
    return [secret, standard, standard.rstrip(b"="), url, url.rstrip(b"="), secret.hex().encode()]
