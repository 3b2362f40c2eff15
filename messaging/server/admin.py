"""Operator (registration authority) endpoints."""

from __future__ import annotations

from aiohttp import web

from messaging.models import CreatedPrincipal, CreatePrincipalRequest
from messaging.server.appkeys import DEVICES, DIRECTORY
from messaging.server.request import json_response, parse, require_operator


async def create_principal(request: web.Request) -> web.Response:
    require_operator(request)
    body = await parse(request, CreatePrincipalRequest)
    record, warnings = await request.app[DIRECTORY].create_principal(body)
    entry = await request.app[DIRECTORY].entry(record.id)
    created = CreatedPrincipal(**entry.model_dump(), warnings=warnings)
    return json_response(created, status=201)


async def issue_enrollment_code(request: web.Request) -> web.Response:
    require_operator(request)
    code = await request.app[DEVICES].issue_code(request.match_info["principal"])
    return json_response(code, status=201)
