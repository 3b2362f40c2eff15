"""No existence oracle and what each reader sees of the log (RD-10, RD-12, TR-6, TR-7) over
HTTP with real Redis, each bypass of issue 16 refused with its documented code."""

from __future__ import annotations

from typing import Any

import pytest
from pytest_aiohttp import AiohttpClient
from redis.asyncio import Redis

from dossier_link.access_log import GENESIS, verify_chain
from messaging.settings import Settings
from tests.dossiers import (
    ADULT_BIRTH,
    attach_document,
    declare_mt,
    dossier_call,
    eventually,
    new_ins,
    notifications,
    open_dossier,
    other_patient,
    patient,
    post_dossier,
    represented_dossier,
    send_linked,
    stored_log,
    verdict,
    world_with,
)
from tests.support import Device, World

ROUTES = [
    ("GET", "", None),
    ("GET", "/documents", None),
    ("GET", "/documents/{doc}", None),
    ("PATCH", "/documents/{doc}", {"masked": True}),
    ("GET", "/access-log", None),
    ("POST", "/grants", {"professional": "{pro}"}),
    ("DELETE", "/grants/{pro}", None),
    ("POST", "/bans", {"professional": "{pro}"}),
    ("DELETE", "/bans/{pro}", None),
    ("PUT", "/medecin-traitant", {"professional": "{pro}"}),
    ("PUT", "/emergency-opposition", {"opposed": True}),
    ("DELETE", "/emergency-access/em_1", None),
    ("POST", "/close", None),
]


async def _ask(
    world: World, device: Device, ins: str, route: tuple[str, str, Any], names: dict[str, str]
) -> tuple[int, str | None]:
    method, path, body = route
    filled = None
    if body is not None:
        filled = {k: v.format(**names) if isinstance(v, str) else v for k, v in body.items()}
    status, answer = await dossier_call(
        world, device, method, f"/v1/dossiers/{ins}" + path.format(**names), filled
    )
    return verdict(status, answer)


@pytest.mark.parametrize("who", ["professional", "patient", "insurer", "closed"])
async def test_no_answer_tells_whether_a_dossier_exists(
    world: World, redis: Redis, who: str
) -> None:
    """RD-12 (issue 16 bypass: 200 ``scope: own`` for an existing INS, 404 for a missing one):
    a caller without a right gets the same answer for a real dossier, a closed one and a
    missing one, on every route; the refused attempt is logged in the real dossier."""
    holder, ins = await open_dossier(world)
    mt = await world.professional()
    await declare_mt(world, holder, ins, mt)
    doc = await attach_document(world, mt, ins)
    if who == "closed":
        status, _ = await dossier_call(world, holder, "POST", f"/v1/dossiers/{ins}/close")
        assert status == 200
    if who == "patient":
        caller = await other_patient(world)
    else:
        caller = await world.professional(roles=["insurer"] if who == "insurer" else None)
    missing = new_ins(ADULT_BIRTH)
    names = {"doc": doc, "pro": (await world.professional()).principal}
    before = len(await stored_log(redis, ins))
    for route in ROUTES:
        real = await _ask(world, caller, ins, route, names)
        absent = await _ask(world, caller, missing, route, names)
        assert real == absent, route
        assert real[0] in (403, 404), route
    logged = await stored_log(redis, ins)
    refused = [e for e in logged[before:] if e["actor"] == caller.principal]
    assert refused
    assert {e["outcome"] for e in refused} == {"refused"}


async def test_a_message_does_not_tell_whether_a_dossier_exists(world: World) -> None:
    """RD-12, W-1: a sender without a right hears ``no_grant`` for a real dossier and for a
    missing one alike."""
    sender, colleague = await world.professional(), await world.professional()
    _, ins = await open_dossier(world)
    outcomes = []
    for target in (ins, new_ins(ADULT_BIRTH)):
        status, answer = await send_linked(world, sender, [colleague], target)
        assert status == 202
        outcomes.append(answer["dossier"]["code"])
    assert outcomes == ["no_grant", "no_grant"]


# --- RD-10 ------------------------------------------------------------------------------------


