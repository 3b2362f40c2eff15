"""What a bench run does, fixed before it starts: the CLI builds one ``BenchConfig``."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final, Literal

Mode = Literal["load", "send", "soak", "sockets", "queue-depth"]
Kind = Literal["direct", "org", "dossier", "attachment"]
ReceiverKind = Literal["sdk", "ack-only"]
KINDS: Final[tuple[Kind, ...]] = ("direct", "org", "dossier", "attachment")
ATTACHMENT_SIZE_MAX: Final = 1 << 30
"""``--attachment-size`` at most 1 GiB: each sender process writes one such file to upload."""

DEFAULT_DURATION: Final = 10.0
SOAK_DURATION: Final = 60.0
SOAK_RATE: Final = 200.0
"""``--mode soak`` without ``--duration`` / ``--rate``: a minute at 200 messages/s."""
# With only ``--messages``, the run still has to end by itself if the server stalls.
MESSAGES_ONLY_CAP: Final = 600.0


class ConfigError(ValueError):
    """An option, or a combination of options, that cannot be run."""


def parse_mix(text: str) -> tuple[tuple[Kind, int], ...]:
    """``direct=80,org=10,dossier=10`` -> weights; kinds left out weigh 0."""
    weights: dict[Kind, int] = {}
    for part in text.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep or name not in KINDS:
            raise ConfigError(f"--mix: {part!r} is not <{'|'.join(KINDS)}>=<weight>")
        try:
            weight = int(value)
        except ValueError:
            raise ConfigError(f"--mix: weight {value!r} is not an integer") from None
        if weight < 0:
            raise ConfigError(f"--mix: weight of {name} is negative")
        weights[name] = weight
    if sum(weights.values()) <= 0:
        raise ConfigError("--mix: at least one weight must be positive")
    return tuple((kind, weights.get(kind, 0)) for kind in KINDS)


def parse_depths(text: str) -> tuple[int, ...]:
    try:
        depths = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise ConfigError(f"--depths: {text!r} is not a list of integers") from None
    if not depths or any(d < 0 for d in depths):
        raise ConfigError("--depths: give one or more non-negative depths")
    return depths


@dataclass(frozen=True, slots=True)
class BenchConfig:
    mode: Mode = "load"
    # target
    url: str | None = None
    admin_token: str | None = None
    redis_url: str | None = None
    redis_cluster: bool = False
    """``redis_url`` names a node of a Redis Cluster: Redis figures sum over its nodes."""
    server_pid: int | None = None
    workers: int = 1
    appendfsync: str = "everysec"
    # population
    professionals: int = 20
    org_size: int = 10
    patients: int = 2
    # workload
    mix: tuple[tuple[Kind, int], ...] = (
        ("direct", 100),
        ("org", 0),
        ("dossier", 0),
        ("attachment", 0),
    )
    payload_size: int = 1024
    attachment_size: int = 1 << 20
    """Bytes of the one blob an ``attachment`` message carries (uploaded before it is sent)."""
    concurrency: int = 32
    rate: float | None = None
    max_inflight: int = 2000
    duration: float | None = None
    messages: int | None = None
    warmup: float = 2.0
    drain_timeout: float = 10.0
    client_procs: int = 1
    baseline: bool = False
    half_peak: bool = False
    receivers: ReceiverKind = "sdk"
    """``sdk``: decrypt and verify each message as ``liaison watch`` does; ``ack-only``: read
    the frames and ack, no client crypto (the send time then read from the message id)."""
    envelopes: int = 40_000
    """``--mode send``: envelopes built and signed before the timed windows."""
    # output
    json_out: Path | None = None
    histogram_png: Path | None = None
    progress: bool | None = None
    """None: a progress line when stderr is a terminal."""
    # modes
    sockets: int = 10_000
    hold: float = 5.0
    depths: tuple[int, ...] = (100, 100_000)
    batch: int = 500
    seed: int | None = None

    def __post_init__(self) -> None:
        checks = [
            (self.workers >= 1, "--workers must be at least 1"),
            (self.professionals >= 2, "--professionals must be at least 2 (sender and recipient)"),
            (1 <= self.org_size <= self.professionals, "--org-size must be 1..--professionals"),
            (self.patients >= 1, "--patients must be at least 1"),
            (self.payload_size >= 64, "--payload-size must be at least 64 bytes"),
            (
                1 <= self.attachment_size <= ATTACHMENT_SIZE_MAX,
                f"--attachment-size must be 1..{ATTACHMENT_SIZE_MAX} bytes",
            ),
            (self.concurrency >= 1, "--concurrency must be at least 1"),
            (self.rate is None or self.rate > 0, "--rate must be positive"),
            (self.max_inflight >= 1, "--max-inflight must be at least 1"),
            (self.duration is None or self.duration > 0, "--duration must be positive"),
            (self.messages is None or self.messages >= 1, "--messages must be at least 1"),
            (self.warmup >= 0, "--warmup must not be negative"),
            (self.drain_timeout >= 0, "--drain-timeout must not be negative"),
            (self.client_procs >= 1, "--client-procs must be at least 1"),
            (self.sockets >= 1, "--sockets must be at least 1"),
            (self.batch >= 1, "--batch must be at least 1"),
            (self.envelopes >= 1, "--envelopes must be at least 1"),
            (
                self.mode != "send"
                or self.weights().get("dossier", 0) + self.weights().get("attachment", 0) == 0,
                "--mode send replays direct and org messages only (no dossier or attachment)",
            ),
            (
                not (self.baseline and self.attachments),
                "--baseline has no blob store: leave attachment out of --mix",
            ),
            (self.url is None or self.admin_token is not None, "--server needs --admin-token"),
            (
                not self.redis_cluster
                or (self.redis_url is not None and self.mode != "queue-depth"),
                "--redis-cluster needs --redis-url, in load or sockets mode",
            ),
            (
                self.appendfsync in ("always", "everysec", "no"),
                "--appendfsync is always, everysec or no",
            ),
        ]
        for ok, problem in checks:
            if not ok:
                raise ConfigError(problem)

    @property
    def window(self) -> float:
        """The measured window in seconds (an upper bound when ``messages`` is set)."""
        if self.duration is not None:
            return self.duration
        if self.mode == "soak":
            return SOAK_DURATION
        return MESSAGES_ONLY_CAP if self.messages is not None else DEFAULT_DURATION

    @property
    def soak_rate(self) -> float:
        return self.rate if self.rate is not None else SOAK_RATE

    def weights(self) -> dict[Kind, int]:
        return dict(self.mix)

    @property
    def attachments(self) -> bool:
        """Whether some messages carry a blob (``attachment`` weighs in ``--mix``)."""
        return self.weights().get("attachment", 0) > 0

    def as_dict(self) -> dict[str, Any]:
        document = asdict(self)
        document.pop("admin_token")  # a secret never goes into a report
        document["mix"] = dict(self.mix)
        document["depths"] = list(self.depths)
        document["window_s"] = self.window
        for key in ("json_out", "histogram_png"):
            if document[key] is not None:
                document[key] = str(document[key])
        return document
