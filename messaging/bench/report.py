"""Figures: percentiles, one phase's figures, the ratios, the targets, the table, the versions."""

from __future__ import annotations

import json
import math
import platform
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from messaging.bench.config import BenchConfig
from messaging.bench.population import Population
from messaging.bench.workload import ReceiveStats, SendStats

# Targets from the issues (12 for the full loop): reported, never asserted.
THROUGHPUT_RATIO_MIN = 0.6
CPU_RATIO_MAX = 2.0
P99_AT_HALF_PEAK_MS_MAX = 10.0
RSS_PER_SOCKET_KIB_MAX = 50.0
DEPTH_RATIO_MAX = 1.10


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def percentile(ordered: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of an already sorted sequence."""
    if not ordered:
        return 0.0
    rank = max(math.ceil(fraction * len(ordered)), 1)
    return float(ordered[rank - 1])


def latency_ms(samples_ns: Sequence[int]) -> dict[str, float | int]:
    ordered = sorted(samples_ns)
    if not ordered:
        return {"count": 0, "p50": 0.0, "p95": 0.0, "p99": 0.0, "max": 0.0, "mean": 0.0}
    ms = 1e6
    return {
        "count": len(ordered),
        "p50": round(percentile(ordered, 0.50) / ms, 3),
        "p95": round(percentile(ordered, 0.95) / ms, 3),
        "p99": round(percentile(ordered, 0.99) / ms, 3),
        "max": round(ordered[-1] / ms, 3),
        "mean": round(sum(ordered) / len(ordered) / ms, 3),
    }


def _per(value: float | None, count: int, scale: float = 1.0) -> float | None:
    if value is None or count <= 0:
        return None
    return round(value / count * scale, 4)


def phase_figures(
    *,
    target: str,
    loop: Mapping[str, Any],
    window_s: float,
    sent: SendStats,
    received: ReceiveStats | None,
    cpu_s: Mapping[str, float | None],
    attachments: bool = False,
) -> dict[str, Any]:
    accepted = sent.accepted
    figures: dict[str, Any] = {
        "target": target,
        "load": dict(loop),
        "window_s": round(window_s, 3),
        "attempted": sent.attempted,
        "accepted": accepted,
        # Warm-up sends included: what a soak leaves in Redis.
        "accepted_total": sent.started - sent.failed,
        "accepted_per_s": round(accepted / window_s, 1) if window_s > 0 else 0.0,
        "accept_latency_ms": latency_ms(sent.accept_ns),
        "errors": dict(sent.errors),
        "error_count": sum(sent.errors.values()),
        "warmup_errors": dict(sent.warmup_errors),
        "skipped_open_loop": sent.skipped,
        "kinds": dict(sent.kinds),
        "dossier": dict(sent.dossier),
        "cpu_s": {k: None if v is None else round(v, 3) for k, v in cpu_s.items()},
        "cpu_ms_per_message": {k: _per(v, accepted, 1000.0) for k, v in cpu_s.items()},
    }
    server, redis = cpu_s.get("server"), cpu_s.get("redis")
    both = None if server is None or redis is None else server + redis
    figures["cpu_ms_per_message"]["server_plus_redis"] = _per(both, accepted, 1000.0)
    if received is not None:
        figures.update(
            {
                "expected_deliveries": sent.expected_deliveries,
                "delivered": received.delivered,
                "delivered_per_s": round(received.delivered / window_s, 1) if window_s else 0.0,
                "undelivered": max(sent.expected_deliveries - received.delivered, 0),
                "latency_ms": latency_ms(received.latency_ns),
                "receive_errors": dict(received.errors),
                "receipts": received.receipts,
                "notifications": dict(received.notifications),
            }
        )
    if attachments:
        figures["attachments"] = attachment_figures(sent, received, window_s)
    return figures


def _mb_s(size: int, ns: float) -> float | None:
    return round(size / 1e6 / (ns / 1e9), 3) if ns > 0 else None


def attachment_figures(
    sent: SendStats, received: ReceiveStats | None, window_s: float
) -> dict[str, Any]:
    """Blob traffic of the window in MB/s (10^6 bytes of plaintext): over the window (all
    transfers together) and per transfer (bytes over the summed time of each)."""
    got = ReceiveStats() if received is None else received
    return {
        "messages": sent.kinds.get("attachment", 0),
        "uploads": sent.uploads,
        "upload_bytes": sent.upload_bytes,
        "upload_mb_s": _mb_s(sent.upload_bytes, window_s * 1e9) if sent.uploads else None,
        "upload_mb_s_per_transfer": _mb_s(sent.upload_bytes, sent.upload_ns),
        "downloads": got.downloads,
        "download_bytes": got.download_bytes,
        "download_mb_s": _mb_s(got.download_bytes, window_s * 1e9) if got.downloads else None,
        "download_mb_s_per_transfer": _mb_s(got.download_bytes, got.download_ns),
    }


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or denominator == 0:
        return None
    return round(numerator / denominator, 3)


def target(name: str, measured: float | None, bound: float, at_least: bool) -> dict[str, Any]:
    met = None if measured is None else (measured >= bound if at_least else measured <= bound)
    margin = None
    if measured is not None and bound:
        margin = round((measured - bound) / bound * 100, 1)
    return {
        "target": name,
        "measured": measured,
        "bound": bound,
        "rule": ">=" if at_least else "<=",
        "met": met,
        "margin_pct": margin,
    }


def versions(redis_server: str | None, liaison_server: str | None) -> dict[str, str | None]:
    def installed(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    return {
        "python": platform.python_version(),
        "aiohttp": installed("aiohttp"),
        "redis-py": installed("redis"),
        "pynacl": installed("pynacl"),
        "pydantic": installed("pydantic"),
        "redis_server": redis_server,
        "liaison": installed("liaison"),
        "liaison_server": liaison_server,
        "platform": platform.platform(),
    }


def write_json(report: Mapping[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


# --- text -------------------------------------------------------------------------------------


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={v}" for k, v in value.items()) or "none"
    return str(value)


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[_cell(c) if i else str(c) for i, c in enumerate(row)] for row in rows]
    widths = [max(len(r[i]) for r in [list(header), *cells]) for i in range(len(header))]
    lines = [
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in [list(header), *cells]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


_LOAD_ROWS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("accepted/s", ("accepted_per_s",)),
    ("delivered/s", ("delivered_per_s",)),
    ("accepted", ("accepted",)),
    ("delivered", ("delivered",)),
    ("undelivered", ("undelivered",)),
    ("e2e latency p50 ms", ("latency_ms", "p50")),
    ("e2e latency p95 ms", ("latency_ms", "p95")),
    ("e2e latency p99 ms", ("latency_ms", "p99")),
    ("e2e latency max ms", ("latency_ms", "max")),
    ("accept latency p50 ms", ("accept_latency_ms", "p50")),
    ("accept latency p99 ms", ("accept_latency_ms", "p99")),
    ("client CPU s", ("cpu_s", "client")),
    ("server CPU s", ("cpu_s", "server")),
    ("redis CPU s", ("cpu_s", "redis")),
    ("client CPU ms/msg", ("cpu_ms_per_message", "client")),
    ("server CPU ms/msg", ("cpu_ms_per_message", "server")),
    ("redis CPU ms/msg", ("cpu_ms_per_message", "redis")),
    ("other processes CPU s", ("cpu_s", "other_processes")),
    ("attachment messages", ("attachments", "messages")),
    ("blob upload MB/s", ("attachments", "upload_mb_s")),
    ("blob upload MB/s per transfer", ("attachments", "upload_mb_s_per_transfer")),
    ("blob download MB/s", ("attachments", "download_mb_s")),
    ("blob download MB/s per transfer", ("attachments", "download_mb_s_per_transfer")),
    ("errors", ("errors",)),
    ("dossier", ("dossier",)),
)


_OPTIONAL_ROWS = frozenset(
    {"dossier", "undelivered"} | {label for label, path in _LOAD_ROWS if path[0] == "attachments"}
)


def _dig(document: Mapping[str, Any] | None, path: Sequence[str]) -> Any:
    value: Any = document
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def render_load(report: Mapping[str, Any]) -> str:
    phases: Mapping[str, Any] = report["phases"]
    names = [name for name in ("liaison", "baseline", "half_peak") if phases.get(name)]
    header = ["", *names]
    if "baseline" in names:
        header.append("ratio")
    rows: list[list[Any]] = []
    for label, path in _LOAD_ROWS:
        values = [_dig(phases[name], path) for name in names]
        if all(v in (None, {}, 0) for v in values) and label in _OPTIONAL_ROWS:
            continue
        row: list[Any] = [label, *values]
        if "baseline" in names:
            liaison, base = _dig(phases["liaison"], path), _dig(phases["baseline"], path)
            numeric = isinstance(liaison, int | float) and isinstance(base, int | float)
            row.append(ratio(liaison, base) if numeric and label.endswith(("/s", "/msg")) else None)
        rows.append(row)
    lines = [table(header, rows), ""]
    if report.get("throughput_ratio") is not None:
        lines.append(
            f"ratio = liaison / baseline: throughput {report['throughput_ratio']:.3f}, "
            f"server CPU per message {_cell(report.get('cpu_per_message_ratio'))}"
        )
    lines.append(render_targets(report.get("targets", [])))
    return "\n".join(lines)


def render_targets(targets: Sequence[Mapping[str, Any]]) -> str:
    lines = ["targets (reported, not asserted):"]
    for item in targets:
        verdict = {True: "met", False: "NOT met", None: "not measured"}[item["met"]]
        margin = "" if item["margin_pct"] is None else f" ({item['margin_pct']:+.1f} %)"
        lines.append(
            f"  {item['target']}: {_cell(item['measured'])} {item['rule']} {item['bound']}"
            f" -> {verdict}{margin}"
        )
    return "\n".join(lines)


def load_report(
    config: BenchConfig, population: Population, phases: dict[str, dict[str, Any] | None]
) -> dict[str, Any]:
    """The load mode's report: the phases' figures, their ratios and the targets."""
    liaison, base, half = phases.get("liaison"), phases.get("baseline"), phases.get("half_peak")
    throughput = cpu_ratio = cpu_ratio_redis = None
    if liaison is not None and base is not None:
        throughput = ratio(liaison["accepted_per_s"], base["accepted_per_s"])
        cpu_ratio = ratio(
            liaison["cpu_ms_per_message"]["server"], base["cpu_ms_per_message"]["server"]
        )
        cpu_ratio_redis = ratio(
            liaison["cpu_ms_per_message"]["server_plus_redis"],
            base["cpu_ms_per_message"]["server_plus_redis"],
        )
    shape = f"{mix_label(config)} {config.payload_size} B, receivers {config.receivers}"
    p99 = None if half is None else half["latency_ms"]["p99"]
    targets = [
        target(f"throughput_ratio ({shape})", throughput, THROUGHPUT_RATIO_MIN, at_least=True),
        target("cpu_per_message_ratio (server)", cpu_ratio, CPU_RATIO_MAX, at_least=False),
        target("p99_at_half_peak_ms (send -> receive)", p99, P99_AT_HALF_PEAK_MS_MAX, False),
    ]
    return {
        "population": {
            "professionals": len(population.professionals),
            "org": population.org,
            "org_size": len(population.org_members),
            "patients": len(population.patients),
        },
        "phases": phases,
        "throughput_ratio": throughput,
        "cpu_per_message_ratio": cpu_ratio,
        "cpu_per_message_ratio_with_redis": cpu_ratio_redis,
        "p99_at_half_peak_ms": p99,
        "targets": targets,
    }


def mix_label(config: BenchConfig) -> str:
    return ",".join(f"{kind}={weight}" for kind, weight in config.mix if weight)
