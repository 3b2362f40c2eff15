"""The verified identity and who acts for whom (ID-4, CR-7, CR-8, CR-9) over HTTP with real
Redis, each bypass of issue 16 refused with its documented code."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pytest_aiohttp import AiohttpClient
from redis.asyncio import Redis

from messaging import redis_keys
from messaging.settings import Settings
from tests.dossiers import (
    ADULT_BIRTH,
    attach_document,
    declare_mt,
    dossier_call,
    grant_access,
    new_ins,
    other_patient,
    patient,
    post_dossier,
    read_verdict,
    represent,
    represented_dossier,
    verdict,
    world_with,
)
from tests.support import World

HOLDER_CONSENT = {"given_by": "holder", "name": "Léo Martin"}


def _paris_years_ago(years: int, *, days: int = 0) -> date:
    """The date ``years`` before today in Paris, moved ``days`` later (28 Feb for 29 Feb)."""
    today = datetime.now(ZoneInfo("Europe/Paris")).date()
    day = 28 if (today.month, today.day) == (2, 29) else today.day
    return date(today.year - years, today.month, day) + timedelta(days=days)


async def _record_patient(world: World, ins: str, birth: str) -> tuple[int, Any]:
    body = {"id": f"patient:{ins}", "kind": "patient", "display_name": "X", "birth_date": birth}
    response = await world.client.post("/v1/admin/principals", json=body, headers=world.operator)
    return response.status, await response.json()


# --- ID-4 -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("birth", "expected"),
    [
        pytest.param(lambda b: b.isoformat(), (201, None), id="ID-4 the operator records it"),
        pytest.param(lambda b: f"{b.year}-{b.month:02d}", (201, None), id="ID-4 day unknown"),
        pytest.param(
            lambda b: f"{b.year + 100}-{b.month:02d}-01",
            (400, "invalid_request"),
            id="ID-4 a 2-digit year read a century late: in the future",
        ),
        pytest.param(
            lambda b: f"{b.year - 200}-{b.month:02d}-01",
            (400, "invalid_request"),
            id="ID-4 older than 120",
        ),
        pytest.param(
            lambda b: f"{b.year + 1}-{b.month:02d}-01",
            (400, "invalid_request"),
            id="ID-2 ID-4 year disagrees with the INS",
        ),
    ],
)
async def test_the_operator_records_a_birth_date_agreeing_with_the_ins(
    world: World, birth: Any, expected: tuple[int, str | None]
) -> None:
    """ID-4: the birth date is recorded with the patient principal; in the future, older than
    120 or disagreeing with the INS's year and month, it is refused."""
    born = date(1990, 4, 12)
    status, answer = await _record_patient(world, new_ins(born), birth(born))
    assert verdict(status, answer) == expected
    assert "birth_date" not in (answer if status == 201 else {})  # never shown in the directory


async def test_a_child_cannot_declare_itself_born_a_century_earlier(world: World) -> None:
    """ID-4 (issue 16 bypass: ``year % 100``): a 10-year-old, recorded as such, declaring
    1916 to create their dossier alone is refused; patients never set a birth date."""
    born = _paris_years_ago(10)
    child, ins = await patient(world, born)
    old = born.replace(year=born.year - 100).isoformat()
    body: dict[str, Any] = {"ins": ins, "consent": HOLDER_CONSENT}
    status, answer = await dossier_call(world, child, "POST", "/v1/dossiers", body)
    assert verdict(status, answer) == (403, "minor_needs_representative")
    body["birth_date"] = old
    status, answer = await dossier_call(world, child, "POST", "/v1/dossiers", body)
    assert verdict(status, answer) == (403, "birth_date_unverified")


async def test_an_adult_cannot_become_a_minor_by_a_future_date(world: World) -> None:
    """ID-4 (issue 16 bypass: 2085): an unrecorded patient cannot state a birth date at all,
    and a professional attesting one in the future is refused."""
    future = date(2085, 3, 1)
    ins = new_ins(date(1985, 3, 1))
    stranger = await world.enroll(
        await world.principal(f"patient:{ins}", kind="patient", profession=None)
    )
    body = {"ins": ins, "birth_date": future.isoformat(), "consent": HOLDER_CONSENT}
    status, answer = await dossier_call(world, stranger, "POST", "/v1/dossiers", body)
    assert verdict(status, answer) == (403, "birth_date_unverified")
    nurse = await world.professional()
    status, answer = await dossier_call(world, nurse, "POST", "/v1/dossiers", body)
    assert verdict(status, answer) == (400, "invalid_request")
    status, answer = await _record_patient(world, ins, future.isoformat())
    assert verdict(status, answer) == (400, "invalid_request")


