"""Representation as a fact the operator records (DESIGN §4, issue 7) over HTTP with real Redis:
the attacks of a patient who declares themself someone's representative, and the legitimate
paths of a recorded legal representative (CR-3, CR-7, CR-8) and protection person (CR-4)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from pytest_aiohttp import AiohttpClient
from redis.asyncio import Redis

from messaging import redis_keys
from messaging.redis_link import RedisLink
from messaging.representation_store import RepresentationStore
from messaging.settings import Settings
from messaging.timeutil import utc
from tests.conftest import ADMIN_TOKEN
from tests.dossiers import (
    ADULT_BIRTH,
    dossier_call,
    eventually,
    new_ins,
    notifications,
    other_patient,
    patient,
    post_dossier,
    represent,
    represented_dossier,
    verdict,
    world_with,
    years_ago,
)
from tests.processes import ServerProcess
from tests.support import World

ALSO_ON_CLUSTER = True
"""The representation keys span three tags (holder, representative, id): run on a cluster too."""

UNVERIFIED = (403, "representation_unverified")


def _claim(giver: str, representative: str) -> dict[str, Any]:
    return {"given_by": giver, "name": "Se dit représentant", "representative": representative}


async def _admin(world: World, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    response = await world.client.request(method, path, json=body, headers=world.operator)
    answer = None if response.status == 204 else await response.json()
    return response.status, answer


# --- the attacks of issue 7 -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("situation", "giver", "protection"),
    [
        pytest.param("adult", "protection_person", "representation", id="CR-4 self-declared"),
        pytest.param("minor", "legal_representative", None, id="CR-3 self-declared"),
    ],
)
async def test_a_self_declared_representative_creates_nothing(
    world: World, redis: Redis, situation: str, giver: str, protection: str | None
) -> None:
    """CR-3, CR-4, DESIGN §4: a patient naming themself a stranger's representative is refused
    with ``representation_unverified``, whether they call or a professional collects it; no
    dossier exists afterwards, and the stranger's GP's notes stay out of reach."""
    birth = years_ago(9) if situation == "minor" else ADULT_BIRTH
    stranger, ins = await patient(world, birth)
    attacker = await other_patient(world)
    consent = _claim(giver, attacker.principal)
    if giver == "protection_person":
        consent["holder_opinion"] = "d'accord"
    status, answer = await post_dossier(
        world, attacker, ins, birth, consent=consent, protection=protection
    )
    assert verdict(status, answer) == UNVERIFIED
    collector = await world.professional()
    status, answer = await post_dossier(
        world, collector, ins, birth, consent=consent, protection=protection
    )
    assert verdict(status, answer) == UNVERIFIED
    assert not await redis.exists(redis_keys.dossier(ins))
    gp = await world.professional()
    path = f"/v1/dossiers/{ins}/medecin-traitant"
    status, answer = await dossier_call(
        world, attacker, "PUT", path, {"professional": gp.principal}
    )
    assert verdict(status, answer) == UNVERIFIED
    status, answer = await dossier_call(world, stranger, "GET", f"/v1/dossiers/{ins}")
    assert verdict(status, answer) == (404, "dossier_not_found")


@pytest.mark.parametrize("regime", ["express", "opt_out"])
async def test_a_stranger_cannot_object_for_a_minor(
    aiohttp_client: AiohttpClient, settings: Settings, redis: Redis, regime: str
) -> None:
    """CR-5, CR-8, CR-9: only the holder or a recorded representative objects; a stranger's
    objection against a minor's INS is refused, and the real parent still creates (or, in
    opt-out, the operator does)."""
    world = await world_with(aiohttp_client, settings, redis, dossier_regime=regime)
    birth = years_ago(7)
    _, ins = await patient(world, birth)
    stranger = await other_patient(world)
    objection = f"/v1/dossiers/{ins}/objection"
    status, answer = await dossier_call(world, stranger, "PUT", objection, {"objected": True})
    assert verdict(status, answer) == UNVERIFIED
    assert not await redis.exists(redis_keys.dossier_objection(ins))
    parent = await other_patient(world)
    await represent(world, ins, parent)
    if regime == "express":
        consent = {
            "given_by": "legal_representative",
            "name": "M. Petit",
            "representative": parent.principal,
        }
        status, answer = await post_dossier(world, parent, ins, birth, consent=consent)
    else:
        status, answer = await _admin(world, "POST", "/v1/admin/dossiers", {"ins": ins})
    assert verdict(status, answer) == (201, None)


# --- the legitimate paths ---------------------------------------------------------------------


async def test_a_recorded_parent_objects_creates_and_acts_for_the_minor(world: World) -> None:
    """CR-3, CR-5, CR-8: the recorded legal representative objects, withdraws, consents and
    creates; the summary says on what basis each one acts; the minor holder reads but the
    holder's acts are the parent's (``minor_holder``)."""
    birth = years_ago(12)
    child, ins = await patient(world, birth)
    parent = await other_patient(world)
    await represent(world, ins, parent)
    objection = f"/v1/dossiers/{ins}/objection"
    for objected in (True, False):
        status, answer = await dossier_call(world, parent, "PUT", objection, {"objected": objected})
        assert verdict(status, answer) == (204, None)
    status, answer = await dossier_call(world, child, "PUT", objection, {"objected": True})
    assert verdict(status, answer) == (403, "minor_holder")
    consent = {
        "given_by": "legal_representative",
        "name": "M. Petit",
        "representative": parent.principal,
    }
    status, created = await post_dossier(world, parent, ins, birth, consent=consent)
    assert verdict(status, created) == (201, None)
    assert created["consent"]["representative"] == parent.principal
    bases = {}
    for who, device in (("parent", parent), ("child", child)):
        status, summary = await dossier_call(world, device, "GET", f"/v1/dossiers/{ins}")
        assert verdict(status, summary) == (200, None)
        bases[who] = summary["your_basis"]
    assert bases == {"parent": "representative", "child": "holder"}
    gp = await world.professional()
    path = f"/v1/dossiers/{ins}/medecin-traitant"
    status, answer = await dossier_call(world, child, "PUT", path, {"professional": gp.principal})
    assert verdict(status, answer) == (403, "minor_holder")
    status, answer = await dossier_call(world, parent, "PUT", path, {"professional": gp.principal})
    assert verdict(status, answer) == (200, None)
    status, answer = await dossier_call(world, parent, "PUT", objection, {"objected": True})
    assert verdict(status, answer) == (409, "dossier_exists")  # CR-9: close it instead


async def test_a_legal_representation_ends_at_majority_paris_time(world: World) -> None:
    """CR-3, CR-7: the operator's record ends a legal representative's rights at 00:00
    Europe/Paris on the holder's 18th birthday, and the listing says so."""
    birth = years_ago(17)
    _, ins = await patient(world, birth)
    parent = await other_patient(world)
    rid = await represent(world, ins, parent)
    status, listing = await _admin(world, "GET", f"/v1/admin/representations?holder={ins}")
    assert verdict(status, listing) == (200, None)
    [seen] = listing["representations"]
    majority = datetime(birth.year + 18, birth.month, birth.day, tzinfo=ZoneInfo("Europe/Paris"))
    assert (seen["id"], seen["kind"], seen["live"]) == (rid, "legal_representative", True)
    assert seen["ends_at"] == utc(majority)
    status, by_parent = await _admin(
        world, "GET", f"/v1/admin/representations?representative={parent.principal}"
    )
    assert [r["id"] for r in by_parent["representations"]] == [rid]


