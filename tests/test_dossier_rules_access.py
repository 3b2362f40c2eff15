"""Who reads a dossier (RD-1, RD-4, RD-5, RD-6, RD-7, RD-9) over HTTP with real Redis.

Masking, hiding and the holder's own view (RD-2, RD-3, RD-8, MK-*, HD-1) are in
``test_dossier_rules_visibility.py``.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.dossiers import (
    attach_document,
    ban_professional,
    declare_mt,
    dossier_call,
    grant_access,
    listed,
    open_dossier,
    other_patient,
    patient,
    post_dossier,
    read_verdict,
    represented_dossier,
    send_linked,
    verdict,
)
from tests.support import Device, World

Verdict = tuple[int, str | None]
OK: Verdict = (200, None)


# --- RD-1 -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("standing", "expected", "basis"),
    [
        pytest.param("none", (403, "no_grant"), None, id="RD-1 no consent, no access"),
        pytest.param("consent", OK, "grant", id="RD-1 consent grant reads"),
        pytest.param("care_team", OK, "care_team", id="RD-1 care-team membership reads"),
        pytest.param(
            "other dossier", (403, "no_grant"), None, id="RD-1 grant on another dossier only"
        ),
    ],
)
async def test_reading_needs_the_holders_consent_or_care_team(
    world: World, standing: str, expected: Verdict, basis: str | None
) -> None:
    """RD-1: a professional reads only on a consent-basis grant or as a care-team member."""
    mt = await world.professional()
    reader = await world.professional()
    holder, ins = await open_dossier(world)
    await declare_mt(world, holder, ins, mt)
    doc = await attach_document(world, mt, ins)
    if standing in ("consent", "care_team"):
        await grant_access(world, holder, ins, reader, basis=standing)
    elif standing == "other dossier":
        other_holder, other_ins = await open_dossier(world)
        await grant_access(world, other_holder, other_ins, reader)

    status, summary = await dossier_call(world, reader, "GET", f"/v1/dossiers/{ins}")
    assert verdict(status, summary) == expected
    if status == 200:
        assert summary["your_basis"] == basis
    assert await read_verdict(world, reader, ins, doc) == expected
    assert await listed(world, reader, ins) == ([doc] if expected == OK else None)


# --- RD-4 -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("actor", "method", "path", "body"),
    [
        pytest.param("banned", "GET", "", None, id="RD-4 banned views the summary"),
        pytest.param("banned", "GET", "/documents", None, id="RD-4 banned lists"),
        pytest.param("banned", "GET", "/documents/{mt_doc}", None, id="RD-4 banned reads"),
        pytest.param(
            "banned", "GET", "/documents/{own_doc}", None, id="RD-4 RD-5 banned author reads own"
        ),
        pytest.param("banned", "GET", "/access-log", None, id="RD-4 TR-3 banned reads the log"),
        pytest.param(
            "banned",
            "POST",
            "/emergency-access",
            {"reason": "malaise grave"},
            id="RD-4 EM-1 banned opens an emergency",
        ),
        pytest.param(
            "banned",
            "PATCH",
            "/documents/{own_doc}",
            {"hidden_from_holder": True},
            id="RD-4 W-3 HD-1 banned author hides own",
        ),
        pytest.param(
            "holder",
            "POST",
            "/grants",
            {"professional": "{banned}", "level": "extended"},
            id="RD-4 grant to a banned professional",
        ),
        pytest.param(
            "holder",
            "PUT",
            "/medecin-traitant",
            {"professional": "{banned}"},
            id="RD-4 banned professional as MT",
        ),
    ],
)
async def test_ban_overrides_every_other_basis(
    world: World, actor: str, method: str, path: str, body: dict[str, Any] | None
) -> None:
    """RD-4: a banned professional reads and writes nothing, whatever grant they had."""
    mt = await world.professional()
    banned = await world.professional()
    holder, ins = await open_dossier(world)
    await declare_mt(world, holder, ins, mt)
    await grant_access(world, holder, ins, banned, "extended")
    mt_doc = await attach_document(world, mt, ins)
    own_doc = await attach_document(world, banned, ins)
    await ban_professional(world, holder, ins, banned)

    names = {"mt_doc": mt_doc, "own_doc": own_doc, "banned": banned.principal}
    filled = None
    if body is not None:
        filled = {k: v.format(**names) if isinstance(v, str) else v for k, v in body.items()}
    device = banned if actor == "banned" else holder
    url = f"/v1/dossiers/{ins}" + path.format(**names)
    status, answer = await dossier_call(world, device, method, url, filled)
    assert verdict(status, answer) == (403, "banned")
    status, summary = await dossier_call(world, holder, "GET", f"/v1/dossiers/{ins}")
    assert summary["bans"] == [banned.principal]
    assert summary["grants"] == []
    assert summary["medecin_traitant"] == mt.principal


async def test_banning_the_mt_is_refused_until_the_holder_changes_mt(world: World) -> None:
    """RD-4: the current MT cannot be banned; after a change of MT the ban is allowed."""
    first_mt = await world.professional()
    second_mt = await world.professional()
    holder, ins = await open_dossier(world)
    await declare_mt(world, holder, ins, first_mt)
    bans = f"/v1/dossiers/{ins}/bans"
    status, answer = await dossier_call(
        world, holder, "POST", bans, {"professional": first_mt.principal}
    )
    assert verdict(status, answer) == (403, "cannot_ban_medecin_traitant")
    assert await listed(world, first_mt, ins) == []

    await declare_mt(world, holder, ins, second_mt)
    status, answer = await dossier_call(
        world, holder, "POST", bans, {"professional": first_mt.principal}
    )
    assert verdict(status, answer) == (201, None)
    assert answer["bans"] == [first_mt.principal]
    status, answer = await dossier_call(world, first_mt, "GET", f"/v1/dossiers/{ins}/documents")
    assert verdict(status, answer) == (403, "banned")


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        pytest.param("mt", (403, "holder_only"), id="RD-4 MT cannot ban"),
        pytest.param(
            "stranger",
            (403, "representation_unverified"),
            id="RD-4 another patient cannot ban",
        ),
        pytest.param("holder", (201, None), id="RD-4 holder bans"),
    ],
)
async def test_only_the_holder_bans(world: World, who: str, expected: Verdict) -> None:
    """RD-4 with TR-4: bans are the holder's (or representative's) decision."""
    mt = await world.professional()
    target = await world.professional()
    holder, ins = await open_dossier(world)
    await declare_mt(world, holder, ins, mt)
    devices = {"mt": mt, "stranger": await other_patient(world), "holder": holder}
    status, answer = await dossier_call(
        world,
        devices[who],
        "POST",
        f"/v1/dossiers/{ins}/bans",
        {"professional": target.principal},
    )
    assert verdict(status, answer) == expected


# --- RD-5 -------------------------------------------------------------------------------------


async def test_author_always_reads_their_own_document(world: World) -> None:
    """RD-5: once their grant is withdrawn, the author still reads their own document by id
    (interpretation: not through the list, and nobody else's document)."""
    mt = await world.professional()
    author = await world.professional()
    holder, ins = await open_dossier(world)
    await declare_mt(world, holder, ins, mt)
    await grant_access(world, holder, ins, author)
    own = await attach_document(world, author, ins)
    other = await attach_document(world, mt, ins)
    status, _ = await dossier_call(
        world, holder, "DELETE", f"/v1/dossiers/{ins}/grants/{author.principal}"
    )
    assert status == 204

    assert await read_verdict(world, author, ins, own) == OK
    assert await read_verdict(world, author, ins, other) == (403, "no_grant")
    status, answer = await dossier_call(world, author, "GET", f"/v1/dossiers/{ins}/documents")
    assert verdict(status, answer) == (403, "no_grant")
    status, log = await dossier_call(world, holder, "GET", f"/v1/dossiers/{ins}/access-log")
    reads = [e for e in log["entries"] if e["action"] == "read" and e["outcome"] == "allowed"]
    assert [(e["actor"], e["basis"], e["document"]) for e in reads] == [
        (author.principal, "author", own)
    ]


# --- RD-6 -------------------------------------------------------------------------------------

EXPRESS_ONLY = ("occupational_physician", "fire_brigade_physician")
RD6_ATTEMPTS: list[tuple[str, Verdict]] = [
    ("care-team grant", (403, "express_grant_required")),
    ("extended care-team grant", (403, "express_grant_required")),
    ("MT declaration", (403, "express_grant_required")),
    ("emergency", (403, "emergency_not_allowed")),
    ("read without grant", (403, "express_grant_required")),
    ("write without grant", (202, "express_grant_required")),
    ("express grant, read", OK),
    ("express grant, write", (202, None)),
]


@pytest.mark.parametrize(
    ("role", "attempt", "expected"),
    [
        pytest.param(role, attempt, expected, id=f"RD-6 {role} {attempt}")
        for role in EXPRESS_ONLY
        for attempt, expected in RD6_ATTEMPTS
    ],
)
async def test_occupational_and_fire_brigade_physicians_need_an_express_grant(
    world: World, role: str, attempt: str, expected: Verdict
) -> None:
    """RD-6: these physicians read and write only on an express consent grant; nothing is
    deemed (care team, MT status, emergency). A write answer shows the attachment's code."""
    mt = await world.professional()
    physician = await world.professional(roles=[role])
    holder, ins = await open_dossier(world)
    await declare_mt(world, holder, ins, mt)
    doc = await attach_document(world, mt, ins)
    base = f"/v1/dossiers/{ins}"
    grant = {"professional": physician.principal}
    if attempt.startswith("express grant"):
        await grant_access(world, holder, ins, physician)

    if "care-team grant" in attempt:
        level = "extended" if attempt.startswith("extended") else "standard"
        status, answer = await dossier_call(
            world, holder, "POST", f"{base}/grants", {**grant, "level": level, "basis": "care_team"}
        )
        result = verdict(status, answer)
    elif attempt == "MT declaration":
        status, answer = await dossier_call(world, holder, "PUT", f"{base}/medecin-traitant", grant)
        result = verdict(status, answer)
    elif attempt == "emergency":
        status, answer = await dossier_call(
            world, physician, "POST", f"{base}/emergency-access", {"reason": "accident du travail"}
        )
        result = verdict(status, answer)
    elif "read" in attempt:
        result = await read_verdict(world, physician, ins, doc)
    else:
        status, answer = await send_linked(world, physician, [mt], ins)
        result = (status, answer["dossier"]["code"])
    assert result == expected


# --- RD-7 -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("granter", "roles", "request_body", "expected"),
    [
        pytest.param(
            "holder",
            ["insurer"],
            {"level": "standard", "basis": "consent"},
            (403, "insurer_cannot_be_granted"),
            id="RD-7 insurer standard grant",
        ),
        pytest.param(
            "holder",
            ["insurer"],
            {"level": "extended", "basis": "consent"},
            (403, "insurer_cannot_be_granted"),
            id="RD-7 insurer extended grant",
        ),
        pytest.param(
            "holder",
            ["insurer"],
            {"level": "standard", "basis": "care_team"},
            (403, "insurer_cannot_be_granted"),
            id="RD-7 insurer care-team grant",
        ),
        pytest.param(
            "holder",
            ["insurer"],
            {"level": "extended", "basis": "care_team"},
            (403, "insurer_cannot_be_granted"),
            id="RD-7 insurer extended care-team grant",
        ),
        pytest.param(
            "holder",
            ["insurer", "samu_regulator"],
            {"level": "standard", "basis": "consent"},
            (403, "insurer_cannot_be_granted"),
            id="RD-7 insurer who is also SAMU regulator",
        ),
        pytest.param(
            "holder",
            ["insurer", "occupational_physician"],
            {"level": "standard", "basis": "consent"},
            (403, "insurer_cannot_be_granted"),
            id="RD-7 insurer who is also occupational physician",
        ),
        pytest.param(
            "representative",
            ["insurer"],
            {"level": "extended", "basis": "consent"},
            (403, "insurer_cannot_be_granted"),
            id="RD-7 representative grants an insurer",
        ),
        pytest.param(
            "holder",
            ["insurer"],
            None,
            (403, "insurer_excluded"),
            id="RD-7 insurer declared MT",
        ),
    ],
)
async def test_insurer_can_never_be_granted_access(
    world: World,
    granter: str,
    roles: list[str],
    request_body: dict[str, str] | None,
    expected: Verdict,
) -> None:
    """RD-7: whatever the holder (or representative) requests, an insurer holds no grant."""
    if granter == "representative":
        holder, giver, ins = await represented_dossier(world)
    else:
        holder, ins = await open_dossier(world)
        giver = holder
    mt = await world.professional()
    await declare_mt(world, giver, ins, mt)
    doc = await attach_document(world, mt, ins)
    insurer = await world.professional(roles=roles, display_name="Assureur Prévoyance")
    named = {"professional": insurer.principal}
    if request_body is None:
        status, answer = await dossier_call(
            world, giver, "PUT", f"/v1/dossiers/{ins}/medecin-traitant", named
        )
    else:
        status, answer = await dossier_call(
            world, giver, "POST", f"/v1/dossiers/{ins}/grants", {**named, **request_body}
        )
    assert verdict(status, answer) == expected

    status, summary = await dossier_call(world, giver, "GET", f"/v1/dossiers/{ins}")
    assert summary["grants"] == []
    assert summary["medecin_traitant"] == mt.principal
    assert await read_verdict(world, insurer, ins, doc) == (403, "insurer_excluded")
    status, log = await dossier_call(world, holder, "GET", f"/v1/dossiers/{ins}/access-log")
    [refused] = [e for e in log["entries"] if e.get("target") == insurer.principal]
    assert (refused["outcome"], refused["reason"]) == ("refused", expected[1])


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        pytest.param("GET", "", None, id="RD-7 insurer views the summary"),
        pytest.param("GET", "/documents", None, id="RD-7 insurer lists"),
        pytest.param("GET", "/documents/{doc}", None, id="RD-7 insurer reads"),
        pytest.param("GET", "/access-log", None, id="RD-7 TR-3 insurer reads the log"),
        pytest.param(
            "POST",
            "/emergency-access",
            {"reason": "expertise médicale"},
            id="RD-7 EM-1 insurer opens an emergency",
        ),
    ],
)
async def test_insurer_reads_nothing(
    world: World, method: str, path: str, body: dict[str, str] | None
) -> None:
    """RD-7, W-6: the insurer role excludes every access, emergency included."""
    mt = await world.professional()
    insurer = await world.professional(roles=["insurer"])
    holder, ins = await open_dossier(world)
    await declare_mt(world, holder, ins, mt)
    doc = await attach_document(world, mt, ins)
    url = f"/v1/dossiers/{ins}" + path.format(doc=doc)
    status, answer = await dossier_call(world, insurer, method, url, body)
    assert verdict(status, answer) == (403, "insurer_excluded")