async def test_a_professional_attests_the_birth_date_of_an_unenrolled_patient(
    world: World,
) -> None:
    """ID-4, CR-1: for a patient the operator has not recorded, the professional who creates
    the dossier attests the birth date, and the attestation is logged."""
    ins = new_ins(ADULT_BIRTH)
    nurse = await world.professional()
    body = {"ins": ins, "consent": HOLDER_CONSENT}
    status, answer = await dossier_call(world, nurse, "POST", "/v1/dossiers", body)
    assert verdict(status, answer) == (400, "invalid_request")
    body["birth_date"] = ADULT_BIRTH.isoformat()
    status, answer = await dossier_call(world, nurse, "POST", "/v1/dossiers", body)
    assert verdict(status, answer) == (201, None)
    status, log = await dossier_call(world, nurse, "GET", f"/v1/dossiers/{ins}/access-log")
    assert verdict(status, log) == (200, None)
    actions = [(e["actor"], e["action"]) for e in log["entries"]]
    assert (nurse.principal, "attest_birth_date") in actions


# --- CR-7 over HTTP ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("birth", "expected"),
    [
        pytest.param(
            lambda: _paris_years_ago(18, days=1).isoformat(),
            (201, None),
            id="CR-7 18 tomorrow in Paris: still a minor",
        ),
        pytest.param(
            lambda: _paris_years_ago(18).isoformat(),
            (400, "invalid_request"),
            id="CR-7 18 today in Paris: of age since midnight",
        ),
        pytest.param(
            lambda: _paris_years_ago(18, days=1).isoformat()[:7],
            (400, "invalid_request")
            if _paris_years_ago(18, days=1).month == _paris_years_ago(18).month
            else (201, None),
            id="CR-7 day unknown: of age from the 1st of the month",
        ),
    ],
)
async def test_a_legal_representative_is_recorded_only_for_a_minor(
    world: World, birth: Any, expected: tuple[int, str | None]
) -> None:
    """CR-3, CR-7: majority at 00:00 Europe/Paris on the 18th birthday, the earliest possible
    one when the day is unknown; a legal representative is recorded only before it."""
    text: str = birth()
    ins = new_ins(date.fromisoformat(text if len(text) == 10 else f"{text}-01"))
    status, answer = await _record_patient(world, ins, text)
    assert verdict(status, answer) == (201, None)
    parent = await other_patient(world)
    body = {
        "holder": ins,
        "representative": parent.principal,
        "kind": "legal_representative",
        "evidence": "livret de famille",
    }
    response = await world.client.post(
        "/v1/admin/representations", json=body, headers=world.operator
    )
    assert verdict(response.status, await response.json()) == expected


# --- CR-8 -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        pytest.param("POST", "/grants", {"professional": "{pro}"}, id="CR-8 RD-3 grant"),
        pytest.param("POST", "/bans", {"professional": "{pro}"}, id="CR-8 RD-4 ban"),
        pytest.param("DELETE", "/grants/{pro}", None, id="CR-8 RD-9 withdraw"),
        pytest.param("PUT", "/medecin-traitant", {"professional": "{pro}"}, id="CR-8 TR-4 MT"),
        pytest.param("PATCH", "/documents/{doc}", {"masked": True}, id="CR-8 MK-1 mask"),
        pytest.param("PUT", "/emergency-opposition", {"opposed": True}, id="CR-8 opposition"),
        pytest.param("POST", "/close", None, id="CR-8 CR-6 close"),
    ],
)
async def test_a_minor_holders_acts_are_the_legal_representatives(
    world: World, method: str, path: str, body: dict[str, Any] | None
) -> None:
    """CR-8: while the holder is a minor, these acts are the legal representative's; the minor
    is refused with ``minor_holder`` and the parent is not."""
    child, parent, ins = await represented_dossier(world)
    pro = await world.professional()
    await grant_access(world, parent, ins, pro)
    doc = await attach_document(world, pro, ins)
    names = {"pro": pro.principal, "doc": doc}
    url = f"/v1/dossiers/{ins}" + path.format(**names)
    filled = {k: v.format(**names) if isinstance(v, str) else v for k, v in (body or {}).items()}
    status, answer = await dossier_call(world, child, method, url, filled if body else None)
    assert verdict(status, answer) == (403, "minor_holder")
    status, answer = await dossier_call(world, parent, method, url, filled if body else None)
    assert status < 300, answer


