"""Identifier rules (ID-1..ID-3) over HTTP with real Redis.

Each test names the RULES.md ids it proves; parametrized cases carry the id in their own name.
"""

from __future__ import annotations

import json
import logging
from datetime import date

import pytest

from tests.dossiers import dossier_call, grant_access, patient, post_dossier, send_linked, verdict
from tests.support import World

HOLDER_CONSENT = {"given_by": "holder", "name": "Mme Durand"}
Verdict = tuple[int, str | None]
CREATED: Verdict = (201, None)


# --- ID-1, ID-2, ID-3 -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ins", "birth", "expected"),
    [
        pytest.param("146026322000196", date(1946, 2, 10), CREATED, id="ID-1 key 96 accepted"),
        pytest.param(
            "146026322000197", date(1946, 2, 10), (400, "invalid_request"), id="ID-1 bad key"
        ),
        pytest.param("253072A07300443", date(1953, 7, 1), CREATED, id="ID-1 Corsica 2A as 19"),
        pytest.param("253072B07300470", date(1953, 7, 1), CREATED, id="ID-1 Corsica 2B as 18"),
        pytest.param(
            "253072B07300443",
            date(1953, 7, 1),
            (400, "invalid_request"),
            id="ID-1 2B with the 2A key",
        ),
        pytest.param(
            "14602632200019", date(1946, 2, 10), (400, "invalid_request"), id="ID-1 14 characters"
        ),
        pytest.param(
            "1460263220001AB",
            date(1946, 2, 10),
            (400, "invalid_request"),
            id="ID-1 letters in the key",
        ),
    ],
)
async def test_dossier_id_is_an_ins_with_its_control_key(
    world: World, ins: str, birth: date, expected: Verdict
) -> None:
    """ID-1: the dossier id is an INS whose 2-digit key is 97 - (N mod 97), Corsica included."""
    collector = await world.professional()
    status, answer = await post_dossier(world, collector, ins, birth, consent=HOLDER_CONSENT)
    assert verdict(status, answer) == expected
    if status == 201:
        assert answer["ins"] == ins
        assert answer["holder"] == f"patient:{ins}"
    else:
        assert ["ins"] in [error["loc"] for error in answer["errors"]]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        pytest.param("GET", "/v1/dossiers/{ins}", id="ID-1 summary path"),
        pytest.param("GET", "/v1/dossiers/{ins}/documents", id="ID-1 documents path"),
        pytest.param("GET", "/v1/dossiers/{ins}/access-log", id="ID-1 log path"),
        pytest.param("POST", "/v1/dossiers/{ins}/close", id="ID-1 close path"),
    ],
)
async def test_ins_with_a_bad_key_is_rejected_in_paths(
    world: World, method: str, path: str
) -> None:
    """ID-1: a path naming an INS with a wrong key is a bad request, not a missing dossier."""
    holder, ins = await patient(world)
    bad = ins[:13] + f"{(int(ins[13:]) % 97) + 1:02d}"
    status, answer = await dossier_call(world, holder, method, path.format(ins=bad))
    assert verdict(status, answer) == (400, "invalid_request")
    assert answer["field"] == "ins"


@pytest.mark.parametrize(
    ("ins", "birth", "expected"),
    [
        pytest.param("146026322000196", date(1946, 2, 28), CREATED, id="ID-2 year and month agree"),
        pytest.param(
            "146026322000196",
            date(1946, 3, 1),
            (400, "invalid_request"),
            id="ID-2 month disagrees",
        ),
        pytest.param(
            "146026322000196",
            date(1947, 2, 1),
            (400, "invalid_request"),
            id="ID-2 year disagrees",
        ),
        pytest.param("146307500000130", date(1946, 11, 3), CREATED, id="ID-2 INS month 30 unknown"),
        pytest.param("146997500000167", date(1946, 6, 1), CREATED, id="ID-2 INS month 99 unknown"),
        pytest.param(
            "146307500000130",
            date(1950, 11, 3),
            (400, "invalid_request"),
            id="ID-2 unknown month still checks the year",
        ),
    ],
)
async def test_ins_birth_year_and_month_agree_with_birth_date(
    world: World, ins: str, birth: date, expected: Verdict
) -> None:
    """ID-2: positions 2-5 of the INS agree with ``birth_date`` (the month only when 01-12)."""
    collector = await world.professional()
    status, answer = await post_dossier(world, collector, ins, birth, consent=HOLDER_CONSENT)
    assert verdict(status, answer) == expected
    if status == 400:
        assert answer["field"] == "birth_date"


@pytest.mark.parametrize(
    ("principal", "expected"),
    [
        pytest.param("rpps:91234567898", CREATED, id="ID-3 Luhn passes"),
        pytest.param("rpps:91234567890", CREATED, id="ID-3 Luhn fails: accepted anyway"),
        pytest.param("rpps:9123456789", (400, "invalid_request"), id="ID-3 10 digits"),
        pytest.param("rpps:912345678901", (400, "invalid_request"), id="ID-3 12 digits"),
        pytest.param("rpps:9123456789A", (400, "invalid_request"), id="ID-3 a letter"),
    ],
)
async def test_rpps_is_eleven_digits_and_luhn_never_rejects(
    world: World, principal: str, expected: Verdict
) -> None:
    """ID-3: the operator API rejects a malformed RPPS, never a failing Luhn check digit."""
    body = {"id": principal, "kind": "professional", "display_name": "Dr Lefèvre"}
    response = await world.client.post("/v1/admin/principals", json=body, headers=world.operator)
    answer = await response.json()
    assert verdict(response.status, answer) == expected
    if response.status == 201:
        assert answer["id"] == principal


async def test_failing_luhn_digit_is_reported_to_the_operator_as_a_warning(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """ID-3: the principal is created (never a rejection) and the operator is warned."""
    body = {"id": "rpps:91234567890", "kind": "professional", "display_name": "Dr Lefèvre"}
    with caplog.at_level(logging.INFO):
        response = await world.client.post(
            "/v1/admin/principals", json=body, headers=world.operator
        )
        text = await response.text()
    assert verdict(response.status, json.loads(text)) == CREATED
    logged = " ".join(record.getMessage() for record in caplog.records)
    assert "luhn" in (text + logged).lower()


async def test_professional_with_failing_luhn_digit_works_on_a_dossier(world: World) -> None:
    """ID-3: a Luhn failure is a warning only: that professional is granted access and writes."""
    doctor = await world.enroll(await world.principal("rpps:91234567890"))
    holder, ins = await patient(world)
    status, answer = await post_dossier(world, holder, ins, consent=HOLDER_CONSENT)
    assert verdict(status, answer) == CREATED
    await grant_access(world, holder, ins, doctor)
    status, answer = await send_linked(world, doctor, [doctor], ins)
    assert status == 202
    assert answer["dossier"]["status"] == "attached"
