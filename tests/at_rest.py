"""Everything Redis holds, in memory and on disk, as bytes to search for secrets."""

from __future__ import annotations

import base64
from pathlib import Path

from redis.asyncio import Redis


def _raw(value: object) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()


async def redis_dump(redis: Redis) -> bytes:
    """Every key name and every value of every type, concatenated."""
    parts: list[object] = []
    async for key in redis.scan_iter(count=1000):
        parts.append(key)
        kind = _raw(await redis.type(key)).decode()
        if kind == "none":
            continue  # expired since the scan (a rate-limit budget lives a few seconds)
        if kind == "string":
            parts.append(await redis.get(key))
        elif kind == "hash":
            parts += [part for pair in (await redis.hgetall(key)).items() for part in pair]
        elif kind == "list":
            parts += await redis.lrange(key, 0, -1)
        elif kind == "set":
            parts += list(await redis.smembers(key))
        elif kind == "zset":
            parts += await redis.zrange(key, 0, -1)
        elif kind == "stream":
            for entry_id, fields in await redis.xrange(key) or []:
                parts.append(entry_id)
                parts += [part for pair in (fields or {}).items() for part in pair]
        else:
            raise AssertionError(f"unexpected Redis type {kind} for {key!r}")
    return b"\x00".join(_raw(part) for part in parts)


def disk_dump(data_dir: Path) -> bytes:
    """Every file Redis wrote (the AOF, in one file on 6.2 or a directory on 7)."""
    return b"\x00".join(p.read_bytes() for p in sorted(data_dir.rglob("*")) if p.is_file())


def secret_forms(secret: bytes) -> list[bytes]:
    """A secret as it could leak: raw, base64 (both alphabets, padded or not), hex."""
    standard = base64.b64encode(secret)
    url = base64.urlsafe_b64encode(secret)
    return [secret, standard, standard.rstrip(b"="), url, url.rstrip(b"="), secret.hex().encode()]