async def test_a_minor_reads_and_keeps_a_consultation_from_the_parent(world: World) -> None:
    """CR-8, RD-10 (L1111-5): the minor reads the dossier; at their request the author marks a
    document invisible to legal representatives, and the parent then cannot tell it exists."""
    child, parent, ins = await represented_dossier(world)
    doctor = await world.professional()
    await declare_mt(world, parent, ins, doctor)
    doc = await attach_document(world, doctor, ins)
    assert await read_verdict(world, child, ins, doc) == (200, None)
    assert await read_verdict(world, parent, ins, doc) == (200, None)
    patch = {"invisible_to_legal_representatives": True}
    url = f"/v1/dossiers/{ins}/documents/{doc}"
    status, answer = await dossier_call(world, parent, "PATCH", url, patch)
    assert verdict(status, answer) == (403, "no_professional_capacity")
    status, answer = await dossier_call(world, doctor, "PATCH", url, patch)
    assert verdict(status, answer) == (204, None)
    assert await read_verdict(world, child, ins, doc) == (200, None)
    assert await read_verdict(world, parent, ins, doc) == (404, "not_found")


async def test_a_protection_person_objects_for_the_protected_adult(
    aiohttp_client: AiohttpClient, settings: Settings, redis: Redis
) -> None:
    """CR-8 (issue 16 bypass: a protection person could not object), CR-5."""
    world = await world_with(aiohttp_client, settings, redis, dossier_regime="opt_out")
    _, ins = await patient(world)
    guardian = await other_patient(world)
    await represent(world, ins, guardian, "protection_person")
    path = f"/v1/dossiers/{ins}/objection"
    status, answer = await dossier_call(world, guardian, "PUT", path, {"objected": True})
    assert verdict(status, answer) == (204, None)
    response = await world.client.post(
        "/v1/admin/dossiers", json={"ins": ins}, headers=world.operator
    )
    assert verdict(response.status, await response.json()) == (403, "objection_registered")


# --- CR-9 -------------------------------------------------------------------------------------


@pytest.mark.parametrize("objected", [True, False])
async def test_an_objection_after_creation_is_refused(world: World, objected: bool) -> None:
    """CR-9 (issue 16 bypass: 204 doing nothing): after creation the objection answers
    ``dossier_exists``; the holder closes the dossier instead (CR-6)."""
    holder, ins = await patient(world)
    status, _ = await post_dossier(world, holder, ins, consent=HOLDER_CONSENT)
    assert status == 201
    path = f"/v1/dossiers/{ins}/objection"
    status, answer = await dossier_call(world, holder, "PUT", path, {"objected": objected})
    assert verdict(status, answer) == (409, "dossier_exists")


async def test_a_former_representative_cannot_withdraw_an_objection(
    world: World, redis: Redis
) -> None:
    """CR-7, CR-9 (issue 16 bypass: whoever registered it withdrew it after the holder's
    majority): once the representation has ended, the former parent's withdrawal is refused."""
    _, ins = await patient(world, _paris_years_ago(17))
    parent = await other_patient(world)
    rid = await represent(world, ins, parent)
    path = f"/v1/dossiers/{ins}/objection"
    status, answer = await dossier_call(world, parent, "PUT", path, {"objected": True})
    assert verdict(status, answer) == (204, None)
    # Time passes: the holder comes of age, which ends the recorded representation.
    key = redis_keys.representations(ins)
    representation = json.loads(await redis.hget(key, rid) or b"{}")
    representation["ends_at"] = "2000-01-01T00:00:00.000Z"
    await redis.hset(key, rid, json.dumps(representation))
    status, answer = await dossier_call(world, parent, "PUT", path, {"objected": False})
    assert verdict(status, answer) == (403, "representation_unverified")
    assert await redis.exists(redis_keys.dossier_objection(ins))
