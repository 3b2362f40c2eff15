"""The WebSocket stream: backlog, ``queue_empty``, live events, acks; one live socket a device.

The handler task is the only reader of the socket (acks arrive there); a pump task writes
events. Both stop when either ends. Waking costs no Redis connection per socket: the process's
single subscription (``messaging.wakeup``) sets the listener's event, the pump re-reads the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable

from aiohttp import WSCloseCode, WSMsgType, web
from pydantic import ValidationError

from messaging.auth import Caller, bearer
from messaging.errors import InvalidRequest, LiaisonError, RateLimited
from messaging.frames import QueueEmpty, StreamAck, StreamAuth, StreamError
from messaging.mailbox import AckedMessage
from messaging.models import CLOSE_AUTH_FAILED, CLOSE_DISPLACED
from messaging.rate_limits import Budget
from messaging.redis_link import UNAVAILABLE
from messaging.server.appkeys import (
    AUTH,
    DELIVERY,
    LIMITS,
    MAILBOX,
    METRICS,
    SETTINGS,
    WAKE_HUB,
)
from messaging.server.problems import validation_problem
from messaging.server.request import json_document
from messaging.timeutil import now_ms
from messaging.wakeup import End, Listener

log = logging.getLogger(__name__)

AUTH_TIMEOUT = 5.0
CLOSE_REPLY_SECONDS = 10.0
"""How long a close waits for the client's reply (aiohttp's default). Dropping the connection
sooner makes the client's own reply fail, and aiohttp's client then reports 1006 instead of the
code it received: with 1 s, a client busy for 1 s (a slow handler, a loaded machine) saw 1006
for 4401 or 4409, and a displaced SDK reconnected."""
SHUTDOWN_CLOSE_SECONDS = 1.0
"""At shutdown a silent client must not hold up the exit: its 1001 gets this long."""
_ENDS = frozenset({WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR})
BATCH = 100


_QUEUE_EMPTY = QueueEmpty(type="queue_empty").model_dump_json()


async def _send_error(ws: web.WebSocketResponse, error: LiaisonError) -> None:
    frame = StreamError(type="error", code=error.code, detail=error.detail)
    await ws.send_str(frame.model_dump_json())


async def _first_frame_auth(ws: web.WebSocketResponse, app: web.Application) -> Caller | None:
    try:
        message = await ws.receive(timeout=AUTH_TIMEOUT)
        if message.type != WSMsgType.TEXT:
            raise ValueError("expected a text frame")
        frame = StreamAuth.model_validate(json_document(message.data, app[SETTINGS]))
        who = await app[AUTH].authenticate(frame.token)
    except (TimeoutError, ValueError, ValidationError, LiaisonError):
        await ws.close(code=CLOSE_AUTH_FAILED, message=b"authentication failed")
        return None
    try:
        await app[LIMITS].check(Budget.FETCH, who.device)
    except RateLimited as limited:
        await _send_error(ws, limited)
        await ws.close(code=WSCloseCode.TRY_AGAIN_LATER, message=b"rate limited")
        return None
    return who


Close = tuple[int, bytes]
"""A close code and its reason."""

_CLOSES: dict[End, Close] = {
    End.DISPLACED: (CLOSE_DISPLACED, b"displaced by a newer connection"),
    End.REVOKED: (CLOSE_AUTH_FAILED, b"device revoked"),
    End.SHUTDOWN: (WSCloseCode.GOING_AWAY, b"server shutdown"),
}
_EXPIRED: Close = (CLOSE_AUTH_FAILED, b"token expired")


async def _closed_on_failure(work: Awaitable[Close | None]) -> Close | None:
    """Run ``work``; a failure becomes a close code, never an HTTP answer (the connection is no
    longer HTTP once upgraded)."""
    try:
        return await work
    except UNAVAILABLE:
        # The client reconnects and gets every unacked event again: nothing is lost.
        return WSCloseCode.TRY_AGAIN_LATER, b"store unavailable"
    except ConnectionResetError:
        # The client went away while we wrote: how sockets end, not a failure to report.
        log.debug("stream client disconnected")
        return None
    except Exception:
        log.exception("stream failed")
        return WSCloseCode.INTERNAL_ERROR, b"internal error"


async def _pump_events(
    ws: web.WebSocketResponse,
    app: web.Application,
    who: Caller,
    listener: Listener,
    delivered: dict[str, AckedMessage | None],
) -> Close | None:
    """Send events as they are queued until the socket closes or must close (then its code)."""
    mailbox = app[MAILBOX]
    metrics = app[METRICS]
    after: str | None = None
    drained = False
    while not ws.closed:
        listener.wake.clear()
        batch = await mailbox.read(who.device, after, BATCH)
        # Before sending: an ack may come back at once.
        delivered.update(batch.messages)
        delivered.update(dict.fromkeys(batch.server_events))
        for event in batch.events:
            await ws.send_str(event)
        after = batch.last
        if batch.messages:
            metrics.messages_delivered.labels("socket").inc(len(batch.messages))
            if drained:  # live: the backlog's age is how long the device was away, not latency
                metrics.pushed(batch.messages, now_ms())
        if batch.scanned == BATCH:
            continue  # more may be queued; a short batch means the queue was read to its end
        if not drained:
            await ws.send_str(_QUEUE_EMPTY)
            drained = True
        end = await listener.next_signal()
        if end is not None:
            return _CLOSES[end]
    return None


async def _on_frame(
    ws: web.WebSocketResponse,
    app: web.Application,
    who: Caller,
    data: str,
    delivered: dict[str, AckedMessage | None],
) -> None:
    try:
        frame = StreamAck.model_validate(json_document(data, app[SETTINGS]))
        mailbox = app[MAILBOX]
        stream_ids = [mailbox.stream_id(who.device, cursor) for cursor in frame.cursors]
        app[METRICS].acknowledged(await app[DELIVERY].acknowledge(who, stream_ids, delivered))
        for stream_id in stream_ids:
            delivered.pop(stream_id, None)
    except ValidationError as error:
        await _send_error(ws, validation_problem(error))
    except LiaisonError as error:
        await _send_error(ws, error)


async def stream(request: web.Request) -> web.WebSocketResponse:
    app = request.app
    ws = web.WebSocketResponse(heartbeat=30.0, max_msg_size=256 * 1024, timeout=CLOSE_REPLY_SECONDS)
    if not ws.can_prepare(request).ok:
        raise InvalidRequest("open a WebSocket here: GET with Upgrade: websocket (RFC 6455)")
    token = bearer(request.headers.get("Authorization"))
    # With a header, a bad token is refused before the upgrade, as a problem document.
    who = await app[AUTH].authenticate(token) if token is not None else None
    if who is not None:
        await app[LIMITS].check(Budget.FETCH, who.device)
    await ws.prepare(request)
    close = await _closed_on_failure(_serve(ws, app, who))
    if close is None:
        return ws
    code, reason = close
    if code != WSCloseCode.GOING_AWAY:
        await ws.close(code=code, message=reason)
        return ws
    # Cut short, aiohttp drops the connection (the client sees 1006 and reconnects, as for 1001).
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(SHUTDOWN_CLOSE_SECONDS):
            await ws.close(code=code, message=reason)
    return ws


async def _serve(
    ws: web.WebSocketResponse, app: web.Application, who: Caller | None
) -> Close | None:
    if who is None:
        who = await _first_frame_auth(ws, app)
        if who is None:
            return None
    hub = app[WAKE_HUB]
    # Counted while open, exactly: up on the way in, down on the way out, whatever ends it.
    with app[METRICS].websockets.track_inprogress():
        async with hub.listen(who.device, secrets.token_hex(8)) as listener:
            await hub.claim(listener)
            # What this socket delivered and is not yet acked: its acks need no lookup.
            delivered: dict[str, AckedMessage | None] = {}
            pump = asyncio.create_task(
                _closed_on_failure(_pump_events(ws, app, who, listener, delivered))
            )
            try:
                return await _read_frames(ws, app, who, delivered, pump)
            finally:
                pump.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await pump


async def _read_frames(
    ws: web.WebSocketResponse,
    app: web.Application,
    who: Caller,
    delivered: dict[str, AckedMessage | None],
    pump: asyncio.Task[Close | None],
) -> Close | None:
    """Handle the client's frames until the client closes, or until the pump ends; then the
    pump's close code is returned for this task to close with. Closed from the pump's task
    while this one reads, aiohttp would drop the connection before the client's close reply,
    and the client would see 1006 instead of the code (4409 must stop a displaced client).
    When the caller's token expires the socket closes with 4401, as an HTTP call would then
    get 401: the client logs in again and reconnects."""
    while True:
        receive = asyncio.ensure_future(ws.receive())
        left = max(0.0, (who.expires_ms - now_ms()) / 1000)
        await asyncio.wait((receive, pump), timeout=left, return_when=asyncio.FIRST_COMPLETED)
        if not receive.done():
            receive.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await receive
            return pump.result() if pump.done() else _EXPIRED
        message = receive.result()
        if message.type == WSMsgType.TEXT:
            await _on_frame(ws, app, who, message.data, delivered)
        elif message.type in _ENDS:
            return None


async def close_all(app: web.Application) -> None:
    """On shutdown: every long poll answers now and every socket closes with 1001 (from its
    own handler, like every close)."""
    app[WAKE_HUB].shutdown()
