"""Operator (registration authority) endpoints."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from dossier_link.majority import BirthDate, check_birth_date
from messaging.errors import InvalidRequest
from messaging.identifiers import InvalidIns
from messaging.models import (
    CreatedPrincipal,
    CreatePrincipalRequest,
    ListedKind,
    PrincipalList,
)
from messaging.representations import (
    CreateRepresentationRequest,
    RepresentationCreated,
    RepresentationList,
    RepresentationQuery,
)
from messaging.server.appkeys import DEVICES, DIRECTORY, DOSSIERS
from messaging.server.request import json_response, parse, parse_query, require_operator
from messaging.timeutil import now
from messaging.wire_types import (
    PrincipalId,
)


async def create_principal(request: web.Request) -> web.Response:
    require_operator(request)
    body = await parse(request, CreatePrincipalRequest)
    if body.kind == "patient" and body.birth_date is not None:
        try:  # ID-4: the verified identity's birth date agrees with the INS
            check_birth_date(
                body.id.removeprefix("patient:"), BirthDate.parse(body.birth_date), now()
            )
        except InvalidIns as exc:
            raise InvalidRequest(str(exc), field="birth_date") from exc
    record, warnings = await request.app[DIRECTORY].create_principal(body)
    entry = await request.app[DIRECTORY].entry(record.id)
    created = CreatedPrincipal(**entry.model_dump(), warnings=warnings)
    return json_response(created, status=201)


class PrincipalListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: ListedKind | None = None
    after: PrincipalId | None = None
    limit: int = Field(default=100, ge=1, le=500)


async def list_principals(request: web.Request) -> web.Response:
    require_operator(request)
    query = parse_query(request, PrincipalListQuery)
    found, following = await request.app[DIRECTORY].listing(query.kind, query.after, query.limit)
    return json_response(PrincipalList(principals=found, next=following))


async def issue_enrollment_code(request: web.Request) -> web.Response:
    require_operator(request)
    code = await request.app[DEVICES].issue_code(request.match_info["principal"])
    return json_response(code, status=201)


async def add_representation(request: web.Request) -> web.Response:
    require_operator(request)
    body = await parse(request, CreateRepresentationRequest)
    recorded = await request.app[DOSSIERS].representations.record(body, now())
    return json_response(RepresentationCreated(id=recorded.id), status=201)


async def list_representations(request: web.Request) -> web.Response:
    require_operator(request)
    query = parse_query(request, RepresentationQuery)
    found = await request.app[DOSSIERS].representations.listed(query.holder, query.representative)
    at = now()
    return json_response(RepresentationList(representations=[r.view(at) for r in found]))


async def remove_representation(request: web.Request) -> web.Response:
    require_operator(request)
    await request.app[DOSSIERS].representations.remove(request.match_info["id"], now())
    return web.Response(status=204)
