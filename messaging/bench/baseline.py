"""The bare ceiling of the stack: what any aiohttp + PyNaCl + Redis server pays per message.

One handler reads the body, ``json.loads`` it, verifies the envelope's Ed25519 signature with
``messaging.crypto.verify_envelope`` against the sender device's key (all keys are handed over
at start, so no lookup hits Redis) and does one XADD. No auth, no schema, no queues per device:
``ratio = liaison / baseline`` then says what Liaison's own work costs on top of that floor.

It lives here, in the bench, and runs as ``python -m messaging.bench.baseline`` with the same
number of worker processes as the server it is compared with.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Final

from aiohttp import web
from redis.asyncio import Redis

from messaging import crypto, redis_keys
from messaging.bench.deployment import HOST, ChildServer, wait_ready
from messaging.redis_server import pick_free_port

STREAM_MAXLEN: Final = 1000
"""Approximate trim, so a long run does not fill Redis; trimming is part of a real XADD too."""

_REDIS: Final = web.AppKey("redis", Redis)


def create_baseline_app(redis_url: str, sign_keys: Mapping[str, bytes]) -> web.Application:
    app = web.Application(client_max_size=2 * 1024 * 1024)

    async def redis_ctx(app: web.Application) -> AsyncIterator[None]:
        app[_REDIS] = Redis.from_url(redis_url)
        yield
        await app[_REDIS].aclose()

    async def accept(request: web.Request) -> web.Response:
        body = await request.read()
        try:
            envelope = json.loads(body)
            key = sign_keys[envelope["sender_device"]]
            crypto.verify_envelope(envelope, key)
        except (ValueError, KeyError, TypeError, crypto.CryptoError):
            return web.json_response({"code": "bad_envelope"}, status=400)
        stream = redis_keys.baseline_stream(envelope["sender_device"])
        await request.app[_REDIS].xadd(stream, {"e": body}, maxlen=STREAM_MAXLEN, approximate=True)
        return web.json_response({"id": envelope["id"]}, status=202)

    async def health(_request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app.cleanup_ctx.append(redis_ctx)
    app.router.add_post("/v1/messages", accept)
    app.router.add_get("/healthz", health)
    return app


def _load_keys(path: Path) -> dict[str, bytes]:
    document = json.loads(path.read_text())
    return {device: crypto.b64u_decode(key) for device, key in document.items()}


def _run_worker(port: int, redis_url: str, keys_file: Path, reuse_port: bool) -> None:
    web.run_app(
        create_baseline_app(redis_url, _load_keys(keys_file)),
        host=HOST,
        port=port,
        reuse_port=reuse_port,
        print=None,
        access_log=None,
        shutdown_timeout=2,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m messaging.bench.baseline")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--keys-file", type=Path, required=True, help="{device: b64u sign key}")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    if args.workers == 1:
        _run_worker(args.port, args.redis_url, args.keys_file, reuse_port=False)
        return 0
    # Same shape as ``liaison serve --workers N``: spawned processes sharing the port.
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=_run_worker, args=(args.port, args.redis_url, args.keys_file, True))
        for _ in range(args.workers)
    ]
    for worker in workers:
        worker.start()
    try:
        for worker in workers:
            worker.join()
    except KeyboardInterrupt:
        pass
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.terminate()
            worker.join(5)
    return 0


class BaselineServer:
    """The baseline in a child process on a free port; ``stop()`` ends its process group."""

    def __init__(
        self, redis_url: str, sign_keys: Mapping[str, bytes], workdir: Path, workers: int
    ) -> None:
        self.port = pick_free_port()
        self.url = f"http://{HOST}:{self.port}"
        keys_file = workdir / "baseline-keys.json"
        keys_file.write_text(
            json.dumps({device: crypto.b64u_encode(key) for device, key in sign_keys.items()})
        )
        command = [
            sys.executable,
            "-m",
            "messaging.bench.baseline",
            "--port",
            str(self.port),
            "--redis-url",
            redis_url,
            "--keys-file",
            str(keys_file),
            "--workers",
            str(workers),
        ]
        self._child = ChildServer(command, os.environ, workdir / "baseline.log")
        try:
            wait_ready(self.url, "/healthz", self._child.process, self._child.log)
        except BaseException:
            self._child.stop()
            raise

    @property
    def pid(self) -> int:
        return self._child.pid

    def stop(self) -> None:
        self._child.stop()


if __name__ == "__main__":
    sys.exit(main())
