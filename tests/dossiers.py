"""Helpers for dossier tests: valid INS numbers, patients' devices, dossier-linked sends."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from pytest_aiohttp import AiohttpClient

from dossier_link.majority import PARIS
from messaging import crypto, redis_keys
from messaging.identifiers import ins_key
from messaging.models import DossierHeader
from messaging.redis_link import RedisClient
from messaging.server.app import create_app
from messaging.settings import Settings
from tests.support import Device, World, compose

_serial = itertools.count(1)


def new_ins(birth: date, sex: int = 1) -> str:
    """A valid INS (ID-1, ID-2) for someone born on ``birth``: a fresh one per call."""
    number = next(_serial)
    # Department 75, then commune and order numbers that make each INS unique.
    first13 = f"{sex}{birth.year % 100:02d}{birth.month:02d}75{number:06d}"
    return f"{first13}{ins_key(first13):02d}"


ADULT_BIRTH = date(1960, 5, 17)


async def patient(world: World, birth: date = ADULT_BIRTH) -> tuple[Device, str]:
    """An enrolled holder device and the INS of its (not yet created) dossier; the operator
    recorded the birth date with the principal (ID-4)."""
    ins = new_ins(birth)
    principal = await world.principal(
        f"patient:{ins}",
        kind="patient",
        display_name="Mme Durand",
        profession=None,
        birth_date=birth.isoformat(),
    )
    return await world.enroll(principal), ins


async def represent(
    world: World,
    ins: str,
    representative: Device | str,
    kind: str = "legal_representative",
    valid_until: str | None = None,
) -> str:
    """The operator records that ``representative`` represents the holder of ``ins``."""
    body: dict[str, Any] = {
        "holder": ins,
        "representative": getattr(representative, "principal", representative),
        "kind": kind,
        "evidence": "livret de famille vérifié" if kind == "legal_representative" else "jugement",
    }
    if valid_until is not None:
        body["valid_until"] = valid_until
    response = await world.client.post(
        "/v1/admin/representations", json=body, headers=world.operator
    )
    assert response.status == 201, await response.text()
    representation: str = (await response.json())["id"]
    return representation


async def create_dossier(world: World, holder: Device, ins: str, birth: date = ADULT_BIRTH) -> None:
    response = await world.client.post(
        "/v1/dossiers",
        json={
            "ins": ins,
            "birth_date": birth.isoformat(),
            "consent": {"given_by": "holder", "name": "Mme Durand"},
        },
        headers=holder.headers,
    )
    assert response.status == 201, await response.text()


async def dossier_call(
    world: World, device: Device, method: str, path: str, body: Any = None
) -> tuple[int, Any]:
    response = await world.client.request(method, path, json=body, headers=device.headers)
    payload = (
        await response.json() if response.content_length != 0 and response.status != 204 else None
    )
    return response.status, payload


async def server_dossier_key(world: World) -> bytes:
    info = await (await world.client.get("/v1/server")).json()
    return crypto.b64u_decode(info["dossier_key"])


async def send_linked(
    world: World,
    sender: Device,
    recipients: list[Device],
    ins: str,
    *,
    title: str = "Lettre de sortie",
    **header: Any,
) -> tuple[int, Any]:
    envelope = compose(
        sender,
        sorted({r.principal for r in recipients}),
        recipients,
        dossier=DossierHeader(ins=ins, type="lettre_de_sortie", title=title, **header),
        dossier_key=await server_dossier_key(world),
    )
    response = await world.client.post("/v1/messages", json=envelope, headers=sender.headers)
    return response.status, await response.json()


async def events_of(world: World, device: Device) -> list[dict[str, Any]]:
    response = await world.client.get("/v1/messages", headers=device.headers)
    events: list[dict[str, Any]] = (await response.json())["events"]
    return events


async def notifications(world: World, device: Device, event: str) -> list[dict[str, Any]]:
    return [
        e["notification"]
        for e in await events_of(world, device)
        if e["type"] == "notification" and e["notification"]["event"] == event
    ]


# --- helpers for the rule suites (tests/test_dossier_rules_*.py) ------------------------------


def years_ago(years: int, *, days: int = 0) -> date:
    """The date ``years`` calendar years before today in Paris, moved ``days`` later: ages are
    counted in Europe/Paris time (CR-7), whose date runs ahead of UTC's before midnight UTC."""
    today = datetime.now(PARIS).date()
    try:
        anniversary = today.replace(year=today.year - years)
    except ValueError:  # 29 February in a year that has none: the birthday falls on 1 March
        anniversary = date(today.year - years, 3, 1)
    return anniversary + timedelta(days=days)


