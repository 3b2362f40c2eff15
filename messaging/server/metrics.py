"""Prometheus metrics (``prometheus_client``), right whichever worker a scrape reaches.

``liaison serve --workers N`` runs N processes behind one port, and a scrape reaches one of them.
The choice: prometheus_client's **multiprocess mode**. The master gives every worker one private
directory (``PROMETHEUS_MULTIPROC_DIR``, created and removed by ``messaging.server.runner``);
each worker writes its values there (memory-mapped files), and ``/metrics`` in any worker reads
them all: counters and histograms summed, gauges per ``multiprocess_mode`` (``livesum``: the
sum over live workers). A worker that dies is marked dead (``mark_process_dead``), so its live
gauges stop counting. One exporter per deployment would need a second port and a sidecar; this
needs nothing. With one worker the values stay in this process's memory.

Gauges a worker can only sample (its connection pool, its process figures, its wake-up
listeners) are refreshed by ``refresh``: on every scrape of that worker, and every
``REFRESH_SECONDS`` in each worker, so that the others' values are at most that old.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import values as prometheus_values
from prometheus_client.core import Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.process_collector import ProcessCollector

from messaging.delivery import Acknowledged

REFRESH_SECONDS: Final = 5.0
MULTIPROC_VARIABLE: Final = "PROMETHEUS_MULTIPROC_DIR"

_HTTP_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_PUSH_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
_REDIS_BUCKETS: Final = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1,
)  # fmt: skip

_PROCESS_SAMPLES: Final = {
    "process_cpu_seconds_total": "cpu_seconds",
    "process_resident_memory_bytes": "resident_memory_bytes",
    "process_open_fds": "open_fds",
    "process_start_time_seconds": "start_time_seconds",
}


def multiprocess_mode() -> bool:
    """Whether prometheus_client writes to ``PROMETHEUS_MULTIPROC_DIR``: it decides once, when
    it is first imported, so the answer comes from the library rather than from the
    environment now."""
    return prometheus_values.ValueClass is not prometheus_values.MutexValue


@dataclass(frozen=True, slots=True)
class PoolUsage:
    in_use: int
    idle: int
    limit: int


class Metrics:
    """Every metric family of one server process, on a registry of its own (one app, one
    registry: tests build many apps in one process)."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        self.request_duration = Histogram(
            "liaison_http_request_duration_seconds",
            "HTTP requests by method, route template and status (a WebSocket: its lifetime).",
            ("method", "route", "status"),
            buckets=_HTTP_BUCKETS,
            registry=registry,
        )
        self.responses = Counter(
            "liaison_http_responses",
            "HTTP responses by route template and status.",
            ("route", "status"),
            registry=registry,
        )
        self.send_to_push = Histogram(
            "liaison_send_to_push_seconds",
            "From a message's enqueue (its stream id's time) to its push on a live WebSocket.",
            buckets=_PUSH_BUCKETS,
            registry=registry,
        )
        self.redis_call = Histogram(
            "liaison_redis_call_seconds",
            "Redis round trips by command (a pipeline counts once, as PIPELINE).",
            ("command",),
            buckets=_REDIS_BUCKETS,
            registry=registry,
        )
        self.messages_accepted = Counter(
            "liaison_messages_accepted",
            "Envelopes answered 202 (an idempotent retry counts again).",
            registry=registry,
        )
        self.messages_delivered = Counter(
            "liaison_messages_delivered",
            "Message events handed to a device, by way (at-least-once: a redelivery counts).",
            ("via",),
            registry=registry,
        )
        self.messages_acked = Counter(
            "liaison_messages_acked",
            "Message events acknowledged (deleted from a device's queue).",
            registry=registry,
        )
        self.receipts = Counter(
            "liaison_receipts_emitted",
            "Signed delivery receipts queued for senders' devices.",
            registry=registry,
        )
        self.dossier_links = Counter(
            "liaison_dossier_link_outcomes",
            "Dossier-linked messages accepted, by outcome (attached, refused) and refusal code.",
            ("status", "code"),
            registry=registry,
        )
        self.problems = Counter(
            "liaison_problems",
            "Problem documents answered, by status and code.",
            ("status", "code"),
            registry=registry,
        )
        self.rate_limited = Counter(
            "liaison_rate_limited",
            "Calls refused with 429 rate_limited, by budget scope (address, device, sender).",
            ("scope",),
            registry=registry,
        )
        self.dossier_lost_version_checks = Counter(
            "liaison_dossier_lost_version_checks",
            "Dossier changes decided again because another process changed the dossier first.",
            registry=registry,
        )
        self.websockets = Gauge(
            "liaison_websockets",
            "WebSocket streams open now.",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.wake_listeners = Gauge(
            "liaison_wake_listeners",
            "Sockets and long polls waiting on their device's queue (sampled).",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.redis_pool = Gauge(
            "liaison_redis_pool_connections",
            "Redis connections of the pools, by state (in_use, idle, limit) (sampled).",
            ("state",),
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.process = {
            short: Gauge(
                f"liaison_process_{short}",
                f"This worker's {short.replace('_', ' ')} (sampled; per pid across workers).",
                registry=registry,
                multiprocess_mode="liveall",
            )
            for short in _PROCESS_SAMPLES.values()
        }
        self._process_source = ProcessCollector(registry=None)
        self._lost_checks_seen = 0
        # Labelled children looked up once: ``labels()`` takes a lock and builds a tuple.
        self._requests: dict[tuple[str, str, int], tuple[Histogram, Counter]] = {}
        self._redis_calls: dict[str, Histogram] = {}

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        children = self._requests.get(key)
        if children is None:
            children = self._requests[key] = (
                self.request_duration.labels(method, route, status),
                self.responses.labels(route, status),
            )
        duration, responses = children
        duration.observe(seconds)
        responses.inc()

    def observe_redis(self, command: str, seconds: float) -> None:
        child = self._redis_calls.get(command)
        if child is None:
            child = self._redis_calls[command] = self.redis_call.labels(command)
        child.observe(seconds)

    def acknowledged(self, done: Acknowledged) -> None:
        self.messages_acked.inc(done.messages)
        self.receipts.inc(done.receipts)

    def pushed(self, stream_ids: Iterable[str], now_ms: int) -> None:
        """Message events just written to a live socket: their send-to-push latency. A stream
        id starts with the Redis server's clock (ms) at enqueue; the difference with this
        worker's clock is only as right as the two clocks agree (one host, or NTP)."""
        for stream_id in stream_ids:
            enqueued_ms = int(stream_id.partition("-")[0])
            self.send_to_push.observe(max(0, now_ms - enqueued_ms) / 1000)

    def refresh(
        self,
        pool: PoolUsage | None,
        listeners: int,
        lost_version_checks: int,
    ) -> None:
        """Sample what only this worker can see."""
        if pool is not None:
            self.redis_pool.labels("in_use").set(pool.in_use)
            self.redis_pool.labels("idle").set(pool.idle)
            self.redis_pool.labels("limit").set(pool.limit)
        self.wake_listeners.set(listeners)
        if lost_version_checks > self._lost_checks_seen:
            self.dossier_lost_version_checks.inc(lost_version_checks - self._lost_checks_seen)
            self._lost_checks_seen = lost_version_checks
        families: list[Metric] = list(self._process_source.collect())
        for family in families:
            for sample in family.samples:
                short = _PROCESS_SAMPLES.get(sample.name)
                if short is not None:
                    self.process[short].set(sample.value)

    def exposition(self) -> bytes:
        """The text format of every family, summed over the workers in multiprocess mode."""
        if not multiprocess_mode():
            return generate_latest(self.registry)
        merged = CollectorRegistry()
        MultiProcessCollector(merged)  # type: ignore[no-untyped-call]
        return generate_latest(merged)


def forget_process(pid: int, directory: str | os.PathLike[str]) -> None:
    """A worker died: drop its live gauges from the sums (its counters stay counted)."""
    mark_process_dead(pid, str(directory))  # type: ignore[no-untyped-call]