async def test_a_protection_person_acts_until_valid_until(
    aiohttp_client: AiohttpClient, settings: Settings, redis: Redis
) -> None:
    """CR-4, DESIGN §4: a protection person acts for the adult holder until ``valid_until``;
    then the rights are gone, the end is logged in the dossier and the holder is told."""
    world = await world_with(aiohttp_client, settings, redis, purge_interval_seconds=0.05)
    holder, guardian, ins = await represented_dossier(world, "protected")
    path = f"/v1/dossiers/{ins}/emergency-opposition"
    status, answer = await dossier_call(world, guardian, "PUT", path, {"opposed": True})
    assert verdict(status, answer) == (200, None)
    # A second, short-lived measure for another person: it ends while the test watches.
    curator = await other_patient(world)
    until = utc(datetime.now(UTC) + timedelta(seconds=1))
    await represent(world, ins, curator, "protection_person", valid_until=until)
    status, answer = await dossier_call(world, curator, "PUT", path, {"opposed": False})
    assert verdict(status, answer) == (200, None)

    async def ended() -> bool:
        status, answer = await dossier_call(world, curator, "GET", f"/v1/dossiers/{ins}")
        return verdict(status, answer) == UNVERIFIED

    await eventually(ended)

    async def logged() -> bool:
        _, log = await dossier_call(world, holder, "GET", f"/v1/dossiers/{ins}/access-log")
        ends = [e for e in log["entries"] if e["action"] == "representation_ended"]
        return [(e["target"], e["detail"]) for e in ends] == [(curator.principal, "valid_until")]

    await eventually(logged)
    [told] = await notifications(world, holder, "dossier.representation_ended")
    assert (told["representative"], told["reason"]) == (curator.principal, "valid_until")
    status, answer = await dossier_call(world, guardian, "GET", f"/v1/dossiers/{ins}")
    assert verdict(status, answer) == (200, None)