async def world_with(
    aiohttp_client: AiohttpClient, settings: Settings, redis: RedisClient, **update: Any
) -> World:
    """A World on an app whose settings differ from the ``settings`` fixture by ``update``."""
    app = create_app(settings.model_copy(update=update))
    assert settings.admin_token is not None
    return World(await aiohttp_client(app), settings.admin_token.get_secret_value(), redis)


async def post_dossier(
    world: World,
    caller: Device,
    ins: str,
    birth: date = ADULT_BIRTH,
    *,
    consent: dict[str, Any] | None = None,
    protection: str | None = None,
) -> tuple[int, Any]:
    """``POST /v1/dossiers`` as ``caller``; the answer is not checked."""
    body: dict[str, Any] = {"ins": ins, "birth_date": birth.isoformat()}
    if consent is not None:
        body["consent"] = consent
    if protection is not None:
        body["protection"] = protection
    return await dossier_call(world, caller, "POST", "/v1/dossiers", body)


async def open_dossier(world: World, birth: date = ADULT_BIRTH) -> tuple[Device, str]:
    """An enrolled holder and their dossier, created on their own consent."""
    holder, ins = await patient(world, birth)
    await create_dossier(world, holder, ins, birth)
    return holder, ins


async def grant_access(
    world: World,
    by: Device,
    ins: str,
    professional: Device,
    level: str = "standard",
    basis: str = "consent",
) -> None:
    status, answer = await dossier_call(
        world,
        by,
        "POST",
        f"/v1/dossiers/{ins}/grants",
        {"professional": professional.principal, "level": level, "basis": basis},
    )
    assert status == 201, answer


async def ban_professional(world: World, by: Device, ins: str, professional: Device) -> None:
    status, answer = await dossier_call(
        world, by, "POST", f"/v1/dossiers/{ins}/bans", {"professional": professional.principal}
    )
    assert status == 201, answer


async def declare_mt(world: World, by: Device, ins: str, professional: Device) -> None:
    status, answer = await dossier_call(
        world,
        by,
        "PUT",
        f"/v1/dossiers/{ins}/medecin-traitant",
        {"professional": professional.principal},
    )
    assert status == 200, answer


async def open_emergency(world: World, professional: Device, ins: str) -> None:
    status, answer = await dossier_call(
        world,
        professional,
        "POST",
        f"/v1/dossiers/{ins}/emergency-access",
        {"reason": "inconscient, pronostic vital engagé"},
    )
    assert status == 201, answer


async def attach_document(world: World, author: Device, ins: str, **header: Any) -> str:
    """A document written by ``author`` (who must be allowed to write): a linked note to self."""
    status, answer = await send_linked(world, author, [author], ins, **header)
    assert status == 202, answer
    assert answer["dossier"]["status"] == "attached", answer
    document: str = answer["dossier"]["document"]
    return document


def linked_envelope(
    sender: Device,
    recipients: list[Device],
    ins: str,
    dossier_key: bytes,
    *,
    title: str = "Lettre de sortie",
    **header: Any,
) -> dict[str, Any]:
    """A dossier-linked envelope whose dossier wrap is sealed to ``dossier_key``."""
    return compose(
        sender,
        sorted({r.principal for r in recipients}),
        recipients,
        dossier=DossierHeader(ins=ins, type="lettre_de_sortie", title=title, **header),
        dossier_key=dossier_key,
    )


async def stored_log(redis: RedisClient, ins: str) -> list[dict[str, Any]]:
    """The dossier's access log as stored, read past the API (which refuses a closed dossier)."""
    return [json.loads(raw) for raw in await redis.lrange(redis_keys.dossier_log(ins), 0, -1)]


