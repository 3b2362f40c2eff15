"""The frames of the WebSocket stream (``GET /v1/stream``, DESIGN §5), as wire models.

The client sends ``StreamAuth`` first when it did not authenticate the upgrade, then
``StreamAck`` frames. The server sends the events of ``messaging.models.Event``, one
``QueueEmpty`` once the backlog is sent, and ``StreamError`` when a client frame is refused.
``/openapi.json`` describes the route with these models and ``CLOSE_CODES``.
"""

from __future__ import annotations

from typing import Annotated, Final, Literal

from pydantic import Field, StringConstraints

from messaging.models import (
    CLOSE_AUTH_FAILED,
    CLOSE_DISPLACED,
    WireModel,
)
from messaging.wire_types import (
    Cursor,
)


class StreamAuth(WireModel):
    type: Literal["auth"]
    token: Annotated[str, StringConstraints(strict=True, max_length=200)]


class StreamAck(WireModel):
    type: Literal["ack"]
    cursors: Annotated[list[Cursor], Field(min_length=1, max_length=500)]


class QueueEmpty(WireModel):
    """Sent once on a socket, when the backlog has been sent: what follows is live."""

    type: Literal["queue_empty"]


class StreamError(WireModel):
    """A client frame was refused; the socket stays open. ``code`` as in problem documents."""

    type: Literal["error"]
    code: str
    detail: str


CLOSE_CODES: Final[dict[int, str]] = {
    1001: "the server is shutting down: reconnect",
    1011: "the server failed while serving the socket: reconnect later",
    1013: "Redis is unreachable, or the device's fetch budget is spent: reconnect later "
    "(unacked events come again)",
    CLOSE_AUTH_FAILED: "no valid token within 5 s, the token expired, or the device was revoked",
    CLOSE_DISPLACED: "a newer socket of the same device took over: do not reconnect",
}
"""Why the server closes a socket, by close code."""
