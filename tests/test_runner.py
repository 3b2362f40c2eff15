"""`liaison serve`: the guard around the embedded Redis's data directory, ``--workers``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from messaging.cli import build_parser
from messaging.server.runner import DataDirInUse, exclusive


def test_a_data_directory_serves_one_embedded_redis_at_a_time(tmp_path: Path) -> None:
    with exclusive(tmp_path), pytest.raises(DataDirInUse), exclusive(tmp_path):
        pass
    with exclusive(tmp_path):  # released once the first server stops
        pass


@pytest.mark.parametrize(
    ("given", "workers"),
    [("3", 3), ("auto", len(os.sched_getaffinity(0)))],
)
def test_workers_are_a_count_or_one_per_usable_core(given: str, workers: int) -> None:
    args = build_parser().parse_args(["serve", "--workers", given])
    assert args.workers == workers


@pytest.mark.parametrize("given", ["0", "-1", "many"])
def test_a_workers_value_that_is_no_count_is_refused(given: str) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--workers", given])