async def test_insurer_cannot_collect_a_creation_consent(world: World) -> None:
    """RD-7 (L1111-18): an insurer cannot make a dossier exist, even with the holder's consent."""
    insurer = await world.professional(roles=["insurer"])
    holder, ins = await patient(world)
    status, answer = await post_dossier(
        world, insurer, ins, consent={"given_by": "holder", "name": "Mme Durand"}
    )
    assert verdict(status, answer) == (403, "insurer_excluded")
    status, answer = await dossier_call(world, holder, "GET", f"/v1/dossiers/{ins}")
    assert verdict(status, answer) == (404, "dossier_not_found")


# --- RD-9 -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("withdrawer", "expected"),
    [
        pytest.param("holder", (204, None), id="RD-9 holder withdraws"),
        pytest.param("representative", (204, None), id="RD-9 representative withdraws"),
        pytest.param("mt", (403, "holder_only"), id="RD-9 MT cannot withdraw a grant"),
        pytest.param("grantee", (403, "holder_only"), id="RD-9 grantee cannot withdraw"),
    ],
)
async def test_withdrawal_takes_effect_at_once(
    world: World, withdrawer: str, expected: Verdict
) -> None:
    """RD-9: the holder (or representative) withdraws a grant; the next read is refused.
    The holder is an adult under protection: a minor's grants are their representative's (CR-8)."""
    holder, parent, ins = await represented_dossier(world, "protected")
    mt = await world.professional()
    grantee = await world.professional()
    await declare_mt(world, parent, ins, mt)
    await grant_access(world, parent, ins, grantee, "extended")
    doc = await attach_document(world, mt, ins)
    assert await read_verdict(world, grantee, ins, doc) == OK

    devices: dict[str, Device] = {
        "holder": holder,
        "representative": parent,
        "mt": mt,
        "grantee": grantee,
    }
    status, answer = await dossier_call(
        world, devices[withdrawer], "DELETE", f"/v1/dossiers/{ins}/grants/{grantee.principal}"
    )
    assert verdict(status, answer) == expected
    withdrawn = expected == (204, None)
    after = (403, "no_grant") if withdrawn else OK
    assert await read_verdict(world, grantee, ins, doc) == after
    status, summary = await dossier_call(world, parent, "GET", f"/v1/dossiers/{ins}")
    granted = [g["professional"] for g in summary["grants"]]
    assert granted == ([] if withdrawn else [grantee.principal])
