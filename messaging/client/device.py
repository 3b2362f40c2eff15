"""``LiaisonClient``: one enrolled device, sending, receiving (polling or streaming) and
reaching its dossiers through ``LiaisonClient.dossiers``."""

from __future__ import annotations

import asyncio
import logging
import mimetypes
import secrets
import uuid
from collections.abc import AsyncGenerator, Callable, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any, Final

import aiohttp

from messaging import canonical, crypto, models
from messaging.client.blobs import BLOB_THRESHOLD, BlobTransfers, Progress
from messaging.client.content import (
    Attachment,
    BlobAttachment,
    MessageContent,
    build_envelope,
)
from messaging.client.dossiers import DossierClient
from messaging.client.errors import (
    ApiError,
    SdkError,
    ServerUnreachable,
    StaleDevicesError,
    StreamDisplaced,
)
from messaging.client.events import BacklogDrained, InvalidEvent, SendResult, StreamItem
from messaging.client.http import TRANSIENT_STATUSES, parse, url_path
from messaging.client.receiving import Duplicate, Receiver
from messaging.identifiers import InvalidIns, validate_ins
from messaging.timeutil import now_ms, rfc3339

log = logging.getLogger(__name__)

SEND_ATTEMPTS: Final = 4
"""Posts of one envelope, the first included, when the answer is lost or passing (5xx)."""
SEND_RETRY_WAIT: Final = 0.5
"""Seconds before the n-th repeat: n times this, unless the server says ``Retry-After``."""
SEND_LONGEST_WAIT: Final = 30.0
"""A longer ``Retry-After`` is the caller's to decide on (the ``ApiError`` carries it)."""
_PASSING: Final = frozenset({502, 503, 504})


