"""The load: senders that encrypt and sign with the SDK (receivers, in ``receivers``, decrypt,
verify and ack).

Latency is end to end: the sender puts its timestamp (``time.time_ns()``) inside the encrypted
body, and the receiver subtracts it from the time the message came out of the SDK's stream,
decrypted and verified. In open loop the timestamp is the *intended* send time, so that a
server falling behind shows as latency instead of silently slowing the generator down
(coordinated omission).

A send or a delivery counts when its timestamp falls in the measured window; warm-up traffic
before it only fills caches and connection pools.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import aiohttp

from messaging.bench.config import Kind
from messaging.client import (
    ApiError,
    BlobAttachment,
    DeviceIdentity,
    LiaisonClient,
    MessageContent,
    SdkError,
    build_envelope,
)
from messaging.models import DossierHeader
from messaging.timeutil import now_ms, rfc3339

SUBJECT: Final = "bench"
DOSSIER_TYPE: Final = "lettre_de_sortie"
_BODY_HEAD: Final = '{"t":'


@dataclass(frozen=True, slots=True)
class Window:
    """The measured interval, in wall-clock nanoseconds (comparable across processes)."""

    start_ns: int
    end_ns: int

    def __contains__(self, t_ns: int) -> bool:
        return self.start_ns <= t_ns < self.end_ns

    @classmethod
    def after(cls, warmup: float, duration: float, lead: float = 0.05) -> Window:
        start = time.time_ns() + int((lead + warmup) * 1e9)
        return cls(start, start + int(duration * 1e9))


# --- what to send -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Target:
    kind: Kind
    recipients: tuple[str, ...]
    expected: int
    """Device deliveries this message makes (an organisation: one per member)."""
    dossier: DossierHeader | None = None


@dataclass(frozen=True, slots=True)
class PlanData:
    """Who exists, as plain data: it crosses to sender processes."""

    professionals: tuple[str, ...]
    org: str
    org_members: tuple[str, ...]
    patients: tuple[str, ...]
    """INS of the patients whose dossiers the professionals may write to."""
    weights: tuple[tuple[Kind, int], ...]


class Planner:
    """Draws (sender, target) pairs by the mix weights; senders are this process's share."""

    def __init__(self, plan: PlanData, senders: Sequence[str], rng: random.Random) -> None:
        self._plan = plan
        self._senders = list(senders)
        self._rng = rng
        self._kinds = [kind for kind, weight in plan.weights if weight > 0]
        self._weights = [weight for _, weight in plan.weights if weight > 0]

    def pick(self) -> tuple[int, Target]:
        rng = self._rng
        index = rng.randrange(len(self._senders))
        kind = rng.choices(self._kinds, self._weights)[0]
        if kind == "org":
            plan = self._plan
            return index, Target("org", (plan.org,), len(plan.org_members))
        other = self._other(self._senders[index])
        if kind == "dossier":
            header = DossierHeader(
                ins=rng.choice(self._plan.patients), type=DOSSIER_TYPE, title="Lettre bench"
            )
            return index, Target("dossier", (other,), 1, header)
        if kind == "attachment":
            return index, Target("attachment", (other,), 1)
        return index, Target("direct", (other,), 1)

    def _other(self, sender: str) -> str:
        while True:
            candidate = self._rng.choice(self._plan.professionals)
            if candidate != sender:
                return candidate


def make_body(t_ns: int, size: int) -> str:
    """A body of exactly ``size`` characters carrying the send timestamp."""
    head = f'{_BODY_HEAD}{t_ns},"p":"'
    return head + "x" * max(size - len(head) - 2, 0) + '"}'


_TIMESTAMP_BITS = 62
"""A message id's low bits, below the variant, that carry its send time in nanoseconds."""


def timed_message_id(t_ns: int) -> str:
    """A UUID (version 8: its layout left to the application, RFC 9562) whose low 62 bits are
    the send's timestamp, the rest random. Receivers that do not decrypt (``ack-only``) read it
    from the envelope's id, so they place each message in the window by the same instant as its
    sender did and measure its latency from it, as the ``sdk`` receivers do from the body."""
    value = (uuid.uuid4().int >> _TIMESTAMP_BITS << _TIMESTAMP_BITS) | t_ns
    value = value & ~(0xF << 76) | 0x8 << 76  # version 8, in the random part
    value = value & ~(0x3 << 62) | 0x2 << 62  # the RFC's variant, just above the timestamp
    return str(uuid.UUID(int=value))


def id_timestamp(message_id: str) -> int | None:
    """The send timestamp in an id made by ``timed_message_id``; None for any other id."""
    try:
        value = uuid.UUID(message_id).int
    except ValueError:
        return None
    if value >> 76 & 0xF != 0x8:
        return None
    return value & ((1 << _TIMESTAMP_BITS) - 1)


