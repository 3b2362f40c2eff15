"""The annuaire and the server's public keys."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from messaging.models import DirectorySearchResponse
from messaging.rate_limits import Budget
from messaging.server.appkeys import DIRECTORY, PATIENT_PRIVACY, SERVER_INFO
from messaging.server.request import caller, json_response, parse_query


class SearchQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    q: str = Field(default="", max_length=100)
    profession: str | None = Field(default=None, max_length=100)
    limit: int = Field(default=20, ge=1, le=100)


async def lookup(request: web.Request) -> web.Response:
    who = await caller(request, Budget.DIRECTORY)
    found = await request.app[PATIENT_PRIVACY].entry(who.principal, request.match_info["principal"])
    return json_response(found)


async def device(request: web.Request) -> web.Response:
    who = await caller(request, Budget.DIRECTORY)
    found = await request.app[PATIENT_PRIVACY].device(
        who.principal, request.match_info["principal"], request.match_info["device"]
    )
    return json_response(found)


async def search(request: web.Request) -> web.Response:
    await caller(request, Budget.DIRECTORY)
    query = parse_query(request, SearchQuery)
    found = await request.app[DIRECTORY].search(query.q, query.profession, query.limit)
    return json_response(DirectorySearchResponse(principals=found))


async def server_info(request: web.Request) -> web.Response:
    return json_response(request.app[SERVER_INFO])
