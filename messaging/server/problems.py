"""One middleware turns every failure into ``application/problem+json`` (RFC 9457)."""

from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler
from pydantic import ValidationError

from messaging import canonical
from messaging.errors import (
    InvalidRequest,
    LiaisonError,
    PayloadTooLarge,
    RateLimited,
    StoreUnavailable,
    encoding_refused,
)
from messaging.redis_link import UNAVAILABLE, retry_after
from messaging.server.appkeys import METRICS, SETTINGS
from messaging.server.observe import route_template

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"

_HTTP_CODES = {
    404: ("not_found", "Not found"),
    405: ("method_not_allowed", "Method not allowed"),
    413: (PayloadTooLarge.code, PayloadTooLarge.title),
}


def problem_response(problem: dict[str, Any], retry_after: int | None = None) -> web.Response:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return web.Response(
        status=problem["status"],
        body=json.dumps(problem, ensure_ascii=False).encode(),
        content_type=PROBLEM_JSON,
        headers=headers,
    )


def from_error(error: LiaisonError) -> web.Response:
    return problem_response(error.problem(), error.retry_after)


def validation_problem(error: ValidationError) -> LiaisonError:
    # Locations and messages only: echoing the input could copy a secret into a response.
    items = error.errors(include_url=False, include_input=False)
    # A value breaking an encoding rule gets that rule's code (the first such, in field order).
    for item in items:
        refused = encoding_refused(item["type"], item["msg"], canonical.pointer(item["loc"]))
        if refused is not None:
            return refused
    errors = [{"loc": [str(part) for part in item["loc"]], "msg": item["msg"]} for item in items]
    return InvalidRequest("the request does not match the schema", errors=errors)


@web.middleware
async def problems_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except Exception as error:
        problem, retry_after = _problem(request, error)
        if isinstance(error, RateLimited):
            request.app[METRICS].rate_limited.labels(error.scope).inc()
        # A 405 names the methods the route has (RFC 9110 §15.5.6).
        allow = error.headers.get("Allow") if isinstance(error, web.HTTPException) else None
    request.app[METRICS].problems.labels(problem["status"], problem["code"]).inc()
    response = problem_response(problem, retry_after)
    if allow is not None:
        response.headers["Allow"] = allow
    return response


def _problem(request: web.Request, error: Exception) -> tuple[dict[str, Any], int | None]:
    """The problem document for ``error`` and its ``Retry-After``; a redirect is re-raised."""
    # Logged by route template, never by path: paths carry patient identifiers.
    where = f"{request.method} {route_template(request)}"
    if isinstance(error, LiaisonError):
        return error.problem(), error.retry_after
    if isinstance(error, ValidationError):
        refused = validation_problem(error)
        return refused.problem(), refused.retry_after
    if isinstance(error, web.HTTPException):
        if error.status < 400:
            raise error
        code, title = _HTTP_CODES.get(error.status, ("http_error", error.reason))
        return {
            "type": f"https://liaison.invalid/problems/{code}",
            "status": error.status,
            "title": title,
            "detail": error.text or error.reason,
            "code": code,
        }, None
    if isinstance(error, UNAVAILABLE):
        # The exception's class says which failure it was (refused, closed, timed out, a
        # cluster redirection); its text is left out, as it may quote a key.
        log.warning("Redis unreachable while serving %s (%s)", where, type(error).__name__)
        unavailable = StoreUnavailable("the message store is unreachable; retry shortly")
        return unavailable.problem(), retry_after(request.app[SETTINGS])
    log.error("unhandled error on %s", where, exc_info=error)
    return {
        "type": "https://liaison.invalid/problems/internal_error",
        "status": 500,
        "title": "Internal error",
        "detail": "the server failed to handle this request; it has been logged",
        "code": "internal_error",
    }, None
