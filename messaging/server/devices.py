"""Device enrollment, listing and revocation, and challenge-response authentication."""

from __future__ import annotations

from aiohttp import web

from messaging.models import (
    ChallengeRequest,
    EnrollDeviceRequest,
    EnrolledDeviceResponse,
    OwnDevicesResponse,
    TokenRequest,
)
from messaging.rate_limits import Budget
from messaging.server.appkeys import AUTH, DEVICES
from messaging.server.request import caller, json_response, limit_address, parse


async def enroll(request: web.Request) -> web.Response:
    await limit_address(request, Budget.ENROLL)
    body = await parse(request, EnrollDeviceRequest)
    device = await request.app[DEVICES].enroll(body)
    return json_response(EnrolledDeviceResponse(device=device.id, principal=device.owner), 201)


async def link_code(request: web.Request) -> web.Response:
    who = await caller(request)
    return json_response(await request.app[DEVICES].issue_code(who.principal), 201)


async def list_own(request: web.Request) -> web.Response:
    who = await caller(request)
    return json_response(OwnDevicesResponse(devices=await request.app[DEVICES].own(who)))


async def revoke(request: web.Request) -> web.Response:
    who = await caller(request)
    await request.app[DEVICES].revoke(who, request.match_info["device"])
    return web.Response(status=204)


async def challenge(request: web.Request) -> web.Response:
    await limit_address(request, Budget.CHALLENGE)
    body = await parse(request, ChallengeRequest)
    return json_response(await request.app[AUTH].challenge(body.device))


async def token(request: web.Request) -> web.Response:
    await limit_address(request, Budget.TOKEN)
    body = await parse(request, TokenRequest)
    return json_response(await request.app[AUTH].issue_token(body))
