"""Creation and consent rules (CR-1..CR-4) over HTTP with real Redis.

Each test names the RULES.md ids it proves; parametrized cases carry the id in their own name.
The opt-out regime (CR-5) is in ``test_dossier_rules_opt_out.py``, closure (CR-6) in
``test_dossier_rules_closure.py``.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from redis.asyncio import Redis

from messaging import redis_keys
from messaging.timeutil import parse_utc
from tests.dossiers import (
    ADULT_BIRTH,
    dossier_call,
    other_patient,
    patient,
    post_dossier,
    represent,
    represented_dossier,
    stored_log,
    verdict,
    years_ago,
)
from tests.support import World

HOLDER_CONSENT = {"given_by": "holder", "name": "Mme Durand"}
Verdict = tuple[int, str | None]
CREATED: Verdict = (201, None)


# --- CR-1: consent first, recorded ------------------------------------------------------------


@pytest.mark.parametrize(
    ("caller", "consent", "expected"),
    [
        pytest.param("holder", None, (403, "consent_missing"), id="CR-1 holder, no consent"),
        pytest.param(
            "professional", None, (403, "consent_missing"), id="CR-1 professional, no consent"
        ),
        pytest.param(
            "holder",
            {"given_by": "holder", "name": "   "},
            (403, "consent_missing"),
            id="CR-1 consent without a name",
        ),
        pytest.param(
            "holder",
            {"given_by": "holder", "name": ""},
            (400, "invalid_request"),
            id="CR-1 empty name",
        ),
        pytest.param(
            "holder",
            {"name": "Mme Durand"},
            (400, "invalid_request"),
            id="CR-1 consent without a giver",
        ),
        pytest.param(
            "stranger",
            HOLDER_CONSENT,
            (403, "representation_unverified"),
            id="CR-1 another patient claims the holder's consent",
        ),
    ],
)
async def test_no_dossier_exists_without_recorded_consent(
    world: World, redis: Redis, caller: str, consent: dict[str, Any] | None, expected: Verdict
) -> None:
    """CR-1: in the default regime a dossier exists only once a consent is recorded."""
    holder, ins = await patient(world)
    callers = {
        "holder": holder,
        "professional": await world.professional(),
        "stranger": await other_patient(world),
    }
    status, answer = await post_dossier(world, callers[caller], ins, consent=consent)
    assert verdict(status, answer) == expected
    status, answer = await dossier_call(world, holder, "GET", f"/v1/dossiers/{ins}")
    assert verdict(status, answer) == (404, "dossier_not_found")
    assert not await redis.exists(redis_keys.dossier(ins), redis_keys.dossier_log(ins))


async def test_consent_record_keeps_giver_capacity_collector_and_time(
    world: World, redis: Redis
) -> None:
    """CR-1: the record says who consented, in which capacity, who collected it, and when."""
    collector = await world.professional()
    holder, ins = await patient(world)
    before = datetime.now(UTC)
    status, answer = await post_dossier(world, collector, ins, consent=HOLDER_CONSENT)
    assert verdict(status, answer) == CREATED
    status, summary = await dossier_call(world, holder, "GET", f"/v1/dossiers/{ins}")
    assert verdict(status, summary) == (200, None)
    record = summary["consent"]
    assert {k: record[k] for k in ("given_by", "name", "collected_by", "regime")} == {
        "given_by": "holder",
        "name": "Mme Durand",
        "collected_by": collector.principal,
        "regime": "express",
    }
    assert before - timedelta(seconds=1) <= parse_utc(record["at"]) <= datetime.now(UTC)
    created = [e for e in await stored_log(redis, ins) if e["action"] in ("create", "consent")]
    assert [(e["action"], e["actor"], e["outcome"]) for e in created] == [
        ("create", collector.principal, "allowed"),
        ("consent", collector.principal, "allowed"),
    ]
    assert created[1]["detail"] == "holder"


# --- CR-2, CR-3, CR-4: who may consent --------------------------------------------------------

ADULT, MINOR, EIGHTEEN_TODAY, EIGHTEEN_TOMORROW = "adult", "minor", "18 today", "18 tomorrow"


def _birth(age: str) -> date:
    return {
        ADULT: ADULT_BIRTH,
        MINOR: years_ago(10),
        EIGHTEEN_TODAY: years_ago(18),
        EIGHTEEN_TOMORROW: years_ago(18, days=1),
    }[age]


OPINION = "souhaite que son dossier soit créé"

CONSENT_CASES = [
    # age, protection, given_by, representative, holder_opinion, caller, expected
    pytest.param(ADULT, None, "holder", None, None, "holder", CREATED, id="CR-2 adult consents"),
    pytest.param(
        ADULT, None, "holder", None, None, "pro", CREATED, id="CR-2 adult's consent collected"
    ),
    pytest.param(
        EIGHTEEN_TODAY,
        None,
        "holder",
        None,
        None,
        "holder",
        CREATED,
        id="CR-2 CR-3 adult on the 18th birthday",
    ),
    pytest.param(
        ADULT,
        None,
        "holder",
        "rep",
        None,
        "holder",
        (403, "representative_not_allowed"),
        id="CR-2 adult names a representative",
    ),
    pytest.param(
        ADULT,
        None,
        "legal_representative",
        "rep",
        None,
        "rep",
        (403, "holder_must_consent"),
        id="CR-2 representative for an adult",
    ),
    pytest.param(
        ADULT,
        None,
        "protection_person",
        "rep",
        OPINION,
        "rep",
        (403, "holder_must_consent"),
        id="CR-2 protection person without a protection measure",
    ),
    pytest.param(
        MINOR,
        None,
        "holder",
        None,
        None,
        "holder",
        (403, "minor_needs_representative"),
        id="CR-3 minor's own consent",
    ),
    pytest.param(
        MINOR,
        None,
        "holder",
        None,
        None,
        "pro",
        (403, "minor_needs_representative"),
        id="CR-3 minor's own consent collected by a professional",
    ),
    pytest.param(
        EIGHTEEN_TOMORROW,
        None,
        "holder",
        None,
        None,
        "holder",
        (403, "minor_needs_representative"),
        id="CR-3 minor until the 18th birthday",
    ),
    pytest.param(
        MINOR,
        None,
        "legal_representative",
        "rep",
        None,
        "rep",
        CREATED,
        id="CR-3 legal representative consents",
    ),
    pytest.param(
        MINOR,
        None,
        "legal_representative",
        "rep",
        None,
        "pro",
        CREATED,
        id="CR-3 representative's consent collected",
    ),
    pytest.param(
        MINOR,
        None,
        "legal_representative",
        None,
        None,
        "pro",
        (403, "minor_needs_representative"),
        id="CR-3 representative not named",
    ),
    pytest.param(
        MINOR,
        None,
        "legal_representative",
        "holder",
        None,
        "holder",
        (403, "minor_needs_representative"),
        id="CR-3 minor names themself as representative",
    ),
    pytest.param(
        MINOR,
        None,
        "legal_representative",
        "pro",
        None,
        "pro",
        (403, "representative_not_allowed"),
        id="CR-3 representative is not a patient principal",
    ),
    pytest.param(
        MINOR,
        None,
        "legal_representative",
        "rep",
        None,
        "stranger",
        (403, "representation_unverified"),
        id="CR-3 someone else claims to be the representative",
    ),
    pytest.param(
        MINOR,
        "representation",
        "protection_person",
        "rep",
        OPINION,
        "rep",
        (403, "minor_needs_representative"),
        id="CR-3 protection flag on a minor changes nothing",
    ),
    pytest.param(
        ADULT,
        "representation",
        "protection_person",
        "rep",
        OPINION,
        "rep",
        CREATED,
        id="CR-4 protection person with holder's opinion",
    ),
    pytest.param(
        ADULT,
        "representation",
        "protection_person",
        None,
        OPINION,
        "pro",
        CREATED,
        id="CR-4 protection person's consent collected, no principal named",
    ),
    pytest.param(
        ADULT,
        "representation",
        "protection_person",
        "rep",
        None,
        "rep",
        (403, "holder_opinion_required"),
        id="CR-4 holder's opinion missing",
    ),
    pytest.param(
        ADULT,
        "representation",
        "protection_person",
        "rep",
        "   ",
        "rep",
        (403, "holder_opinion_required"),
        id="CR-4 holder's opinion blank",
    ),
    pytest.param(
        ADULT,
        "representation",
        "holder",
        None,
        None,
        "holder",
        CREATED,
        id="CR-4 protected adult able to consent personally",
    ),
    pytest.param(
        ADULT,
        "representation",
        "legal_representative",
        "rep",
        None,
        "rep",
        (403, "holder_must_consent"),
        id="CR-4 legal representative is not the protection person",
    ),
    pytest.param(
        ADULT,
        "representation",
        "protection_person",
        "pro",
        OPINION,
        "pro",
        (403, "representative_not_allowed"),
        id="CR-4 protection person is not a patient principal",
    ),
    pytest.param(
        ADULT,
        "representation",
        "protection_person",
        "holder",
        OPINION,
        "holder",
        (403, "representative_not_allowed"),
        id="CR-4 holder names themself as protection person",
    ),
]


@pytest.mark.parametrize(
    ("age", "protection", "given_by", "representative", "opinion", "caller", "expected"),
    CONSENT_CASES,
)
async def test_consent_capacity_fits_the_holder_situation(
    world: World,
    age: str,
    protection: str | None,
    given_by: str,
    representative: str | None,
    opinion: str | None,
    caller: str,
    expected: Verdict,
) -> None:
    """CR-2, CR-3, CR-4: adult personally; minor by the legal representative (never on their
    own consent); protected adult by the protection person with the holder's opinion."""
    birth = _birth(age)
    holder, ins = await patient(world, birth)
    people = {
        "holder": holder,
        "rep": await other_patient(world),
        "pro": await world.professional(),
        "stranger": await other_patient(world),
    }
    if "rep" in (representative, caller):
        # The operator recorded "rep": a minor's legal representative, an adult's protection
        # person (DESIGN §4); the consent's capacity is then judged on its own.
        kind = "legal_representative" if age != ADULT else "protection_person"
        await represent(world, ins, people["rep"], kind)
    consent: dict[str, Any] = {"given_by": given_by, "name": "M. Petit"}
    if representative is not None:
        consent["representative"] = people[representative].principal
    if opinion is not None:
        consent["holder_opinion"] = opinion
    status, answer = await post_dossier(
        world, people[caller], ins, birth, consent=consent, protection=protection
    )
    assert verdict(status, answer) == expected
    status, summary = await dossier_call(world, holder, "GET", f"/v1/dossiers/{ins}")
    if expected != CREATED:
        assert verdict(status, summary) == (404, "dossier_not_found")
        return
    assert verdict(status, summary) == (200, None)
    assert summary["consent"]["given_by"] == given_by
    if opinion is not None:
        assert summary["consent"]["holder_opinion"] == opinion
    if representative is not None:
        named = people[representative]
        assert summary["consent"]["representative"] == named.principal
        status, seen = await dossier_call(world, named, "GET", f"/v1/dossiers/{ins}")
        assert verdict(status, seen) == (200, None)
        assert seen["your_basis"] == "representative"


