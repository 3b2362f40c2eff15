"""The opt-out creation regime and the holder's objection (CR-5) over HTTP with real Redis."""

from __future__ import annotations

from typing import Any

import pytest
from pytest_aiohttp import AiohttpClient
from redis.asyncio import Redis

from messaging.settings import Settings
from tests.dossiers import (
    ADULT_BIRTH,
    dossier_call,
    other_patient,
    patient,
    post_dossier,
    represent,
    verdict,
    world_with,
    years_ago,
)
from tests.support import World

HOLDER_CONSENT = {"given_by": "holder", "name": "Mme Durand"}
Verdict = tuple[int, str | None]
CREATED: Verdict = (201, None)


@pytest.fixture
async def opt_out_world(aiohttp_client: AiohttpClient, settings: Settings, redis: Redis) -> World:
    """CR-5: the same server with ``dossier_regime = "opt_out"``."""
    return await world_with(aiohttp_client, settings, redis, dossier_regime="opt_out")


# --- CR-5: the opt-out regime -----------------------------------------------------------------


async def test_operator_creation_is_refused_in_the_express_regime(world: World) -> None:
    """CR-5: the operator's consent-less creation exists only when the setting says opt-out."""
    _, ins = await patient(world)
    body = {"ins": ins, "birth_date": ADULT_BIRTH.isoformat()}
    response = await world.client.post("/v1/admin/dossiers", json=body, headers=world.operator)
    assert verdict(response.status, await response.json()) == (403, "consent_missing")


async def test_operator_creates_unless_the_holder_objected(opt_out_world: World) -> None:
    """CR-5: opt-out creation is refused while an objection stands, allowed once withdrawn."""
    world = opt_out_world
    holder, ins = await patient(world)
    body = {"ins": ins, "birth_date": ADULT_BIRTH.isoformat()}
    objection = f"/v1/dossiers/{ins}/objection"

    status, answer = await dossier_call(world, holder, "PUT", objection, {"objected": True})
    assert verdict(status, answer) == (204, None)
    response = await world.client.post("/v1/admin/dossiers", json=body, headers=world.operator)
    assert verdict(response.status, await response.json()) == (403, "objection_registered")

    status, answer = await dossier_call(world, holder, "PUT", objection, {"objected": False})
    assert verdict(status, answer) == (204, None)
    response = await world.client.post("/v1/admin/dossiers", json=body, headers=world.operator)
    created = await response.json()
    assert verdict(response.status, created) == CREATED
    assert created["consent"] == {"regime": "opt_out", "at": created["consent"]["at"]}

    status, summary = await dossier_call(world, holder, "GET", f"/v1/dossiers/{ins}")
    assert verdict(status, summary) == (200, None)
    assert summary["your_basis"] == "holder"
    status, log = await dossier_call(world, holder, "GET", f"/v1/dossiers/{ins}/access-log")
    assert (log["entries"][0]["actor"], log["entries"][0]["detail"]) == ("operator", "opt_out")


@pytest.mark.parametrize(
    ("caller", "expected"),
    [
        pytest.param("holder", (204, None), id="CR-5 holder objects"),
        pytest.param("pro", (403, "holder_only"), id="CR-5 professional cannot object"),
        pytest.param(
            "stranger",
            (403, "representation_unverified"),
            id="CR-5 CR-9 another patient cannot object",
        ),
    ],
)
async def test_objection_is_registered_by_the_holder(
    opt_out_world: World, caller: str, expected: Verdict
) -> None:
    """CR-5: the objection belongs to the holder; it then blocks the operator's creation."""
    world = opt_out_world
    holder, ins = await patient(world)
    callers = {
        "holder": holder,
        "pro": await world.professional(),
        "stranger": await other_patient(world),
    }
    status, answer = await dossier_call(
        world, callers[caller], "PUT", f"/v1/dossiers/{ins}/objection", {"objected": True}
    )
    assert verdict(status, answer) == expected
    body = {"ins": ins, "birth_date": ADULT_BIRTH.isoformat()}
    response = await world.client.post("/v1/admin/dossiers", json=body, headers=world.operator)
    blocked = (403, "objection_registered") if expected == (204, None) else CREATED
    assert verdict(response.status, await response.json()) == blocked


