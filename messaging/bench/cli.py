"""``liaison bench``: the options, and the command that prints the table.

Kept light on purpose: ``messaging.cli`` imports this module to register the subcommand, so the
bench's own imports (aiohttp clients, the baseline, /proc readers) wait until it runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from messaging.bench.config import BenchConfig, ConfigError, parse_depths, parse_mix

DESCRIPTION = """\
Measure Liaison. Without --server (or LIAISON_SERVER), starts a fresh deployment on this
machine (a private redis-server and `liaison serve --workers N` on free 127.0.0.1 ports,
deleted afterwards). --json prints the report as one JSON document.

Modes:
  load         enroll professionals, then send 1:1 / organisation / dossier-linked messages
               (SDK: encrypt + sign) while WebSocket receivers decrypt, verify and ack
               (--receivers ack-only: read and ack, no crypto); reports accepted/s,
               delivered/s, end-to-end latency, errors, CPU.
  send         the send path alone: replay --envelopes pre-built, pre-signed envelopes (no
               client crypto in the timed window) at Liaison, then at the bare baseline, in
               the same run; reports requests/s and server CPU per request, and the ratios.
  soak         send at --rate (200/s) for --duration (60 s) while receivers ack everything;
               reports Redis used_memory growth per message once all is acked.
  sockets      open --sockets idle WebSockets; reports server RSS and Redis connections.
  queue-depth  fill a device queue to each of --depths via the API, then time --batch
               sends and acks at that depth.