@pytest.mark.parametrize(
    ("situation", "after_majority"),
    [
        pytest.param(
            "minor",
            (403, "representation_unverified"),
            id="CR-3 CR-7 parent's rights end at majority",
        ),
        pytest.param("protected", (200, None), id="CR-4 protection person's rights stay"),
    ],
)
async def test_representative_rights_end_with_the_holder_minority(
    world: World, redis: Redis, situation: str, after_majority: tuple[int, str | None]
) -> None:
    """CR-3: a legal representative acts for a minor holder until their 18th birthday, then the
    holder acts alone; a protection measure's representative (CR-4) is not bound to an age."""
    _, representative, ins = await represented_dossier(world, situation)
    path = f"/v1/dossiers/{ins}/emergency-opposition"
    status, answer = await dossier_call(world, representative, "PUT", path, {"opposed": True})
    assert verdict(status, answer) == (200, None)
    # Time passes: the stored birth date moves back until the holder is of age, and with it the
    # end the operator's record computed for a legal representative (CR-7).
    key = redis_keys.dossier(ins)
    state = json.loads(await redis.hget(key, "state") or b"{}")
    state["birth_date"] = (date.today() - timedelta(days=366 * 19)).isoformat()
    await redis.hset(key, "state", json.dumps(state))
    recorded = redis_keys.representations(ins)
    for rid, raw in (await redis.hgetall(recorded)).items():
        representation = json.loads(raw)
        if representation["ends_at"] is not None:
            representation["ends_at"] = "2000-01-01T00:00:00.000Z"
        await redis.hset(recorded, rid, json.dumps(representation))
    status, answer = await dossier_call(world, representative, "PUT", path, {"opposed": False})
    assert verdict(status, answer) == after_majority
