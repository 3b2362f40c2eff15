"""Helpers for dossier tests: valid INS numbers, patients' devices, dossier-linked sends."""

from __future__ import annotations

import itertools
from datetime import date
from typing import Any

from dossier_link.identifiers import ins_key
from messaging import crypto
from messaging.models import DossierHeader
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
    """An enrolled holder device and the INS of its (not yet created) dossier."""
    ins = new_ins(birth)
    principal = await world.principal(
        f"patient:{ins}", kind="patient", display_name="Mme Durand", profession=None
    )
    return await world.enroll(principal), ins


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
