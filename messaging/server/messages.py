"""Sending, fetching (with long poll) and acknowledging messages."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from messaging.models import (
    AckRequest,
    Envelope,
)
from messaging.rate_limits import Budget
from messaging.server.appkeys import DELIVERY, MAILBOX, METRICS, SETTINGS, WAKE_HUB
from messaging.server.request import authenticated, caller, json_object, json_response
from messaging.wire_types import (
    Cursor,
)


class FetchQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    after: Cursor | None = None
    limit: int = Field(default=100, ge=1, le=500)
    wait: float = Field(default=0, ge=0, le=30)


async def send(request: web.Request) -> web.Response:
    who = await authenticated(request)  # its rate limit rides with the claim
    raw = await json_object(request, request.app[SETTINGS].max_envelope_bytes)
    envelope = Envelope.model_validate(raw)
    accepted = await request.app[DELIVERY].accept(who, envelope, raw)
    metrics = request.app[METRICS]
    metrics.messages_accepted.inc()
    if accepted.dossier is not None:
        metrics.dossier_links.labels(accepted.dossier.status, accepted.dossier.code or "").inc()
    return json_response(accepted, status=202)


async def fetch(request: web.Request) -> web.Response:
    who = await caller(request, Budget.FETCH)
    query = FetchQuery.model_validate(dict(request.query))
    mailbox = request.app[MAILBOX]
    after = None if query.after is None else mailbox.stream_id(who.device, query.after)
    if query.wait == 0:
        batch = await mailbox.read(who.device, after, query.limit)
    else:
        async with request.app[WAKE_HUB].listen(who.device) as listener:
            batch = await mailbox.read(who.device, after, query.limit)
            if not batch.events:
                await listener.wait(query.wait)
                batch = await mailbox.read(who.device, batch.last, query.limit)
    if batch.messages:
        request.app[METRICS].messages_delivered.labels("poll").inc(len(batch.messages))
    following = "null" if batch.last is None else f'"{mailbox.cursor(who.device, batch.last)}"'
    body = f'{{"events":[{",".join(batch.events)}],"next":{following}}}'
    return web.Response(text=body, content_type="application/json")


async def ack(request: web.Request) -> web.Response:
    who = await caller(request, Budget.FETCH)
    body = AckRequest.model_validate(await json_object(request))
    mailbox = request.app[MAILBOX]
    stream_ids = [mailbox.stream_id(who.device, cursor) for cursor in body.cursors]
    done = await request.app[DELIVERY].acknowledge(who, stream_ids)
    request.app[METRICS].acknowledged(done)
    return web.Response(status=204)
