"""`liaison serve`'s guard around the embedded Redis's data directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from messaging.server.runner import DataDirInUse, exclusive


def test_a_data_directory_serves_one_embedded_redis_at_a_time(tmp_path: Path) -> None:
    with exclusive(tmp_path), pytest.raises(DataDirInUse), exclusive(tmp_path):
        pass
    with exclusive(tmp_path):  # released once the first server stops
        pass
