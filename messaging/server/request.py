"""Turning a request into validated input: the body into a wire model, the bearer into a caller."""

from __future__ import annotations

import asyncio
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel

from messaging import canonical
from messaging.auth import Caller, bearer
from messaging.errors import (
    BodyTooLarge,
    InvalidRequest,
    LiaisonError,
    PayloadTooLarge,
    RequestTimeout,
    UnsupportedMediaType,
    encoding_refused,
)
from messaging.rate_limits import Budget, client_address
from messaging.server.appkeys import AUTH, LIMITS, SETTINGS
from messaging.settings import Settings

M = TypeVar("M", bound=BaseModel)


async def json_object(request: web.Request, limit: int | None = None) -> dict[str, Any]:
    """The body, at most ``limit`` bytes (``LIAISON_MAX_BODY_BYTES`` when None), as an object."""
    if request.content_type != "application/json":
        raise UnsupportedMediaType("send the body as application/json")
    settings = request.app[SETTINGS]
    too_large = PayloadTooLarge if limit is not None else BodyTooLarge
    limit = settings.max_body_bytes if limit is None else limit
    if request.content_length is not None and request.content_length > limit:
        raise too_large(f"the body is larger than {limit} bytes", limit=limit)
    try:
        if request.content.is_eof():
            # The whole body came with the headers (most do): nothing to wait for, and no
            # timer to arm and cancel (~35 µs of a send, docs/performance.md).
            body = await request.read()
        else:
            async with asyncio.timeout(settings.body_timeout_seconds):
                body = await request.read()
    except TimeoutError:
        # What is left of the body is never read: the connection goes with the answer.
        request.protocol.close()
        raise RequestTimeout(
            f"the body did not arrive within {settings.body_timeout_seconds:g} s"
        ) from None
    if len(body) > limit:
        raise too_large(f"the body is larger than {limit} bytes", limit=limit)
    return json_document(body, settings)


def json_document(data: bytes | str, settings: Settings) -> dict[str, Any]:
    """A body or a frame read strictly (``canonical.loads``: UTF-8 without BOM, I-JSON, nesting
    and size bounded by the settings), which must be a JSON object. Python's own ``json`` would
    guess UTF-16, keep lone surrogates and recurse as deep as the body goes."""
    try:
        document = canonical.loads(data, settings.json_max_depth, settings.json_max_values)
    except canonical.EncodingError as exc:
        raise refusal(exc) from exc
    if not isinstance(document, dict):
        raise InvalidRequest("the body must be a JSON object")
    return document


def refusal(error: canonical.EncodingError) -> LiaisonError:
    refused = encoding_refused(error.code, error.reason, error.field)
    return refused if refused is not None else InvalidRequest("the body is not valid JSON")


async def parse(request: web.Request, model: type[M]) -> M:
    return model.model_validate(await json_object(request))


def parse_query(request: web.Request, model: type[M]) -> M:
    return model.model_validate(dict(request.query))


async def authenticated(request: web.Request) -> Caller:
    """The calling device, its rate limit left to the caller (the send path carries it along
    with its claim)."""
    return await request.app[AUTH].authenticate(bearer(request.headers.get("Authorization")))


async def caller(request: web.Request, budget: Budget = Budget.CALLS) -> Caller:
    """The calling device, once it is within its ``budget``."""
    who = await authenticated(request)
    await request.app[LIMITS].check(budget, who.device)
    return who


async def limit_address(request: web.Request, budget: Budget) -> None:
    """Spend one unit of the source address's ``budget`` (an unauthenticated call)."""
    settings = request.app[SETTINGS]
    address = client_address(
        request.remote,
        request.headers.getall("X-Forwarded-For", []),
        settings.trusted_proxies,
    )
    await request.app[LIMITS].check(budget, address)


def require_operator(request: web.Request) -> None:
    request.app[AUTH].require_operator(bearer(request.headers.get("Authorization")))


def json_response(model: BaseModel, status: int = 200) -> web.Response:
    return web.Response(
        status=status,
        body=model.model_dump_json(exclude_none=False).encode(),
        content_type="application/json",
    )