async def eventually(check: Callable[[], Awaitable[bool]], *, within: float = 5.0) -> None:
    """Poll ``check`` until it holds; fail once ``within`` seconds have passed."""
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def verdict(status: int, answer: Any) -> tuple[int, str | None]:
    """The HTTP status with the problem ``code`` of an error answer (``None`` for a success)."""
    if status < 400:
        return status, None
    assert isinstance(answer, dict), answer
    code = answer.get("code")
    assert isinstance(code, str), answer
    return status, code


async def other_patient(world: World) -> Device:
    """An enrolled ``patient:`` principal of someone else (a representative, a relative)."""
    device, _ = await patient(world)
    return device


async def post_envelope(world: World, sender: Device, envelope: dict[str, Any]) -> tuple[int, Any]:
    """``POST /v1/messages`` with ``sender``'s token; the answer is not checked."""
    response = await world.client.post("/v1/messages", json=envelope, headers=sender.headers)
    return response.status, await response.json()


async def message_ids(world: World, device: Device) -> list[str]:
    """Ids of the messages queued for ``device``."""
    return [e["envelope"]["id"] for e in await events_of(world, device) if e["type"] == "message"]


async def represented_dossier(world: World, situation: str = "minor") -> tuple[Device, Device, str]:
    """A dossier created by a representative: ``minor`` (legal representative, CR-3) or
    ``protected`` (protection person with the holder's opinion, CR-4).

    Returns the holder's device, the representative's device and the INS.
    """
    birth = years_ago(11) if situation == "minor" else ADULT_BIRTH
    holder, ins = await patient(world, birth)
    representative = await other_patient(world)
    consent: dict[str, Any] = {"name": "M. Durand", "representative": representative.principal}
    if situation == "minor":
        consent["given_by"] = "legal_representative"
        protection = None
    else:
        consent.update(given_by="protection_person", holder_opinion="d'accord")
        protection = "representation"
    await represent(world, ins, representative, consent["given_by"])
    status, answer = await post_dossier(
        world, representative, ins, birth, consent=consent, protection=protection
    )
    assert status == 201, answer
    return holder, representative, ins


async def read_verdict(
    world: World, device: Device, ins: str, document: str
) -> tuple[int, str | None]:
    """The verdict on ``device`` reading one document of the dossier."""
    status, answer = await dossier_call(
        world, device, "GET", f"/v1/dossiers/{ins}/documents/{document}"
    )
    if status == 200:
        assert answer["document"]["id"] == document
        assert device.device_id in answer["keys"]
    return verdict(status, answer)


async def listed(world: World, device: Device, ins: str) -> list[str] | None:
    """Ids of the documents ``device`` sees in the list, ``None`` when the list is refused."""
    status, answer = await dossier_call(world, device, "GET", f"/v1/dossiers/{ins}/documents")
    if status != 200:
        return None
    return [d["id"] for d in answer["documents"]]


@dataclass
class DossierCast:
    """A dossier with an MT, a standard grantee, a banned and an unrelated professional, an
    insurer, a document the holder added (``doc``) and one the MT wrote (``mt_doc``)."""

    holder: Device
    ins: str
    doc: str
    mt_doc: str
    devices: dict[str, Device]
    """By role: holder, mt, grantee, stranger, banned, insurer."""


async def dossier_cast(world: World) -> DossierCast:
    holder, ins = await open_dossier(world)
    devices = {
        "holder": holder,
        "mt": await world.professional(),
        "grantee": await world.professional(),
        "stranger": await world.professional(),
        "banned": await world.professional(),
        "insurer": await world.professional(roles=["insurer"]),
    }
    await declare_mt(world, holder, ins, devices["mt"])
    await grant_access(world, holder, ins, devices["grantee"])
    await ban_professional(world, holder, ins, devices["banned"])
    doc = await attach_document(world, holder, ins, title="Carnet de santé")
    mt_doc = await attach_document(world, devices["mt"], ins)
    return DossierCast(holder, ins, doc, mt_doc, devices)
