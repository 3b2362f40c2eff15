"""``run_bench(config)``: the one entry point of the bench (the CLI and the tests call it):
it starts (or finds) the deployment, runs the mode and writes the report."""

from __future__ import annotations

import asyncio
import contextlib
import json
import urllib.request
from typing import Any

from messaging.bench import queue_depth, redis_nodes, sockets
from messaging.bench.config import BenchConfig
from messaging.bench.deployment import deployment, private_redis, scratch_dir
from messaging.bench.load import run_load
from messaging.bench.procstat import raise_open_files_limit
from messaging.bench.report import utc_now, versions, write_json
from messaging.bench.send_mode import run_send
from messaging.bench.soak import run_soak


def run_bench(config: BenchConfig) -> dict[str, Any]:
    """Run the configured mode and return its report (also written to ``--json-out``)."""
    started = utc_now()
    nofile = raise_open_files_limit() if config.mode == "sockets" else None
    quota = None
    if config.mode == "queue-depth":
        # The deepest queue plus the timed batch must fit under the per-device quota.
        quota = max(config.depths) + 2 * config.batch + 1000
    with contextlib.ExitStack() as stack:
        endpoint = stack.enter_context(deployment(config, queue_quota=quota))
        workdir = stack.enter_context(scratch_dir("liaison-bench-work-"))
        baseline_redis: tuple[str, int | None] | None = None
        if config.baseline or config.mode == "send":
            # The baseline writes with a plain client: on a cluster it gets its own Redis.
            baseline_redis = (
                (endpoint.redis_url, next(iter(endpoint.redis_pids), None))
                if endpoint.redis_url is not None and not endpoint.redis_cluster
                else stack.enter_context(private_redis(workdir / "redis", config.appendfsync))
            )
        if config.mode == "load":
            body = asyncio.run(run_load(config, endpoint, workdir, baseline_redis))
        elif config.mode == "send":
            assert baseline_redis is not None
            body = asyncio.run(run_send(config, endpoint, workdir, baseline_redis))
        elif config.mode == "soak":
            body = asyncio.run(run_soak(config, endpoint))
        elif config.mode == "sockets":
            body = asyncio.run(sockets.run_sockets(config, endpoint))
            body["open_files_limit"] = list(nofile) if nofile else None
        else:
            body = asyncio.run(queue_depth.run_queue_depth(config, endpoint))
        redis_version = None
        if endpoint.redis_url is not None:
            redis_version = redis_nodes.version(endpoint.redis_url, cluster=endpoint.redis_cluster)
        server_version = _server_version(endpoint.url)
    report: dict[str, Any] = {
        "mode": config.mode,
        "started_at": started,
        "finished_at": utc_now(),
        "config": config.as_dict(),
        "deployment": {
            "url": endpoint.url,
            "self_started": endpoint.self_started,
            "workers": config.workers if endpoint.self_started else None,
            "server_pid": endpoint.server_pid,
            "redis_pids": list(endpoint.redis_pids),
            "redis_cluster": endpoint.redis_cluster,
        },
        "versions": versions(redis_version, server_version),
        **body,
    }
    if config.json_out is not None:
        write_json(report, config.json_out)
    return report


def _server_version(url: str) -> str | None:
    with (
        contextlib.suppress(OSError, ValueError, KeyError),
        urllib.request.urlopen(url + "/v1/server", timeout=5) as answer,  # noqa: S310
    ):
        return str(json.loads(answer.read())["version"])
    return None
