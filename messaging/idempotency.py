"""What the server remembers of a message it accepted: a small record per (sender, message id)
for the idempotency window, and the shared payload until the last device acks it.

A record is a field of one hash per sender and *generation* (``idempotency_window_ms`` long):
the message id (16 bytes) -> the envelope's digest (16 bytes), pending or answered, and the
acceptance time. A generation's hash expires two windows after the generation began, so a
record lives between one and two windows; a claim looks in the generations before and after
its own too, so servers whose clocks differ by less than a window find each other's records.
One hash per sender and window instead of one key per message is what keeps a record at
tens of bytes instead of hundreds (measured in ``docs/performance.md``).

A message for several devices keeps its ciphertext once, in a payload hash that also names the
devices yet to ack it; each ack takes its device out (``release.lua``), the last one deletes it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from messaging import redis_keys
from messaging.errors import IdConflict
from messaging.models import DossierOutcome
from messaging.redis_link import RedisLink
from messaging.redis_text import text
from messaging.scripts import Call, Claim, Scripts
from messaging.timeutil import now_ms

DIGEST_BYTES = 16


@dataclass(frozen=True, slots=True)
class Check:
    """A call whose reply decides whether the request may go on (a rate limit)."""

    call: Call
    judge: Callable[[Any], None]
    """Raises when the reply refuses the request."""


@dataclass(frozen=True, slots=True)
class Claimed:
    status: Claim
    """NEW, or RETRY: the same envelope was claimed before (the first attempt's answer holds)."""
    accepted_ms: int
    """When the first attempt was accepted: every answer for this message says so."""
    answered: bool
    """The first attempt finished: nothing to queue again."""
    dossier: DossierOutcome | None


class SentRecords:
    def __init__(
        self,
        link: RedisLink,
        scripts: Scripts,
        *,
        window_ms: int,
        payload_retention_ms: int,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self._link = link
        self._scripts = scripts
        self._window_ms = window_ms
        self._payload_retention_ms = payload_retention_ms
        self._clock = clock

    def _generations(self, sender: str, now: int) -> list[str]:
        generation = now // self._window_ms
        return [redis_keys.sent(sender, g) for g in (generation - 1, generation, generation + 1)]

    async def claim(
        self,
        sender: str,
        message_id: str,
        digest: bytes,
        payload: str | None,
        holders: Sequence[str],
        limit: Check | None = None,
    ) -> Claimed:
        """Record the message as pending (with its shared ``payload``, read by ``holders``),
        or find the record a first attempt left. Raises ``IdConflict`` for another envelope.

        ``limit`` rides in the claim's round trip: its call goes first, and when its judge
        refuses, a claim this call made is dropped again before the refusal is raised."""
        now = self._clock()
        keys = self._generations(sender, now)
        # The current generation's hash outlives its last record by one window.
        ttl = (now // self._window_ms + 2) * self._window_ms - now
        args = [
            uuid.UUID(message_id).bytes,
            digest,
            now,
            ttl,
            self._payload_retention_ms,
            payload or "",
            *(holders if payload is not None else ()),
        ]
        keys.append(redis_keys.payload(sender, message_id))
        claim = Call.of(self._scripts.claim, keys, args)
        # Durable: the shared payload must be on the replicas before any device reads it.
        if limit is None:
            (reply,) = await self._link.run([claim], durable=True)
        else:
            verdict, reply = await self._link.run([limit.call, claim], durable=True)
            try:
                limit.judge(verdict)
            except Exception:
                if int(reply[0]) == Claim.NEW:
                    await self.forget(sender, message_id)
                raise
        status = Claim(int(reply[0]))
        if status is Claim.CONFLICT:
            raise IdConflict(f"message id {message_id} was already used for another envelope")
        answered = status is Claim.RETRY and bool(int(reply[2]))
        outcome = reply[3] if answered and len(reply) > 3 else None
        return Claimed(
            status,
            int(reply[1]),
            answered,
            None if outcome is None else DossierOutcome.model_validate_json(text(outcome)),
        )

    def answer(self, sender: str, message_id: str, dossier: DossierOutcome | None) -> Call:
        """The call marking the message answered (``answer.lua``)."""
        return Call.of(
            self._scripts.answer,
            self._generations(sender, self._clock()),
            [uuid.UUID(message_id).bytes, "" if dossier is None else dossier.model_dump_json()],
        )

    async def forget(self, sender: str, message_id: str) -> None:
        """Drop a refused message's record and payload, so that a later send is judged afresh."""
        field = uuid.UUID(message_id).bytes
        await self._link.run(
            [
                *(
                    Call.command("HDEL", key, field, field + b"d")
                    for key in self._generations(sender, self._clock())
                ),
                Call.command("DEL", redis_keys.payload(sender, message_id)),
            ]
        )

    def release(self, sender: str, message_id: str, devices: Sequence[str]) -> Call:
        """The call telling the shared payload that ``devices`` acked it (``release.lua``)."""
        return Call.of(self._scripts.release, [redis_keys.payload(sender, message_id)], devices)
