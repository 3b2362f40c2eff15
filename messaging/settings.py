"""Server settings, read from ``LIAISON_*`` environment variables once, at the edge (the CLI)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, IPvAnyNetwork, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

REDIS_URL_SCHEMES = ("redis", "rediss", "unix")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LIAISON_", extra="forbid", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    redis_url: str | None = None
    """Unset: ``serve`` starts a private redis-server with AOF in ``data_dir``, on 127.0.0.1,
    with a generated password. Set: ``rediss://`` for TLS, ``redis://user:password@…`` for an
    ACL user (``docs/security.md``)."""
    data_dir: Path = Path(".liaison")
    admin_token: SecretStr | None = None
    """Unset: generated on first start into ``data_dir/admin-token`` (0600); never printed."""
    server_sign_seed: SecretStr | None = None
    """b64u Ed25519 seed; unset: generated into ``data_dir/server-keys.json`` (mode 0600)."""
    dossier_box_secret: SecretStr | None = None
    """b64u X25519 secret key of the dossier store; unset: generated like the sign key."""

    redis_mode: Literal["standalone", "cluster"] = "standalone"
    """``cluster``: ``redis_url`` names any node of a Redis Cluster; the rest is discovered."""
    redis_pubsub: Literal["auto", "sharded", "broadcast"] = "auto"
    """How wake-ups travel on a cluster: ``sharded`` (SSUBSCRIBE/SPUBLISH, Redis 7), or
    ``broadcast`` (PUBLISH, relayed to every node; Redis 6.2). ``auto`` asks the server."""
    redis_start_timeout_seconds: float = Field(default=10.0, gt=0)
    """How long ``serve`` waits for Redis to answer before giving up with one clear line."""
    redis_max_connections: int = Field(default=64, ge=4)
    """Per process (per node on a cluster); a burst beyond it waits for a connection."""
    redis_connect_timeout_seconds: float = Field(default=0.5, gt=0)
    redis_command_timeout_seconds: float = Field(default=0.5, gt=0)
    """A reply later than this counts as Redis unreachable (503): a LAN Redis answers in µs."""
    redis_pool_timeout_seconds: float = Field(default=1.0, gt=0)
    """How long a command waits for a free connection before the request fails with 503."""
    redis_reconnect_seconds: float = Field(default=1.0, gt=0)
    """Pause between reconnection attempts of the wake-up subscription; also the
    ``Retry-After`` of a 503 while Redis is unreachable (rounded up to whole seconds)."""
    redis_wait_replicas: int = Field(default=0, ge=0)
    """A 202 waits until this many replicas of every node written hold the message (WAIT);
    0: answer once the primary has it."""
    redis_wait_timeout_seconds: float = Field(default=0.2, gt=0)
    """How long a 202 waits for the replicas before the send fails with 503."""
    readyz_timeout_seconds: float = Field(default=0.5, gt=0)
    """``/readyz`` answers 503 when Redis does not answer within this."""
    header_timeout_seconds: float = Field(default=30.0, gt=0)
    """How long a connection may take to send a request's headers, counted from its opening or
    from its previous response; an idle kept-alive connection closes then too (above the
    15 s clients keep an idle connection, so that they never reuse one being closed)."""
    body_timeout_seconds: float = Field(default=60.0, gt=0)
    """How long a request's body may take to arrive (408 ``request_timeout``, and the
    connection closes): a 1 MiB envelope then needs 17 KiB/s."""
    max_envelope_bytes: int = Field(default=1_048_576, ge=1024)
    max_body_bytes: int = Field(default=65_536, ge=1024)
    """Largest body of every other call (413 ``body_too_large`` above)."""
    json_max_depth: int = Field(default=32, ge=4, le=256)
    """Nesting of arrays and objects a body or frame may have (400 ``invalid_json`` beyond)."""
    json_max_values: int = Field(default=10_000, ge=100)
    """Values (array elements, members, the root) a body or frame may hold; an envelope to
    2,000 devices holds about 2,150 (400 ``invalid_json`` beyond)."""
    retention_days: float = Field(default=30.0, gt=0)
    """How long an unacknowledged event stays queued (and a shared payload stored)."""
    idempotency_window_seconds: float = Field(default=86_400.0, gt=0)
    """A retry of a send within this window (and at most twice it) gets the first answer and
    queues nothing; after it, the same id is a new message (``docs/protocol.md``)."""
    queue_quota: int = Field(default=10_000, ge=1)
    """Events a device's queue holds at most (429 ``queue_full`` beyond)."""
    sender_share: float = Field(default=0.25, gt=0, le=1)
    """The part of a device's quota one sender's messages may hold (429
    ``sender_share_exceeded`` beyond): a flood from one sender leaves room for the others."""

    # Rate limits (docs/security.md): each budget allows ``per_minute`` calls on average and
    # ``burst`` at once from a rested subject; 0 per minute turns the budget off. Address
    # budgets count per source address (an IPv6 address per /64), device budgets per device.
    limit_challenge_per_minute: int = Field(default=600, ge=0)
    """Address: ``POST /v1/auth/challenge``. A hospital behind one NAT address with 2,000
    workstations renewing hourly tokens asks about 35 a minute; a morning login wave fits in
    the burst."""
    limit_challenge_burst: int = Field(default=200, ge=1)
    limit_token_per_minute: int = Field(default=600, ge=0)
    """Address: ``POST /v1/auth/token`` (one per challenge)."""
    limit_token_burst: int = Field(default=200, ge=1)
    limit_enroll_per_minute: int = Field(default=60, ge=0)
    """Address: ``POST /v1/devices``. Guessing an 80-bit code is hopeless anyway; this bounds
    the work a guesser causes. An IT team enrolling a fleet from one address fits."""
    limit_enroll_burst: int = Field(default=30, ge=1)
    limit_send_per_minute: int = Field(default=12_000, ge=0)
    """Device: ``POST /v1/messages``. A hospital gateway application sends thousands a
    minute from one device; a phone a few a day."""
    limit_send_burst: int = Field(default=2_000, ge=1)
    limit_fetch_per_minute: int = Field(default=1_200, ge=0)
    """Device: fetches, acknowledgements and stream connections."""
    limit_fetch_burst: int = Field(default=200, ge=1)
    limit_directory_per_minute: int = Field(default=1_200, ge=0)
    """Device: directory look-ups and searches (the SDK caches entries)."""
    limit_directory_burst: int = Field(default=300, ge=1)
    limit_calls_per_minute: int = Field(default=600, ge=0)
    """Device: every other call (devices, dossiers)."""
    limit_calls_burst: int = Field(default=120, ge=1)
    max_outstanding_challenges: int = Field(default=16, ge=1)
    """Challenges a device may have unanswered; a newer one pushes the oldest out."""
    trusted_proxies: Annotated[tuple[IPvAnyNetwork, ...], NoDecode] = ()
    """Addresses (or networks) of the reverse proxies whose ``X-Forwarded-For`` is believed,
    comma-separated; a call from anyone else counts against its peer address."""
    token_ttl_seconds: int = Field(default=3600, ge=10)
    challenge_ttl_seconds: int = Field(default=60, ge=5)
    enrollment_code_ttl_seconds: int = Field(default=7 * 24 * 3600, ge=60)
    # ``dossier_link.consent.Regime``, spelt again because the messaging core does not import
    # the dossier package; mypy checks the two agree where the server hands it over.
    dossier_regime: Literal["express", "opt_out"] = "express"
    """CR-5: ``express`` consent (L1111-14, 2020) by default; ``opt_out`` creation as a setting."""
    emergency_access_hours: float = Field(default=24.0, gt=0)
    hidden_from_holder_days: float = Field(default=30.0, gt=0)
    dossier_retention_seconds: float = Field(default=10 * 365.25 * 86_400, gt=0)
    """CR-6: how long a closed dossier is kept before it is purged (10 years)."""
    dossier_deletion_delay_seconds: float = Field(default=90 * 86_400, gt=0)
    """CR-6: an explicit deletion request is honoured within this delay (3 months)."""
    purge_interval_seconds: float = Field(default=60.0, gt=0)
    blob_dir: Path | None = None
    """Where blob ciphertexts are kept; unset: ``data_dir/blobs``. Several processes share
    blobs only when they share this directory (docs/scaling.md)."""
    blob_max_bytes: int = Field(default=4 * 1024**3, ge=1)
    """Largest ciphertext one blob may declare (413 ``blob_too_large`` above)."""
    blob_quota_bytes: int = Field(default=20 * 1024**3, ge=0)
    """Blob storage one principal may hold at once, unfinished uploads included (429
    ``storage_quota_exceeded`` above)."""
    blob_orphan_hours: float = Field(default=24.0, gt=0)
    """An upload no accepted message names is deleted this long after it was opened."""
    blob_upload_lease_seconds: float = Field(default=60.0, gt=0)
    """How long a request writing an upload holds it; a writer gone (a server crash) frees it
    after this."""
    embedded_appendfsync: Literal["always", "everysec", "no"] = "everysec"
    log_format: Literal["text", "json"] = "text"
    """``json``: one JSON object per line, for a log collector."""
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    @field_validator("log_format", "log_level", mode="before")
    @classmethod
    def _lower_case(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        # Checked here, so that a typo is one clear line at start-up rather than a traceback
        # from the first connection.
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in REDIS_URL_SCHEMES or not (parts.hostname or parts.path):
            raise ValueError(
                "expected a URL redis://[:password@]host[:port][/db], rediss://… or unix://path"
            )
        try:
            parts.port  # noqa: B018 - parsing it is the check
        except ValueError:
            raise ValueError("the port of the Redis URL is not a number from 0 to 65535") from None
        return value

    @model_validator(mode="after")
    def _wait_fits_in_a_command(self) -> Settings:
        # WAIT's reply is read like any other: a longer wait would be cut by the command
        # timeout and reported as an unreachable Redis instead of missing replicas.
        if self.redis_wait_replicas and (
            self.redis_wait_timeout_seconds >= self.redis_command_timeout_seconds
        ):
            raise ValueError(
                "LIAISON_REDIS_WAIT_TIMEOUT_SECONDS must be below "
                "LIAISON_REDIS_COMMAND_TIMEOUT_SECONDS"
            )
        return self

    @property
    def blob_root(self) -> Path:
        return self.blob_dir if self.blob_dir is not None else self.data_dir / "blobs"

    @property
    def retention_ms(self) -> int:
        return int(self.retention_days * 86_400_000)

    @property
    def idempotency_window_ms(self) -> int:
        return max(1, int(self.idempotency_window_seconds * 1000))