Times: a phase is --warmup seconds (not counted), then the measured window (--duration),
then up to --drain-timeout seconds for the last deliveries.
"""


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def add_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    """Register ``bench`` on the ``liaison`` command line; the caller adds the global options
    (``--server``, ``--admin-token``, ``--json``) that every command shares."""
    parser = subparsers.add_parser(
        "bench",
        help="measure a deployment: throughput, latency, CPU, idle sockets, queue depth",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(run=run)
    parser.add_argument(
        "--mode",
        choices=("load", "send", "soak", "sockets", "queue-depth"),
        default="load",
        help="what to measure (default load)",
    )

    target = parser.add_argument_group(
        "target (default: start a fresh deployment; --server and --admin-token: a running one)"
    )
    target.add_argument(
        "--redis-url",
        metavar="URL",
        help="with --server: its Redis, for Redis figures and the baseline (else a private one)",
    )
    target.add_argument(
        "--redis-cluster",
        action="store_true",
        help="with --redis-url: it names a node of a Redis Cluster (figures sum its nodes)",
    )
    target.add_argument(
        "--server-pid", type=int, metavar="PID", help="with --server: server pid, for its CPU/RSS"
    )
    target.add_argument(
        "--workers", type=_positive_int, default=1, help="server processes when self-started"
    )
    target.add_argument(
        "--appendfsync",
        choices=("always", "everysec", "no"),
        default="everysec",
        help="AOF fsync policy of the self-started Redis (default everysec)",
    )

    people = parser.add_argument_group("population")
    people.add_argument(
        "--professionals", type=int, default=20, help="devices enrolled (default 20)"
    )
    people.add_argument("--org-size", type=int, default=10, help="organisation members (10)")
    people.add_argument("--patients", type=int, default=2, help="patients with a dossier (2)")

    work = parser.add_argument_group("workload (modes load, send, soak)")
    work.add_argument(
        "--mix",
        default="direct=100",
        metavar="SPEC",
        help="message kinds and weights, e.g. direct=80,org=10,dossier=10 (default direct=100); "
        "attachment=N: a direct message with one blob, uploaded first, downloaded and checked "
        "by sdk receivers",
    )
    work.add_argument(
        "--payload-size", type=int, default=1024, metavar="BYTES", help="body size (1024)"
    )
    work.add_argument(
        "--attachment-size",
        type=int,
        default=1 << 20,
        metavar="BYTES",
        help="bytes of an attachment message's blob (1048576)",
    )
    work.add_argument(
        "--concurrency", type=int, default=32, help="closed loop: sends in flight (default 32)"
    )
    work.add_argument(
        "--rate", type=float, metavar="MSG/S", help="open loop: target send rate instead"
    )
    work.add_argument(
        "--max-inflight",
        type=int,
        default=2000,
        help="open loop: sends waiting at most; beyond, sends are skipped and counted (2000)",
    )
    work.add_argument(
        "--duration", type=float, metavar="S", help="measured window in seconds (default 10)"
    )
    work.add_argument(
        "--messages", type=int, metavar="N", help="stop the window after N sends (or --duration)"
    )
    work.add_argument("--warmup", type=float, default=2.0, metavar="S", help="not counted (2)")
    work.add_argument(
        "--drain-timeout",
        type=float,
        default=10.0,
        metavar="S",
        help="wait for the window's deliveries at most this long (10)",
    )
    work.add_argument(
        "--client-procs",
        type=_positive_int,
        default=1,
        help="sender processes (receivers stay in the bench process) (default 1)",
    )
    work.add_argument(
        "--baseline",
        action="store_true",
        help="also measure the bare stack (aiohttp + Ed25519 verify + XADD) and print ratios",
    )
    work.add_argument(
        "--half-peak",
        action="store_true",
        help="then run open loop at half the reached rate and report its p99",
    )
    work.add_argument("--seed", type=int, help="random seed of the workload")
    work.add_argument(
        "--receivers",
        choices=("sdk", "ack-only"),
        default="sdk",
        help="sdk: decrypt and verify each event (default); ack-only: read and ack it",
    )
    work.add_argument(
        "--envelopes",
        type=_positive_int,
        default=40_000,
        help="mode send: envelopes built before the timed window (40000; a phase ends early "
        "when they run out)",
    )

    out = parser.add_argument_group("output")
    out.add_argument("--json-out", type=Path, metavar="FILE", help="write the JSON report")
    out.add_argument(
        "--histogram-png", type=Path, metavar="FILE", help="write the latency histogram (PNG)"
    )
    shown = out.add_mutually_exclusive_group()
    shown.add_argument(
        "--progress",
        dest="progress",
        action="store_true",
        default=None,
        help="progress line on stderr (default: when stderr is a terminal)",
    )
    shown.add_argument("--no-progress", dest="progress", action="store_false")

    modes = parser.add_argument_group("modes sockets and queue-depth")
    modes.add_argument("--sockets", type=int, default=10_000, help="idle WebSockets (10000)")
    modes.add_argument(
        "--hold", type=float, default=5.0, metavar="S", help="keep the sockets open (5)"
    )
    modes.add_argument(
        "--depths", default="100,100000", help="queue depths to compare (default 100,100000)"
    )
    modes.add_argument("--batch", type=int, default=500, help="timed sends+acks per depth (500)")
    return parser


def config_from(args: argparse.Namespace) -> BenchConfig:
    server = getattr(args, "server", None)
    admin_token = getattr(args, "admin_token", None)
    options: dict[str, Any] = {
        "mode": args.mode,
        "url": server,
        "admin_token": admin_token if server else None,
        "redis_url": args.redis_url,
        "redis_cluster": args.redis_cluster,
        "server_pid": args.server_pid,
        "workers": args.workers,
        "appendfsync": args.appendfsync,
        "professionals": args.professionals,
        "org_size": min(args.org_size, args.professionals),
        "patients": args.patients,
        "mix": parse_mix(args.mix),
        "payload_size": args.payload_size,
        "attachment_size": args.attachment_size,
        "concurrency": args.concurrency,
        "rate": args.rate,
        "max_inflight": args.max_inflight,
        "duration": args.duration,
        "messages": args.messages,
        "warmup": args.warmup,
        "drain_timeout": args.drain_timeout,
        "client_procs": args.client_procs,
        "baseline": args.baseline,
        "half_peak": args.half_peak,
        "receivers": args.receivers,
        "envelopes": args.envelopes,
        "json_out": args.json_out,
        "histogram_png": args.histogram_png,
        "progress": args.progress,
        "sockets": args.sockets,
        "hold": args.hold,
        "depths": parse_depths(args.depths),
        "batch": args.batch,
        "seed": args.seed,
    }
    return BenchConfig(**options)


def run(args: argparse.Namespace) -> int:
    try:
        config = config_from(args)
    except ConfigError as exc:
        print(f"error: invalid_option: {exc}", file=sys.stderr)
        return 2
    from messaging.bench.queue_depth import render_queue_depth
    from messaging.bench.report import render_load
    from messaging.bench.runner import run_bench
    from messaging.bench.send_mode import render_send
    from messaging.bench.soak import render_soak
    from messaging.bench.sockets import render_sockets

    report = run_bench(config)
    render = {
        "load": render_load,
        "send": render_send,
        "soak": render_soak,
        "sockets": render_sockets,
        "queue-depth": render_queue_depth,
    }
    if getattr(args, "json", False):
        print(json.dumps(report, ensure_ascii=False), flush=True)
        return 0
    print(render[config.mode](report), flush=True)
    if config.json_out is not None:
        print(f"report: {config.json_out}")
    if config.histogram_png is not None and config.mode == "load":
        print(f"histogram: {config.histogram_png}")
    return 0