@pytest.fixture
def second_server(redis_url: str, redis_mode: str, tmp_path: Path) -> Iterator[ServerProcess]:
    process = ServerProcess(redis_url, tmp_path / "second", ADMIN_TOKEN, redis_mode=redis_mode)
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.mark.slow
async def test_removal_ends_the_rights_at_once_in_another_process(
    world: World, second_server: ServerProcess
) -> None:
    """DESIGN §4: removing a representation ends its rights at once, in every server process
    (nothing is cached); the end is logged in the dossier and the holder is told."""
    holder, parent, ins = await represented_dossier(world)
    url = f"{second_server.url}/v1/dossiers/{ins}"
    async with aiohttp.ClientSession(headers=parent.headers) as session:
        async with session.get(url) as response:
            assert response.status == 200
            assert (await response.json())["your_basis"] == "representative"
        status, listing = await _admin(world, "GET", f"/v1/admin/representations?holder={ins}")
        [rid] = [r["id"] for r in listing["representations"]]
        status, _ = await _admin(world, "DELETE", f"/v1/admin/representations/{rid}")
        assert status == 204
        async with session.get(url) as response:
            assert verdict(response.status, await response.json()) == UNVERIFIED
    status, log = await dossier_call(world, holder, "GET", f"/v1/dossiers/{ins}/access-log")
    [ended] = [e for e in log["entries"] if e["action"] == "representation_ended"]
    assert (ended["actor"], ended["target"], ended["detail"]) == (
        "operator",
        parent.principal,
        "removed",
    )
    assert log["chain_ok"] is True
    [told] = await notifications(world, holder, "dossier.representation_ended")
    assert (told["representative"], told["reason"]) == (parent.principal, "removed")
    status, _ = await _admin(world, "DELETE", f"/v1/admin/representations/{rid}")
    assert status == 404


async def test_a_collected_consent_is_logged_and_told_to_holder_and_representatives(
    world: World,
) -> None:
    """CR-1, issue 7: a professional who collected the consent creates the dossier; it is
    recorded as ``collected_by``, logged, and the holder and its representatives are told."""
    birth = years_ago(10)
    child, ins = await patient(world, birth)
    parent = await other_patient(world)
    await represent(world, ins, parent)
    nurse = await world.professional()
    consent = {
        "given_by": "legal_representative",
        "name": "M. Petit",
        "representative": parent.principal,
    }
    status, created = await post_dossier(world, nurse, ins, birth, consent=consent)
    assert verdict(status, created) == (201, None)
    for device in (child, parent):
        [told] = await notifications(world, device, "dossier.created")
        assert (told["ins"], told["collected_by"]) == (ins, nurse.principal)
    status, log = await dossier_call(world, parent, "GET", f"/v1/dossiers/{ins}/access-log")
    assert [(e["actor"], e["action"]) for e in log["entries"][:2]] == [
        (nurse.principal, "create"),
        (nurse.principal, "consent"),
    ]