async def test_representative_of_a_minor_registers_the_objection(opt_out_world: World) -> None:
    """CR-5, CR-8, CR-9: the recorded legal representative of a minor objects to the opt-out
    creation."""
    world = opt_out_world
    minor_birth = years_ago(8)
    _, ins = await patient(world, minor_birth)
    parent = await other_patient(world)
    await represent(world, ins, parent)
    status, answer = await dossier_call(
        world, parent, "PUT", f"/v1/dossiers/{ins}/objection", {"objected": True}
    )
    assert verdict(status, answer) == (204, None)
    body = {"ins": ins, "birth_date": minor_birth.isoformat()}
    response = await world.client.post("/v1/admin/dossiers", json=body, headers=world.operator)
    assert verdict(response.status, await response.json()) == (403, "objection_registered")


async def test_operator_route_needs_the_operator_token(opt_out_world: World) -> None:
    """CR-5: only the operator creates without consent; a holder's token is not enough."""
    world = opt_out_world
    holder, ins = await patient(world)
    response = await world.client.post(
        "/v1/admin/dossiers",
        json={"ins": ins, "birth_date": ADULT_BIRTH.isoformat()},
        headers=holder.headers,
    )
    assert verdict(response.status, await response.json()) == (403, "operator_only")


@pytest.mark.parametrize(
    "regime",
    [
        pytest.param("express", id="CR-5 objection blocks express consent"),
        pytest.param("opt_out", id="CR-5 objection blocks consent in opt-out"),
    ],
)
async def test_objection_must_be_withdrawn_before_any_creation(
    aiohttp_client: AiohttpClient, settings: Settings, redis: Redis, regime: str
) -> None:
    """CR-5 (interpretation): an express consent does not override a standing objection; in
    opt-out the operator is the one who creates (CR-9)."""
    world = await world_with(aiohttp_client, settings, redis, dossier_regime=regime)
    holder, ins = await patient(world)

    async def create() -> tuple[int, Any]:
        if regime == "express":
            return await post_dossier(world, holder, ins, consent=HOLDER_CONSENT)
        response = await world.client.post(
            "/v1/admin/dossiers", json={"ins": ins}, headers=world.operator
        )
        return response.status, await response.json()

    objection = f"/v1/dossiers/{ins}/objection"
    status, _ = await dossier_call(world, holder, "PUT", objection, {"objected": True})
    assert status == 204
    status, answer = await create()
    assert verdict(status, answer) == (403, "objection_registered")
    status, _ = await dossier_call(world, holder, "PUT", objection, {"objected": False})
    assert status == 204
    status, answer = await create()
    assert verdict(status, answer) == CREATED


@pytest.mark.parametrize(
    ("caller", "consent"),
    [
        pytest.param("holder", None, id="CR-9 holder without consent"),
        pytest.param("holder", HOLDER_CONSENT, id="CR-9 holder with a consent"),
        pytest.param("pro", HOLDER_CONSENT, id="CR-9 professional with a collected consent"),
        pytest.param("parent", None, id="CR-9 recorded representative"),
    ],
)
async def test_only_the_operator_creates_in_opt_out(
    opt_out_world: World, caller: str, consent: dict[str, Any] | None
) -> None:
    """CR-9: in the opt-out regime ``POST /v1/dossiers`` is refused to everyone
    (``operator_creates``); the operator's own creation still works afterwards."""
    world = opt_out_world
    birth = years_ago(10) if caller == "parent" else ADULT_BIRTH
    holder, ins = await patient(world, birth)
    parent = await other_patient(world)
    if caller == "parent":
        await represent(world, ins, parent)
    callers = {"holder": holder, "pro": await world.professional(), "parent": parent}
    status, answer = await post_dossier(world, callers[caller], ins, consent=consent)
    assert verdict(status, answer) == (403, "operator_creates")
    response = await world.client.post(
        "/v1/admin/dossiers", json={"ins": ins}, headers=world.operator
    )
    assert verdict(response.status, await response.json()) == CREATED
