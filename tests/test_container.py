"""The container as shipped: read from the Dockerfile and docker-compose.yml themselves (no
engine runs here; CI also validates the compose file with ``docker-compose config -q``)."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Stage:
    image: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [argument for word, argument in self.instructions if word == keyword]


def _stages() -> tuple[dict[str, str], list[Stage]]:
    """The Dockerfile's build arguments and stages, continuation lines joined."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    arguments: dict[str, str] = {}
    stages: list[Stage] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, argument = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "ARG" and not stages:
            name, _, default = argument.partition("=")
            arguments[name] = default
        elif keyword == "FROM":
            image, _, name = argument.partition(" AS ")
            image = re.sub(r"\$\{(\w+)\}", lambda m: arguments[m.group(1)], image.strip())
            stages.append(Stage(image, name.strip() or None))
        else:
            stages[-1].instructions.append((keyword, argument.strip()))
    return arguments, stages


def test_every_base_image_and_tool_is_pinned_to_a_version() -> None:
    _, stages = _stages()
    for stage in stages:
        assert re.search(r":\d+\.\d+\.\d+", stage.image), f"{stage.image} is not pinned"
    installs = [run for stage in stages for run in stage.all("RUN") if "pip install" in run]
    assert installs == ["pip install --no-cache-dir uv==0.13.9"]


def test_the_runtime_stage_runs_liaison_from_the_venv_as_a_user_without_uv() -> None:
    _, stages = _stages()
    runtime = stages[-1]
    [user] = runtime.all("USER")
    assert user not in ("root", "0")
    assert [json.loads(e) for e in runtime.all("ENTRYPOINT")] == [["liaison"]]
    assert [json.loads(c) for c in runtime.all("CMD")] == [["serve"]]
    # The environment comes from the build stage; no uv, pip or npm runs at build or run time.
    assert runtime.all("RUN")
    assert not any(tool in run for run in runtime.all("RUN") for tool in ("uv", "pip", "npm"))
    copies = " ".join(runtime.all("COPY"))
    assert "--from=build /app/.venv /app/.venv" in copies
    [environment] = runtime.all("ENV")
    assert "PATH=/app/.venv/bin:$PATH" in environment


def test_the_data_directory_is_the_declared_volume_by_default() -> None:
    _, stages = _stages()
    runtime = stages[-1]
    settings = dict(item.split("=", 1) for item in shlex.split(" ".join(runtime.all("ENV"))))
    assert settings["LIAISON_DATA_DIR"] == "/data"
    assert [json.loads(v) for v in runtime.all("VOLUME")] == [["/data"]]


def test_the_health_check_asks_for_readiness() -> None:
    _, stages = _stages()
    [check] = stages[-1].all("HEALTHCHECK")
    assert "/readyz" in check
    assert "--interval=" in check
    assert "--timeout=" in check


CLUSTER_PROFILE = '# --- profile "cluster"'


def _compose_parts() -> tuple[str, str]:
    """The default services, and those of the ``cluster`` profile (``docs/operations.md``)."""
    text = (ROOT / "docker-compose.yml").read_text()
    default, marker, cluster = text.partition(CLUSTER_PROFILE)
    assert marker, "the cluster profile's section marker moved"
    return default, cluster.partition("\nvolumes:")[0]


def test_compose_protects_redis_with_a_required_password_and_checks_both_services() -> None:
    compose, _ = _compose_parts()
    # Required, with no default: compose refuses to start without it.
    required = "${LIAISON_REDIS_PASSWORD:?"
    assert compose.count(required) == 2  # the Redis server's and the app's URL
    assert "requirepass" in compose
    assert "redis://:${LIAISON_REDIS_PASSWORD:?" in compose
    assert compose.count("healthcheck:") == 2
    assert "condition: service_healthy" in compose
    assert "/readyz" in compose
    assert re.search(r"image: redis:\d+\.\d+\.\d+", compose)


def test_the_compose_cluster_requires_the_password_on_every_node_and_checks_readiness() -> None:
    _, cluster = _compose_parts()
    required = "${LIAISON_REDIS_PASSWORD:?"
    # The nodes (one anchor, merged into the other five), cluster-init, the app's URL.
    assert cluster.count(required) == 3
    assert cluster.count("<<: *cluster-node") == 5
    assert "requirepass" in cluster
    assert "masterauth" in cluster  # a replica logs in to its primary
    assert "redis://:${LIAISON_REDIS_PASSWORD:?" in cluster
    assert "LIAISON_REDIS_MODE: cluster" in cluster
    assert cluster.count("healthcheck:") == 2  # every node, every app replica (anchors)
    assert "/readyz" in cluster
    images = re.findall(r"image: redis:\S+", cluster)
    assert images
    assert all(re.match(r"image: redis:\d+\.\d+\.\d+", image) for image in images)