async def test_a_legal_representative_sees_nothing_of_an_invisible_document(
    world: World,
) -> None:
    """RD-10 (issue 16 bypass: the parent's log showed the confidential write, and the document
    answered 403 ``invisible_to_representatives``): not the document, its entries, its author;
    asking for it is answered exactly as for a document that does not exist."""
    child, parent, ins = await represented_dossier(world)
    doctor = await world.professional()
    await declare_mt(world, parent, ins, doctor)
    secret = await attach_document(
        world, doctor, ins, title="Contraception", invisible_to_legal_representatives=True
    )
    status, _ = await dossier_call(world, doctor, "GET", f"/v1/dossiers/{ins}/documents/{secret}")
    assert status == 200
    url = f"/v1/dossiers/{ins}/documents"
    missing = await world.client.get(f"{url}/doc_absent", headers=parent.headers)
    asked = await world.client.get(f"{url}/{secret}", headers=parent.headers)
    assert asked.status == missing.status == 404
    absent_body, asked_body = await missing.json(), await asked.json()
    assert asked_body == absent_body
    for body in ({"masked": True}, {"hidden_from_holder": True}):  # acting on it tells nothing
        patched = await world.client.patch(f"{url}/{secret}", json=body, headers=parent.headers)
        made_up = await world.client.patch(f"{url}/doc_absent", json=body, headers=parent.headers)
        assert (patched.status, await patched.json()) == (made_up.status, await made_up.json())
    status, listing = await dossier_call(world, parent, "GET", url)
    assert secret not in [d["id"] for d in listing["documents"]]
    status, log = await dossier_call(world, parent, "GET", f"/v1/dossiers/{ins}/access-log")
    assert verdict(status, log) == (200, None)
    text = str(log["entries"])
    assert secret not in text
    assert doctor.principal not in [e.get("actor") for e in log["entries"] if "withheld" not in e]
    withheld = [e for e in log["entries"] if e.get("withheld")]
    assert withheld
    assert all(set(e) == {"seq", "prev", "hash", "withheld"} for e in withheld)
    assert verify_chain(log["entries"]).ok  # the links still verify around what is withheld
    status, full = await dossier_call(world, child, "GET", f"/v1/dossiers/{ins}/access-log")
    assert secret in str(full["entries"])


# --- TR-6 -------------------------------------------------------------------------------------


async def test_reading_the_log_is_logged_and_told_to_the_holder(world: World) -> None:
    """TR-6 (issue 16 bypass: reading the log left no trace): every reading is logged; a
    professional's reading is notified to the holder, the holder's own is not."""
    holder, ins = await open_dossier(world)
    mt = await world.professional()
    await declare_mt(world, holder, ins, mt)
    for reader in (holder, mt, holder):
        status, _ = await dossier_call(world, reader, "GET", f"/v1/dossiers/{ins}/access-log")
        assert status == 200
    status, log = await dossier_call(world, holder, "GET", f"/v1/dossiers/{ins}/access-log")
    readings = [(e["actor"], e["outcome"]) for e in log["entries"] if e["action"] == "read_log"]
    assert readings == [
        (holder.principal, "allowed"),
        (mt.principal, "allowed"),
        (holder.principal, "allowed"),
    ]
    told = await notifications(world, holder, "dossier.accessed")
    assert [(n["actor"], n["action"]) for n in told] == [(mt.principal, "read_log")]
    assert "checkpoint" in told[0]


# --- TR-7 -------------------------------------------------------------------------------------


async def test_a_purged_dossier_leaves_nothing_in_the_next_one(
    aiohttp_client: AiohttpClient, settings: Settings, redis: Redis
) -> None:
    """TR-7 (issue 16 bypass: the old tombstone headed the new log, ``chain_ok: false`` for
    good, old ``closed_at`` visible): a new dossier after a purge has a new, valid chain."""
    world = await world_with(
        aiohttp_client, settings, redis, dossier_retention_seconds=0.1, purge_interval_seconds=0.05
    )
    holder, ins = await patient(world)
    consent = {"given_by": "holder", "name": "Mme Durand"}
    status, _ = await post_dossier(world, holder, ins, consent=consent)
    assert status == 201
    status, closed = await dossier_call(world, holder, "POST", f"/v1/dossiers/{ins}/close")
    assert status == 200

    async def purged() -> bool:
        log = await stored_log(redis, ins)
        return [e["action"] for e in log] == ["purge"]

    await eventually(purged)
    status, created = await post_dossier(world, holder, ins, consent=consent)
    assert verdict(status, created) == (201, None)
    assert (created["closed_at"], created["status"]) == (None, "open")
    status, log = await dossier_call(world, holder, "GET", f"/v1/dossiers/{ins}/access-log")
    assert log["chain_ok"] is True
    assert (log["entries"][0]["seq"], log["entries"][0]["prev"]) == (1, GENESIS)
    assert "purge" not in [e["action"] for e in log["entries"]]
    assert closed["closed_at"] not in str(log)
