"""The dossier API (DESIGN §4, Dossier): thin handlers over ``dossier_link.service``."""

from __future__ import annotations

from aiohttp import web

from dossier_link.models import (
    BanRequest,
    CloseRequest,
    CreateDossierRequest,
    DocumentPatch,
    EmergencyAccessRequest,
    EmergencyOppositionRequest,
    GrantRequest,
    MedecinTraitantRequest,
    ObjectionRequest,
    OperatorCreateDossierRequest,
)
from dossier_link.policy import Actor
from messaging.errors import InvalidRequest
from messaging.identifiers import InvalidIns, validate_ins
from messaging.server.appkeys import DOSSIER_ACTORS, DOSSIERS
from messaging.server.request import caller, json_response, parse, require_operator
from messaging.timeutil import now


async def _actor(request: web.Request) -> Actor:
    who = await caller(request)
    return await request.app[DOSSIER_ACTORS].actor(who.principal)


def _ins(request: web.Request) -> str:
    try:
        return validate_ins(request.match_info["ins"])
    except InvalidIns as exc:
        raise InvalidRequest(str(exc), field="ins") from exc


async def create(request: web.Request) -> web.Response:
    actor = await _actor(request)
    body = await parse(request, CreateDossierRequest)
    return json_response(await request.app[DOSSIERS].creation.create(actor, body, now()), 201)


async def create_by_operator(request: web.Request) -> web.Response:
    require_operator(request)
    body = await parse(request, OperatorCreateDossierRequest)
    creation = request.app[DOSSIERS].creation
    return json_response(await creation.create_by_operator(body, now()), 201)


async def set_objection(request: web.Request) -> web.Response:
    actor = await _actor(request)
    body = await parse(request, ObjectionRequest)
    creation = request.app[DOSSIERS].creation
    await creation.set_objection(actor, _ins(request), body.objected, now())
    return web.Response(status=204)


async def summary(request: web.Request) -> web.Response:
    actor = await _actor(request)
    return json_response(await request.app[DOSSIERS].summary(actor, _ins(request), now()))


async def set_medecin_traitant(request: web.Request) -> web.Response:
    actor = await _actor(request)
    body = await parse(request, MedecinTraitantRequest)
    professional = await request.app[DOSSIER_ACTORS].known_actor(body.professional)
    service = request.app[DOSSIERS]
    return json_response(
        await service.set_medecin_traitant(actor, _ins(request), professional, now())
    )


async def grant(request: web.Request) -> web.Response:
    actor = await _actor(request)
    body = await parse(request, GrantRequest)
    grantee = await request.app[DOSSIER_ACTORS].known_actor(body.professional)
    result = await request.app[DOSSIERS].grant(actor, _ins(request), grantee, body, now())
    return json_response(result, 201)


async def withdraw_grant(request: web.Request) -> web.Response:
    actor = await _actor(request)
    professional = request.match_info["professional"]
    await request.app[DOSSIERS].withdraw_grant(actor, _ins(request), professional, now())
    return web.Response(status=204)


async def ban(request: web.Request) -> web.Response:
    actor = await _actor(request)
    body = await parse(request, BanRequest)
    result = await request.app[DOSSIERS].ban(actor, _ins(request), body.professional, now())
    return json_response(result, 201)


async def lift_ban(request: web.Request) -> web.Response:
    actor = await _actor(request)
    professional = request.match_info["professional"]
    await request.app[DOSSIERS].lift_ban(actor, _ins(request), professional, now())
    return web.Response(status=204)


async def emergency_opposition(request: web.Request) -> web.Response:
    actor = await _actor(request)
    body = await parse(request, EmergencyOppositionRequest)
    service = request.app[DOSSIERS]
    return json_response(
        await service.set_emergency_opposition(actor, _ins(request), body.opposed, now())
    )


async def emergency_access(request: web.Request) -> web.Response:
    actor = await _actor(request)
    body = await parse(request, EmergencyAccessRequest)
    result = await request.app[DOSSIERS].open_emergency(actor, _ins(request), body.reason, now())
    return json_response(result, 201)


async def end_emergency(request: web.Request) -> web.Response:
    actor = await _actor(request)
    emergency = request.match_info["emergency"]
    service = request.app[DOSSIERS]
    return json_response(await service.end_emergency(actor, _ins(request), emergency, now()))


async def list_documents(request: web.Request) -> web.Response:
    actor = await _actor(request)
    return json_response(await request.app[DOSSIERS].documents.visible(actor, _ins(request), now()))


async def read_document(request: web.Request) -> web.Response:
    actor = await _actor(request)
    document = request.match_info["document"]
    documents = request.app[DOSSIERS].documents
    return json_response(await documents.read(actor, _ins(request), document, now()))


async def patch_document(request: web.Request) -> web.Response:
    actor = await _actor(request)
    body = await parse(request, DocumentPatch)
    document = request.match_info["document"]
    await request.app[DOSSIERS].documents.patch(actor, _ins(request), document, body, now())
    return web.Response(status=204)


async def access_log(request: web.Request) -> web.Response:
    actor = await _actor(request)
    traces = request.app[DOSSIERS].traces
    return json_response(await traces.access_log(actor, _ins(request), now()))


async def close(request: web.Request) -> web.Response:
    actor = await _actor(request)
    body = await parse(request, CloseRequest) if request.can_read_body else CloseRequest()
    service = request.app[DOSSIERS]
    return json_response(await service.close(actor, _ins(request), body.deletion_requested, now()))