def body_timestamp(body: str) -> int | None:
    if not body.startswith(_BODY_HEAD):
        return None
    try:
        return int(body[len(_BODY_HEAD) : body.index(",", len(_BODY_HEAD))])
    except ValueError:
        return None


# --- figures ----------------------------------------------------------------------------------


@dataclass(slots=True)
class SendStats:
    started: int = 0
    """Every send begun, warm-up included: for the progress line."""
    failed: int = 0
    attempted: int = 0
    accepted: int = 0
    expected_deliveries: int = 0
    skipped: int = 0
    """Open loop: sends not made because ``max_inflight`` were already waiting."""
    errors: Counter[str] = field(default_factory=Counter)
    warmup_errors: Counter[str] = field(default_factory=Counter)
    kinds: Counter[str] = field(default_factory=Counter)
    dossier: Counter[str] = field(default_factory=Counter)
    accept_ns: list[int] = field(default_factory=list)
    client_cpu_s: float = 0.0
    """Filled by a sender process with its own CPU over the window."""
    uploads: int = 0
    upload_bytes: int = 0
    """Plaintext bytes of the blobs uploaded for the window's accepted messages."""
    upload_ns: int = 0
    """Time spent in those uploads, summed over them (they overlap)."""

    def merge(self, other: SendStats) -> None:
        counters = ("started", "failed", "attempted", "accepted", "expected_deliveries")
        for name in (*counters, "uploads", "upload_bytes", "upload_ns"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.skipped += other.skipped
        self.errors.update(other.errors)
        self.warmup_errors.update(other.warmup_errors)
        self.kinds.update(other.kinds)
        self.dossier.update(other.dossier)
        self.accept_ns.extend(other.accept_ns)
        self.client_cpu_s += other.client_cpu_s


@dataclass(slots=True)
class ReceiveStats:
    delivered_total: int = 0
    delivered: int = 0
    latency_ns: list[int] = field(default_factory=list)
    receipts: int = 0
    notifications: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    downloads: int = 0
    """Blobs downloaded and verified for messages sent in the window (``Receivers``)."""
    download_bytes: int = 0
    download_ns: int = 0


# --- sending ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sent:
    dossier: str | None = None
    """The dossier outcome, if any."""
    upload_bytes: int = 0
    upload_ns: int = 0


SendOne = Callable[[int, Target, str, str], Awaitable[Sent]]
"""Send one message (sender index, target, body, message id)."""


def liaison_sender(clients: Sequence[LiaisonClient], attachment: Path | None = None) -> SendOne:
    """Sends through the SDK; an ``attachment`` target first uploads ``attachment`` as a blob
    (the SDK seals it under a fresh key) and names it in the message."""

    async def send(index: int, target: Target, body: str, message_id: str) -> Sent:
        client = clients[index]
        blobs: list[BlobAttachment] = []
        upload_ns = 0
        if target.kind == "attachment":
            assert attachment is not None  # the mix has attachments: the caller made the file
            start = time.perf_counter_ns()
            blobs.append(await client.blobs.upload(attachment, "application/octet-stream"))
            upload_ns = time.perf_counter_ns() - start
        result = await client.send(
            target.recipients,
            SUBJECT,
            body,
            dossier=target.dossier,
            blobs=blobs,
            message_id=message_id,
        )
        size, outcome = sum(blob.blob.size for blob in blobs), result.dossier
        if outcome is None:
            return Sent(None, size, upload_ns)
        code = outcome.status if outcome.code is None else f"{outcome.status}:{outcome.code}"
        return Sent(code, size, upload_ns)

    return send


def signed_envelope(
    sender: DeviceIdentity,
    target: Target,
    body: str,
    message_id: str,
    box_keys: Mapping[str, Mapping[str, bytes]],
    dossier_key: bytes,
) -> dict[str, Any]:
    """An envelope as the SDK builds it (``build_envelope``), for the target's devices."""
    wraps: dict[str, bytes] = {}
    for recipient in target.recipients:
        wraps.update(box_keys[recipient])
    return build_envelope(
        message_id=message_id,
        sender=sender.principal,
        sender_device=sender.device_id,
        sign_key=sender.keys.sign,
        recipients=target.recipients,
        created_at=rfc3339(now_ms()),
        content=MessageContent(SUBJECT, body),
        box_keys=wraps,
        dossier=target.dossier,
        dossier_key=None if target.dossier is None else dossier_key,
    )


def baseline_sender(
    session: aiohttp.ClientSession,
    url: str,
    senders: Sequence[DeviceIdentity],
    box_keys: Mapping[str, Mapping[str, bytes]],
    dossier_key: bytes,
) -> SendOne:
    """The same envelopes as the SDK builds (``build_envelope``), posted to the baseline."""
    endpoint = url.rstrip("/") + "/v1/messages"
    # Sent like a bearer token so that both servers parse the same headers; never checked.
    headers = {"Authorization": "Bearer baseline", "Accept": "application/json"}

    async def send(index: int, target: Target, body: str, message_id: str) -> Sent:
        envelope = signed_envelope(senders[index], target, body, message_id, box_keys, dossier_key)
        try:
            async with session.post(endpoint, json=envelope, headers=headers) as answer:
                await answer.read()
                if answer.status != 202:
                    code = f"http_{answer.status}"
                    raise ApiError(answer.status, code, "baseline refused", {})
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise SdkError("server_unreachable", str(exc) or type(exc).__name__) from exc
        return Sent()

    return send


@dataclass(frozen=True, slots=True)
class Load:
    """How hard to push, for one process."""

    payload_size: int
    attachment_size: int | None
    """Bytes of the blob of an ``attachment`` message; None when the mix has none."""
    concurrency: int
    rate: float | None
    max_inflight: int
    quota: int | None
    """At most this many sends in the window (``--messages`` split over processes)."""
    grace: float
    """How long in-flight sends may take after the window before they are abandoned."""


async def drive(
    load: Load, window: Window, planner: Planner, send: SendOne, stats: SendStats
) -> None:
    """Send until the window ends (or the quota is spent); every loop stops by itself."""

    async def one(t_ns: int) -> None:
        index, target = planner.pick()
        body = make_body(t_ns, load.payload_size)
        measured = t_ns in window
        stats.started += 1
        try:
            sent = await send(index, target, body, timed_message_id(t_ns))
        except SdkError as exc:
            stats.failed += 1
            (stats.errors if measured else stats.warmup_errors)[exc.code] += 1
            return
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            stats.failed += 1
            (stats.errors if measured else stats.warmup_errors)[type(exc).__name__] += 1
            return
        if measured:
            stats.accepted += 1
            stats.accept_ns.append(time.time_ns() - t_ns)
            stats.expected_deliveries += target.expected
            stats.kinds[target.kind] += 1
            if sent.dossier is not None:
                stats.dossier[sent.dossier] += 1
            if sent.upload_bytes:
                stats.uploads += 1
                stats.upload_bytes += sent.upload_bytes
                stats.upload_ns += sent.upload_ns

    def admit(t_ns: int) -> bool:
        """Count a send of the window against the quota; False once it is spent."""
        if t_ns not in window:
            return t_ns < window.end_ns
        if load.quota is not None and stats.attempted >= load.quota:
            return False
        stats.attempted += 1
        return True

    if load.rate is None:

        async def worker() -> None:
            while True:
                t_ns = time.time_ns()
                if not admit(t_ns):
                    return
                await one(t_ns)

        tasks = [asyncio.create_task(worker()) for _ in range(load.concurrency)]
    else:
        tasks = await _open_loop(load, window, one, admit, stats)
    await _finish(tasks, window, load.grace, stats)


async def _open_loop(
    load: Load,
    window: Window,
    one: Callable[[int], Coroutine[Any, Any, None]],
    admit: Callable[[int], bool],
    stats: SendStats,
) -> list[asyncio.Task[None]]:
    assert load.rate is not None
    interval = 1.0 / load.rate
    mono0, wall0 = time.monotonic(), time.time_ns()
    inflight: set[asyncio.Task[None]] = set()
    n = 0
    while True:
        due = mono0 + n * interval
        n += 1
        # sleep(0) when behind schedule: yield so that responses are still read.
        await asyncio.sleep(max(due - time.monotonic(), 0.0))
        t_ns = wall0 + int((due - mono0) * 1e9)
        if len(inflight) >= load.max_inflight:
            if t_ns >= window.end_ns:
                break
            if t_ns in window:
                stats.skipped += 1
            continue
        if not admit(t_ns):
            break
        task = asyncio.create_task(one(t_ns))
        inflight.add(task)
        task.add_done_callback(inflight.discard)
    return list(inflight)


async def _finish(
    tasks: list[asyncio.Task[None]], window: Window, grace: float, stats: SendStats
) -> None:
    """Let in-flight sends end, for at most ``grace`` seconds past the window."""
    if not tasks:
        return
    timeout = max(window.end_ns - time.time_ns(), 0) / 1e9 + grace
    _, pending = await asyncio.wait(tasks, timeout=timeout)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    if pending:
        stats.errors["abandoned_after_window"] += len(pending)