async def test_a_holder_without_a_device_hears_of_the_collected_consent_on_enrolling(
    world: World,
) -> None:
    """CR-1, issue 7: the holder is told who collected the consent as soon as they have a
    device; the notice waits for the first device they enroll, then reaches it once."""
    ins = new_ins(ADULT_BIRTH)
    holder = await world.principal(
        f"patient:{ins}",
        kind="patient",
        profession=None,
        birth_date=ADULT_BIRTH.isoformat(),
    )
    nurse = await world.professional()
    consent = {"given_by": "holder", "name": "Mme Durand"}
    status, _ = await post_dossier(world, nurse, ins, consent=consent)
    assert status == 201
    first = await world.enroll(holder)
    [told] = await notifications(world, first, "dossier.created")
    assert (told["ins"], told["collected_by"]) == (ins, nurse.principal)
    assert told["checkpoint"]["seq"] >= 2
    second = await world.enroll(holder)
    assert await notifications(world, second, "dossier.created") == []


# --- the operator's API -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        pytest.param({}, (201, None), id="recorded"),
        pytest.param({"kind": "protection_person"}, (400, "invalid_request"), id="CR-4 minor"),
        pytest.param({"representative": "self"}, (400, "invalid_request"), id="self"),
        pytest.param({"representative": "unknown"}, (400, "invalid_request"), id="unknown"),
        pytest.param({"holder": "unregistered"}, (400, "invalid_request"), id="no identity"),
        pytest.param({"valid_until": "past"}, (400, "invalid_request"), id="already ended"),
        pytest.param({"evidence": ""}, (400, "invalid_request"), id="no evidence"),
        pytest.param({"extra": "x"}, (400, "invalid_request"), id="unknown member"),
        pytest.param({"token": "patient"}, (403, "operator_only"), id="not the operator"),
    ],
)
async def test_the_operator_records_only_verifiable_representations(
    world: World, change: dict[str, str], expected: tuple[int, str | None]
) -> None:
    """DESIGN §4: a representation links two registered identities the authority verified;
    a legal representative is for a minor (CR-3), a protection person for an adult (CR-4)."""
    child, ins = await patient(world, years_ago(5))
    parent = await other_patient(world)
    body: dict[str, Any] = {
        "holder": ins,
        "representative": parent.principal,
        "kind": "legal_representative",
        "evidence": "livret de famille",
    }
    headers = world.operator
    for key, value in change.items():
        if key == "token":
            headers = parent.headers
        elif key == "representative":
            body[key] = child.principal if value == "self" else "patient:253072A07300443"
        elif key == "holder":
            body[key] = "253072A07300443"
        elif key == "valid_until":
            body[key] = "2020-01-01T00:00:00Z"
        else:
            body[key] = value
    response = await world.client.post("/v1/admin/representations", json=body, headers=headers)
    answer = await response.json()
    assert verdict(response.status, answer) == expected


async def test_representations_are_kept_under_the_holders_tag(
    world: World, redis: Redis, redis_link: RedisLink
) -> None:
    """DESIGN §7: the record sits under the holder's dossier tag, the index under the
    representative's; ``is_live_representative`` reads Redis, never a cache."""
    _, ins = await patient(world, years_ago(3))
    parent = await other_patient(world)
    rid = await represent(world, ins, parent)
    raw = await redis.hget(redis_keys.representations(ins), rid)
    assert raw is not None
    assert json.loads(raw)["representative"] == parent.principal
    assert await redis.hget(redis_keys.represents(parent.principal), rid) == ins.encode()
    store = RepresentationStore(redis_link)
    now = datetime.now(UTC)
    assert await store.is_live_representative(ins, parent.principal, now)
    assert not await store.is_live_representative(ins, "patient:253072A07300443", now)
    await redis.hdel(redis_keys.representations(ins), rid)
    assert not await store.is_live_representative(ins, parent.principal, now)
