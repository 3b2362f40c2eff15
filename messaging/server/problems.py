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
    StoreUnavailable,
    encoding_refused,
)
from messaging.redis_link import UNAVAILABLE, retry_after
from messaging.server.appkeys import SETTINGS

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
    except LiaisonError as error:
        return from_error(error)
    except ValidationError as error:
        return from_error(validation_problem(error))
    except web.HTTPException as error:
        if error.status < 400:
            raise
        code, title = _HTTP_CODES.get(error.status, ("http_error", error.reason))
        return problem_response(
            {
                "type": f"https://liaison.invalid/problems/{code}",
                "status": error.status,
                "title": title,
                "detail": error.text or error.reason,
                "code": code,
            }
        )
    except UNAVAILABLE:
        log.warning("Redis unreachable while serving %s %s", request.method, request.path)
        unavailable = StoreUnavailable("the message store is unreachable; retry shortly")
        return problem_response(unavailable.problem(), retry_after(request.app[SETTINGS]))
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return problem_response(
            {
                "type": "https://liaison.invalid/problems/internal_error",
                "status": 500,
                "title": "Internal error",
                "detail": "the server failed to handle this request; it has been logged",
                "code": "internal_error",
            }
        )
