"""Smoke test of ``liaison bench``: a short run against its own deployment completes and reports
sane figures. It asserts nothing about speed (DESIGN: a benchmark prints numbers, it is never a
timed test)."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from aiohttp.web import Application, Request

from messaging.bench import population
from messaging.bench.config import BenchConfig, parse_mix
from messaging.bench.runner import run_bench
from messaging.bench.workload import id_timestamp, timed_message_id
from messaging.wire_types import UUID_PATTERN
from tests.conftest import ADMIN_TOKEN


@pytest.mark.slow
def test_bench_runs_its_own_deployment_and_reports_sane_figures(tmp_path: Path) -> None:
    report_file, histogram = tmp_path / "report.json", tmp_path / "latency.png"
    config = BenchConfig(
        professionals=6,
        org_size=3,
        patients=1,
        mix=parse_mix("direct=80,org=10,dossier=10"),
        concurrency=8,
        duration=2.0,
        warmup=0.5,
        drain_timeout=5.0,
        baseline=True,
        json_out=report_file,
        histogram_png=histogram,
        progress=False,
        seed=1,
    )

    returned = run_bench(config)

    report = json.loads(report_file.read_text())
    assert report["throughput_ratio"] == returned["throughput_ratio"]
    liaison, baseline = report["phases"]["liaison"], report["phases"]["baseline"]
    assert liaison["accepted"] > 0
    assert liaison["delivered"] > 0
    assert liaison["latency_ms"]["p50"] > 0
    assert liaison["cpu_s"]["server"] > 0
    assert baseline["accepted"] > 0
    assert report["throughput_ratio"] > 0
    assert report["cpu_per_message_ratio"] > 0
    assert report["versions"]["redis_server"]
    assert report["deployment"]["self_started"] is True
    assert histogram.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


@pytest.mark.slow
def test_ack_only_receivers_count_every_message_in_the_window_by_its_send_time(
    tmp_path: Path,
) -> None:
    """They cannot decrypt the body's timestamp; the message id carries the sender's. Counted
    by the envelope's created_at instead (stamped later), a message sent at the window's end
    was expected by the sender and placed after the window: 'undelivered' with nothing lost."""
    config = BenchConfig(
        professionals=4,
        org_size=2,
        mix=parse_mix("direct=80,org=20"),
        receivers="ack-only",
        concurrency=8,
        duration=2.0,
        warmup=0.5,
        drain_timeout=10.0,
        json_out=tmp_path / "ack-only.json",
        progress=False,
        seed=5,
    )

    report = run_bench(config)

    liaison = report["phases"]["liaison"]
    assert liaison["expected_deliveries"] > 0
    assert liaison["delivered"] == liaison["expected_deliveries"]
    assert liaison["undelivered"] == 0
    assert liaison["latency_ms"]["p50"] > 0


def test_a_timed_message_id_is_a_uuid_that_carries_its_send_time() -> None:
    sent = time.time_ns()
    ids = {timed_message_id(sent) for _ in range(100)}
    assert len(ids) == 100  # the rest is random
    for made in ids:
        assert re.fullmatch(UUID_PATTERN, made)  # a valid message id on the wire
        assert uuid.UUID(made).version == 8
        assert uuid.UUID(made).variant == uuid.RFC_4122
        assert id_timestamp(made) == sent
    assert id_timestamp(str(uuid.uuid4())) is None  # an SDK's id carries no time


def test_mix_weights_parse_and_refuse_unknown_kinds() -> None:
    assert dict(parse_mix("direct=80,org=10,dossier=10")) == {
        "direct": 80,
        "org": 10,
        "dossier": 10,
        "attachment": 0,
    }
    assert dict(parse_mix("org=1")) == {"direct": 0, "org": 1, "dossier": 0, "attachment": 0}
    with pytest.raises(ValueError, match="mix"):
        parse_mix("broadcast=5")


def test_attachment_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="attachment-size"):
        BenchConfig(mix=parse_mix("attachment=1"), attachment_size=0)
    with pytest.raises(ValueError, match="baseline"):
        BenchConfig(mix=parse_mix("direct=1,attachment=1"), baseline=True)
    with pytest.raises(ValueError, match="mode send"):
        BenchConfig(mode="send", mix=parse_mix("attachment=1"))


@pytest.mark.slow
def test_attachment_mix_uploads_and_downloads_blobs(tmp_path: Path) -> None:
    config = BenchConfig(
        professionals=4,
        org_size=2,
        patients=1,
        mix=parse_mix("direct=50,attachment=50"),
        attachment_size=100_000,
        concurrency=4,
        duration=1.5,
        warmup=0.3,
        drain_timeout=5.0,
        json_out=tmp_path / "attachments.json",
        progress=False,
        seed=5,
    )

    report = run_bench(config)

    liaison = report["phases"]["liaison"]
    blobs = liaison["attachments"]
    assert liaison["errors"] == {}
    assert liaison["receive_errors"] == {}
    assert blobs["messages"] > 0
    assert blobs["uploads"] == blobs["messages"]
    assert blobs["upload_bytes"] == 100_000 * blobs["uploads"]
    # Every attachment message reached its one device, whose receiver fetched and checked it.
    assert blobs["downloads"] == blobs["messages"]
    for key in ("upload_mb_s", "upload_mb_s_per_transfer", "download_mb_s"):
        assert blobs[key] > 0
    assert blobs["download_mb_s_per_transfer"] > 0


@pytest.mark.slow
def test_send_mode_replays_the_same_envelopes_at_liaison_and_the_baseline(
    tmp_path: Path,
) -> None:
    config = BenchConfig(
        mode="send",
        professionals=4,
        org_size=2,
        mix=parse_mix("direct=80,org=20"),
        envelopes=400,
        concurrency=4,
        duration=1.0,
        # No warm-up: on a quiet machine the baseline posts 400 envelopes in well under 0.2 s,
        # so a warm-up would use them all and leave its window empty (CI saw 0 accepted).
        warmup=0.0,
        json_out=tmp_path / "send.json",
        progress=False,
        seed=2,
    )

    report = run_bench(config)

    liaison, baseline = report["phases"]["liaison"], report["phases"]["baseline"]
    assert report["envelopes"]["built"] == 400
    assert liaison["accepted"] > 0
    assert liaison["failed"] == 0
    assert baseline["accepted"] > 0
    assert liaison["cpu_us_per_request"]["server"] > 0
    assert report["send_throughput_ratio"] > 0
    assert report["send_server_cpu_per_request_ratio"] > 0
    assert {t["target"].split(" ")[0] for t in report["targets"]} == {
        "send_throughput_ratio",
        "send_server_cpu_per_request_ratio",
    }


@pytest.mark.slow
def test_soak_mode_reports_memory_per_message_with_ack_only_receivers(tmp_path: Path) -> None:
    config = BenchConfig(
        mode="soak",
        professionals=4,
        org_size=2,
        mix=parse_mix("direct=50,org=50"),
        receivers="ack-only",
        rate=40.0,
        duration=1.5,
        warmup=0.5,
        json_out=tmp_path / "soak.json",
        progress=False,
        seed=3,
    )

    report = run_bench(config)

    soak, memory = report["phases"]["soak"], report["memory"]
    assert memory["messages"] > 0
    assert soak["delivered"] > 0
    assert soak["receipts"] > 0
    # Every event was acked and every index entry dropped before memory was read again.
    assert memory["left_queued_or_indexed"] == 0
    assert report["retained_bytes_per_message"] is not None
    assert report["targets"][0]["target"].startswith("retained_bytes_per_message")


@pytest.mark.slow
def test_queue_depth_mode_fills_a_queue_deeper_than_one_senders_fair_share(
    tmp_path: Path,
) -> None:
    # One sender fills the queue: 400 is past a quarter of the quota the mode sets (1,420).
    config = BenchConfig(
        mode="queue-depth",
        professionals=2,
        org_size=1,
        patients=1,
        depths=(10, 400),
        batch=10,
        json_out=tmp_path / "depth.json",
        progress=False,
        seed=4,
    )

    report = run_bench(config)

    depths = report["queue_depth"]["depths"]
    assert [min(d["queue_length_measured"]) for d in depths] == [10, 400]
    assert all(d["fill_errors"] == {} and d["errors"] == {} for d in depths)
    assert report["queue_depth"]["ratio"] is not None


async def test_a_second_population_on_the_same_server_is_created(
    client: TestClient[Request, Application], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``liaison bench --server`` run twice: the second run's professionals and organisation
    have the same pattern of names as the first's, which the directory would refuse as look-alikes
    were the names not marked with their run."""
    runs: Iterator[int] = iter((41, 42))
    monkeypatch.setattr(population, "run_number", lambda: next(runs))
    url = str(client.make_url("")).rstrip("/")
    async with aiohttp.ClientSession() as session:
        first, second = [
            await population.create_population(
                session,
                url,
                ADMIN_TOKEN,
                professionals=3,
                org_size=2,
                patients=1,
                with_dossiers=True,
            )
            for _ in range(2)
        ]

    assert (first.run, second.run) == (41, 42)
    assert len(second.professionals) == 3
    assert len(second.patients) == 1
    assert {p.principal for p in first.devices()}.isdisjoint(p.principal for p in second.devices())
