"""Watching requests: a request id, one access-log line and one histogram sample per request.

The outermost middleware, so that it sees every answer, problem documents included. Cheap on
purpose (``docs/performance.md`` has the measured cost): two clock reads, one histogram sample,
and one log record when the access log is enabled (``LIAISON_LOG_LEVEL`` info or debug).

The request id is the client's ``X-Request-Id`` when it is a short token of safe characters
(a proxy's id then links both logs), else a new random one; it is echoed in the response and
carried by every log record written while the request is served. The access log names the
route *template* (``/v1/dossiers/{ins}``), never the path: paths carry INS.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from typing import Final

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.typedefs import Handler

from messaging import logs
from messaging.server.appkeys import METRICS

REQUEST_ID_HEADER: Final = "X-Request-Id"
REQUEST_ID = web.RequestKey("request_id", str)

_WELL_FORMED: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
_UNMATCHED: Final = "unmatched"


def request_id(request: web.Request) -> str:
    given = request.headers.get(REQUEST_ID_HEADER)
    if given is not None and _WELL_FORMED.fullmatch(given):
        return given
    return secrets.token_hex(8)


def route_template(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else _UNMATCHED


@web.middleware
async def observe_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    rid = request_id(request)
    request[REQUEST_ID] = rid
    token = logs.REQUEST_ID.set(rid)
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:  # a redirect: errors became problem documents already
        status = exc.status
        raise
    finally:
        elapsed = time.perf_counter() - started
        route = route_template(request)
        request.app[METRICS].observe_request(request.method, route, status, elapsed)
        logs.access(rid, request.method, route, status, round(elapsed * 1000, 3))
        logs.REQUEST_ID.reset(token)


async def echo_request_id(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: every answer carries its request id, a WebSocket's 101 too."""
    rid = request.get(REQUEST_ID)
    if rid is not None:
        response.headers[REQUEST_ID_HEADER] = rid


class _MalformedRequests(logging.Filter):
    """aiohttp logs a request it cannot parse with a traceback whose message quotes the raw
    line, header values included (an ``Authorization`` header among them): keep one line with
    the status and the kind of error."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            record.msg = "malformed request refused with %s (%s)"
            record.args = (exc.code, type(exc).__name__)
            record.exc_info = None
            record.exc_text = None
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


def quiet_malformed_requests() -> None:
    """Install the filter on aiohttp's server logger (once per process)."""
    server = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, _MalformedRequests) for f in server.filters):
        server.addFilter(_MalformedRequests())