class LiaisonClient(Receiver):
    """One enrolled device talking to one server. Not shared between event loops; at most one
    ``stream()`` at a time (the server keeps one socket per device anyway)."""

    @cached_property
    def dossiers(self) -> DossierClient:
        """The dossier (DMP) calls, made as this device."""
        return DossierClient(self)

    @cached_property
    def blobs(self) -> BlobTransfers:
        """Blob uploads and downloads (large attachments), made as this device."""
        return BlobTransfers(self)

    # devices

    async def list_devices(self) -> list[models.OwnDevice]:
        """This principal's active devices, this one included."""
        return parse(models.OwnDevicesResponse, await self._authed("GET", "/v1/devices")).devices

    async def link_code(self) -> models.EnrollmentCodeResponse:
        """A one-time code to enroll another device of this principal."""
        answer = await self._authed("POST", "/v1/devices/enrollment-codes")
        return parse(models.EnrollmentCodeResponse, answer)

    async def revoke_device(self, device_id: str) -> None:
        """Revoke one of this principal's devices: its tokens and queue go at once, and what it
        signed before stays verifiable. Revoking this very device ends this client's use."""
        await self._authed("DELETE", url_path("v1", "devices", device_id))

    # sending

    async def send(
        self,
        recipients: Sequence[str],
        subject: str,
        body: str,
        attachments: Sequence[Attachment | tuple[str, str, bytes]] = (),
        *,
        in_reply_to: str | None = None,
        dossier: models.DossierHeader | None = None,
        copy_to_own_devices: bool = True,
        message_id: str | None = None,
        files: Sequence[Path] = (),
        progress: Callable[[Path], Progress | None] | None = None,
        blobs: Sequence[BlobAttachment] = (),
    ) -> SendResult:
        """Encrypt and send one message; retried once, same id, if the devices were stale.

        ``dossier`` also files it in that patient's dossier: its INS is checked here first (a
        wrong key is ``SdkError("invalid_ins")``, nothing sent), and ``SendResult.dossier`` says
        whether the server attached it (``status``) or refused the link (``code``); the message
        is delivered either way.

        Each of ``files`` rides in the envelope up to ``BLOB_THRESHOLD`` bytes and is uploaded
        as a blob above it (``progress(path)`` may give a callback for that upload); ``blobs``
        are attachments already uploaded (``blobs.upload``), named after those."""
        if dossier is not None:
            try:
                validate_ins(dossier.ins)
            except InvalidIns as exc:
                raise SdkError("invalid_ins", f"{dossier.ins}: {exc}") from exc
        targets = list(dict.fromkeys(recipients))
        inline = [Attachment(*a) for a in attachments]
        uploaded: list[BlobAttachment] = []
        for path in files:
            media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            if (await asyncio.to_thread(path.stat)).st_size <= BLOB_THRESHOLD:
                data = await asyncio.to_thread(path.read_bytes)
                inline.append(Attachment(path.name, media_type, data))
            else:
                report = None if progress is None else progress(path)
                uploaded.append(await self.blobs.upload(path, media_type, report))
        named = (*uploaded, *blobs)
        content = MessageContent(subject, body, tuple(inline), in_reply_to, blobs=named)
        message_id = message_id or str(uuid.uuid4())
        created_at = rfc3339(now_ms())
        dossier_key = None
        if dossier is not None:
            dossier_key = crypto.b64u_decode((await self.server_info()).dossier_key)

        async def attempt(refresh: bool) -> SendResult:
            envelope = build_envelope(
                message_id=message_id,
                sender=self.identity.principal,
                sender_device=self.identity.device_id,
                sign_key=self.identity.keys.sign,
                recipients=targets,
                created_at=created_at,
                content=content,
                box_keys=await self._box_keys(
                    targets, copy_to_own_devices, refresh=refresh, dossier=dossier is not None
                ),
                dossier=dossier,
                dossier_key=dossier_key,
            )
            accepted = parse(models.AcceptedResponse, await self._post_envelope(envelope))
            return SendResult(accepted.id, accepted.accepted_at, accepted.dossier)

        try:
            return await attempt(refresh=False)
        except StaleDevicesError as exc:
            log.info("stale devices (missing %s, extra %s): refreshing", exc.missing, exc.extra)
            # Nothing was accepted: a new envelope (new content key) under the same id is fine.
            return await attempt(refresh=True)

    async def _post_envelope(self, envelope: dict[str, Any]) -> Any:
        """POST one envelope, again when no answer or a passing refusal came back.

        Each try posts the very same bytes, so a repeat of a message the server accepted but
        whose answer was lost is answered like the first (its idempotency record) and never
        queued twice; a new envelope under the same id would be ``id_conflict`` instead."""
        attempt = 1
        while True:
            try:
                return await self._authed("POST", "/v1/messages", body=envelope)
            except ServerUnreachable:
                if attempt == SEND_ATTEMPTS:
                    raise
                wait = SEND_RETRY_WAIT * attempt
            except ApiError as exc:
                # 429 (a full queue, a sender's share) is the recipient's state and clears over
                # minutes: the caller decides. A busy or failing-over store clears in seconds.
                wait = exc.retry_after or SEND_RETRY_WAIT * attempt
                if (
                    attempt == SEND_ATTEMPTS
                    or exc.status not in _PASSING
                    or wait > SEND_LONGEST_WAIT
                ):
                    raise
            log.info("send %s: the same envelope again in %.1f s", envelope["id"], wait)
            await asyncio.sleep(wait)
            attempt += 1

    async def _box_keys(
        self, recipients: Sequence[str], copy_to_own_devices: bool, *, refresh: bool, dossier: bool
    ) -> dict[str, bytes]:
        me = self.identity.principal
        copies = copy_to_own_devices and me not in recipients
        wanted = [*recipients, me] if copies else list(recipients)
        entries = await asyncio.gather(*(self._cached_entry(p, refresh) for p in wanted))
        box_keys: dict[str, bytes] = {}
        for cached in entries[: len(recipients)]:
            for device in cached.entry.devices:
                box_keys[device.id] = crypto.b64u_decode(device.box_key)
        if not box_keys and not dossier:
            raise SdkError("no_recipient_devices", "no recipient has an active device")
        if copies:
            for device in entries[-1].entry.devices:
                if device.id != self.identity.device_id:
                    box_keys[device.id] = crypto.b64u_decode(device.box_key)
        return box_keys

    # streaming

    async def stream(self, *, max_backoff: float = 30.0) -> AsyncGenerator[StreamItem, None]:
        """Events over the WebSocket, forever: the backlog, a ``BacklogDrained`` marker, then
        live events. Reconnects with capped exponential backoff (unacked events come again);
        stops with ``StreamDisplaced`` when a newer socket of this device takes over.
        Nothing is acked for you: ``ack`` each event once handled (over this socket), or it
        comes again. ``aclose()`` the generator to stop early: the acks queued are sent, then
        the socket closes."""
        delay = 0.5
        auth_failures = 0
        while True:
            close_code: int | None = None
            token = ""
            try:
                token = await self._bearer()
                async with self._http().ws_connect(
                    self.base_url + "/v1/stream",
                    headers={"Authorization": f"Bearer {token}"},
                    heartbeat=30.0,
                ) as ws:
                    self._ws = ws
                    try:
                        async for frame in ws:
                            if frame.type != aiohttp.WSMsgType.TEXT:
                                continue
                            delay, auth_failures = 0.5, 0
                            item = await self._stream_item(frame.data)
                            if item is not None:
                                yield item
                    finally:
                        # Closing early (``aclose``) must not drop acks queued for this socket.
                        if self._ack_flush is not None:
                            await self._ack_flush
                        self._ws = None
                    close_code = ws.close_code
            except aiohttp.WSServerHandshakeError as exc:
                if exc.status == 401:
                    close_code = models.CLOSE_AUTH_FAILED
                elif exc.status not in TRANSIENT_STATUSES:
                    raise ApiError(exc.status, f"http_{exc.status}", exc.message, {}) from exc
            except ApiError as exc:
                if exc.status not in TRANSIENT_STATUSES:
                    raise
            except (ServerUnreachable, aiohttp.ClientError, TimeoutError, OSError) as exc:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    # The caller stopped the stream (Ctrl-C in ``liaison watch``) and a library
                    # reported it as a failed connection on the way out: stop, never reconnect.
                    raise asyncio.CancelledError from exc
                log.warning("stream: %s", exc or type(exc).__name__)

            if close_code == models.CLOSE_DISPLACED:
                raise StreamDisplaced(
                    "displaced", "another connection of this device took over the stream"
                )
            if close_code == models.CLOSE_AUTH_FAILED:
                auth_failures += 1
                if auth_failures > 1:
                    raise SdkError("stream_auth_failed", "the stream refused a fresh token")
                try:
                    # A revoked device fails here, with the server's own reason.
                    await self._relogin(token)
                    continue
                except ServerUnreachable:
                    pass
                except ApiError as exc:
                    if exc.status not in TRANSIENT_STATUSES:
                        raise
            log.info("stream closed (code %s); reconnecting in %.1f s", close_code, delay)
            await asyncio.sleep(delay * (0.5 + secrets.randbelow(500) / 1000))
            delay = min(delay * 2, max_backoff)

    async def _stream_item(self, data: Any) -> StreamItem | None:
        try:
            raw = canonical.loads(data) if isinstance(data, str) else None
        except canonical.EncodingError:
            raw = None
        if not isinstance(raw, dict):
            return InvalidEvent(None, None, "malformed_event", "a frame is not a JSON object", {})
        kind = raw.get("type")
        if kind == "queue_empty":
            return BacklogDrained()
        if kind == "error":
            log.warning("stream error from server: %s: %s", raw.get("code"), raw.get("detail"))
            return None
        event = await self._verify_event(raw)
        if isinstance(event, Duplicate):
            await self.ack([event.cursor])
            return None
        return event
