"""Attaching messages to the dossier and messaging rules (W-1..W-6, MS-1, MS-2) over HTTP."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from redis.asyncio import Redis

from messaging import crypto
from messaging.models import DossierHeader
from tests.dossiers import (
    ban_professional,
    declare_mt,
    dossier_call,
    grant_access,
    linked_envelope,
    message_ids,
    notifications,
    open_dossier,
    open_emergency,
    other_patient,
    patient,
    post_dossier,
    post_envelope,
    represent,
    send_linked,
    server_dossier_key,
    stored_log,
    verdict,
    years_ago,
)
from tests.support import Device, World, compose, new_slug

ATTACHED = {"status": "attached", "code": None}


def _outcome(answer: dict[str, Any]) -> dict[str, Any]:
    """The 202's dossier outcome without the (generated) document id."""
    return {k: v for k, v in answer["dossier"].items() if k != "document"}


async def _documents(world: World, holder: Device, ins: str) -> list[str]:
    status, listing = await dossier_call(world, holder, "GET", f"/v1/dossiers/{ins}/documents")
    assert verdict(status, listing) == (200, None)
    return [d["id"] for d in listing["documents"]]


# --- W-1 --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("situation", "code"),
    [
        pytest.param("no dossier", "no_grant", id="W-1 RD-12 dossier does not exist"),
        pytest.param("closed", "dossier_closed", id="W-1 CR-6 dossier closed"),
        pytest.param("no right", "no_grant", id="W-1 W-2 author may not write"),
        pytest.param("foreign wrap", "bad_dossier_wrap", id="W-1 wrap the store cannot open"),
    ],
)
async def test_refused_attachment_still_delivers_and_tells_the_sender(
    world: World, situation: str, code: str
) -> None:
    """W-1: the message reaches its recipients, the attachment is refused with a reason code,
    and the sender is told with ``dossier.link_refused``."""
    sender = await world.professional()
    colleague = await world.professional()
    holder, ins = await patient(world)
    if situation != "no dossier":
        status, _ = await post_dossier(
            world, holder, ins, consent={"given_by": "holder", "name": "Mme Durand"}
        )
        assert status == 201
    if situation in ("closed", "foreign wrap"):
        await grant_access(world, holder, ins, sender)
    if situation == "closed":
        status, _ = await dossier_call(world, holder, "POST", f"/v1/dossiers/{ins}/close")
        assert status == 200
    key = (
        crypto.DeviceKeys.generate().box.public
        if situation == "foreign wrap"
        else await server_dossier_key(world)
    )
    envelope = linked_envelope(sender, [colleague], ins, key)
    status, answer = await post_envelope(world, sender, envelope)
    assert status == 202
    assert answer["dossier"] == {"status": "refused", "code": code, "document": None}
    assert await message_ids(world, colleague) == [envelope["id"]]
    [told] = await notifications(world, sender, "dossier.link_refused")
    assert (told["message_id"], told["code"], told["ins"]) == (envelope["id"], code, ins)
    if situation in ("no right", "foreign wrap"):
        assert await _documents(world, holder, ins) == []


# --- W-2 --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("standing", "outcome", "basis"),
    [
        pytest.param("mt", ATTACHED, "medecin_traitant", id="W-2 MT writes"),
        pytest.param("standard", ATTACHED, "grant", id="W-2 standard consent grant writes"),
        pytest.param("extended", ATTACHED, "extended", id="W-2 RD-3 extended grant writes"),
        pytest.param("care_team", ATTACHED, "care_team", id="W-2 care-team grant writes"),
        pytest.param("emergency", ATTACHED, "emergency", id="W-2 EM-1 emergency access writes"),
        pytest.param(
            "none", {"status": "refused", "code": "no_grant"}, None, id="W-2 no basis: refused"
        ),
    ],
)
async def test_professional_writes_with_mt_grant_or_emergency(
    world: World, standing: str, outcome: dict[str, Any], basis: str | None
) -> None:
    """W-2: MT, a grant (standard or extended, consent or care-team) or an open emergency."""
    writer = await world.professional()
    colleague = await world.professional()
    holder, ins = await open_dossier(world)
    if standing == "mt":
        await declare_mt(world, holder, ins, writer)
    elif standing == "emergency":
        await open_emergency(world, writer, ins)
    elif standing != "none":
        level = "extended" if standing == "extended" else "standard"
        grant_basis = "care_team" if standing == "care_team" else "consent"
        await grant_access(world, holder, ins, writer, level, grant_basis)
    status, answer = await send_linked(world, writer, [colleague], ins)
    assert status == 202
    assert _outcome(answer) == outcome
    status, log = await dossier_call(world, holder, "GET", f"/v1/dossiers/{ins}/access-log")
    [write] = [e for e in log["entries"] if e["action"] == "write"]
    assert write.get("basis") == basis
    assert write["outcome"] == ("allowed" if basis else "refused")


# --- W-3 --------------------------------------------------------------------------------------


async def test_banned_professional_writes_nothing(world: World) -> None:
    """W-3, RD-4, MS-2: once banned, the author's linked message is refused whole and they may
    not hide their earlier document either; lifting the ban and granting again restores writes."""
    author = await world.professional()
    colleague = await world.professional()
    holder, ins = await open_dossier(world)
    await grant_access(world, holder, ins, author)
    status, answer = await send_linked(world, author, [colleague], ins)
    assert _outcome(answer) == ATTACHED
    first = answer["dossier"]["document"]
    await ban_professional(world, holder, ins, author)

    status, answer = await send_linked(world, author, [colleague], ins, title="Après le ban")
    assert verdict(status, answer) == (403, "patient_opposed")
    assert answer["professionals"] == [author.principal]
    status, answer = await dossier_call(
        world,
        author,
        "PATCH",
        f"/v1/dossiers/{ins}/documents/{first}",
        {"hidden_from_holder": True},
    )
    assert verdict(status, answer) == (403, "banned")
    assert await _documents(world, holder, ins) == [first]
    assert len(await message_ids(world, colleague)) == 1

    status, _ = await dossier_call(
        world, holder, "DELETE", f"/v1/dossiers/{ins}/bans/{author.principal}"
    )
    assert status == 204
    await grant_access(world, holder, ins, author)
    status, answer = await send_linked(world, author, [colleague], ins, title="Ban levé")
    assert status == 202
    assert _outcome(answer) == ATTACHED


# --- W-4 --------------------------------------------------------------------------------------


async def test_authorised_professional_writes_again_with_only_a_notification(
    world: World, redis: Redis
) -> None:
    """W-4, TR-5: one grant covers later writes; each write only informs the holder."""
    writer = await world.professional()
    colleague = await world.professional()
    holder, ins = await open_dossier(world)
    await grant_access(world, holder, ins, writer)
    documents = []
    for title in ("Bilan", "Suivi", "Conclusion"):
        status, answer = await send_linked(world, writer, [colleague], ins, title=title)
        assert status == 202
        assert _outcome(answer) == ATTACHED
        documents.append(answer["dossier"]["document"])
    told = await notifications(world, holder, "dossier.accessed")
    assert [(n["actor"], n["action"], n["document"]) for n in told] == [
        (writer.principal, "write", document) for document in documents
    ]
    assert [e["action"] for e in await stored_log(redis, ins)].count("grant") == 1


# --- W-5 --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "writer",
    [
        pytest.param("holder", id="W-5 holder adds a document"),
        pytest.param("representative", id="W-5 representative adds a document"),
    ],
)
async def test_holder_adds_documents_to_their_own_dossier(world: World, writer: str) -> None:
    """W-5: the holder (and, by interpretation, a representative) writes to the dossier."""
    birth = years_ago(9)
    holder, ins = await patient(world, birth)
    parent = await other_patient(world)
    await represent(world, ins, parent)
    status, _ = await post_dossier(
        world,
        parent,
        ins,
        birth,
        consent={
            "given_by": "legal_representative",
            "name": "Mme Durand",
            "representative": parent.principal,
        },
    )
    assert status == 201
    gp = await world.professional()
    await declare_mt(world, parent, ins, gp)
    sender = holder if writer == "holder" else parent
    status, answer = await send_linked(world, sender, [gp], ins, title="Carnet de vaccination")
    assert status == 202
    assert _outcome(answer) == ATTACHED
    assert await _documents(world, holder, ins) == [answer["dossier"]["document"]]
    status, log = await dossier_call(world, holder, "GET", f"/v1/dossiers/{ins}/access-log")
    [write] = [e for e in log["entries"] if e["action"] == "write"]
    assert (write["actor"], write["basis"]) == (sender.principal, writer)
    # The holder's own writes are not announced to them (TR-5 concerns professionals).
    assert await notifications(world, holder, "dossier.accessed") == []


# --- W-6 --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "code"),
    [
        pytest.param("insurer", "insurer_excluded", id="W-6 RD-7 insurer"),
        pytest.param("insurer+samu", "insurer_excluded", id="W-6 RD-7 insurer who is also SAMU"),
        pytest.param("application", "no_professional_capacity", id="W-6 application"),
        pytest.param("patient", "representation_unverified", id="W-6 another patient"),
    ],
)
async def test_insurers_and_non_professionals_never_write(
    world: World, who: str, code: str
) -> None:
    """W-6: an insurer, or any principal without professional capacity, never writes, even
    after the holder tried to grant it access."""
    holder, ins = await open_dossier(world)
    gp = await world.professional()
    if who.startswith("insurer"):
        roles = ["insurer", "samu_regulator"] if who == "insurer+samu" else ["insurer"]
        writer = await world.professional(roles=roles, display_name="Mutuelle Santé")
        status, answer = await dossier_call(
            world,
            holder,
            "POST",
            f"/v1/dossiers/{ins}/grants",
            {"professional": writer.principal, "level": "extended"},
        )
        assert verdict(status, answer) == (403, "insurer_cannot_be_granted")
    elif who == "application":
        writer = await world.enroll(
            await world.principal(
                new_slug("app"), kind="application", display_name="LIMS", profession=None
            )
        )
    else:
        writer = await other_patient(world)
    status, answer = await send_linked(world, writer, [gp], ins)
    assert status == 202
    assert _outcome(answer) == {"status": "refused", "code": code}
    assert await message_ids(world, gp) == [answer["id"]]
    assert await _documents(world, holder, ins) == []


# --- MS-1 -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        pytest.param("enrolled", (202, None), id="MS-1 between enrolled principals"),
        pytest.param("unknown recipient", (404, "unknown_recipient"), id="MS-1 unknown recipient"),
        pytest.param("no token", (401, "invalid_token"), id="MS-1 unauthenticated sender"),
        pytest.param("revoked device", (401, "invalid_token"), id="MS-1 revoked sender device"),
        pytest.param(
            "impersonation", (403, "sender_mismatch"), id="MS-1 envelope names another sender"
        ),
    ],
)
async def test_messages_go_only_between_enrolled_principals(
    world: World, case: str, expected: tuple[int, str | None]
) -> None:
    """MS-1: only identified principals, registered by the operator and enrolled, exchange."""
    sender = await world.professional()
    colleague = await world.professional()
    recipients = [colleague.principal]
    if case == "unknown recipient":
        recipients.append("rpps:99999999999")
    author = colleague if case == "impersonation" else sender
    envelope = compose(author, recipients, [colleague] if author is sender else [sender])
    headers = {} if case == "no token" else sender.headers
    if case == "revoked device":
        status, _ = await dossier_call(world, sender, "DELETE", f"/v1/devices/{sender.device_id}")
        assert status == 204
    response = await world.client.post("/v1/messages", json=envelope, headers=headers)
    assert verdict(response.status, await response.json()) == expected
    delivered = await message_ids(world, colleague)
    assert delivered == ([envelope["id"]] if expected == (202, None) else [])


# --- MS-2 -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        pytest.param("banned recipient", (403, "patient_opposed"), id="MS-2 banned recipient"),
        pytest.param("banned sender", (403, "patient_opposed"), id="MS-2 banned sender"),
        pytest.param(
            "organisation", (403, "patient_opposed"), id="MS-2 organisation with a banned member"
        ),
        pytest.param("not linked", (202, None), id="MS-2 message not linked to the dossier"),
        pytest.param("other dossier", (202, None), id="MS-2 ban holds on its own dossier only"),
    ],
)
async def test_linked_message_involving_a_banned_professional_is_refused(
    world: World, case: str, expected: tuple[int, str | None]
) -> None:
    """MS-2: the patient's objection to a professional refuses the whole linked message."""
    mt = await world.professional()
    banned = await world.professional()
    colleague = await world.professional()
    holder, ins = await open_dossier(world)
    await declare_mt(world, holder, ins, mt)
    await grant_access(world, holder, ins, banned)
    await ban_professional(world, holder, ins, banned)
    _, other_ins = await open_dossier(world)
    key = await server_dossier_key(world)
    header = DossierHeader(ins=ins, type="lettre_de_sortie", title="Compte rendu")
    sender, to, devices, dossier = mt, [banned.principal], [banned], header
    if case == "banned sender":
        sender, to, devices = banned, [colleague.principal], [colleague]
    elif case == "organisation":
        team = await world.principal(
            new_slug("org"),
            kind="organisation",
            display_name="Cabinet",
            profession=None,
            members=[colleague.principal, banned.principal],
        )
        to, devices = [team], [colleague, banned]
    elif case == "other dossier":
        dossier = DossierHeader(ins=other_ins, type="lettre_de_sortie", title="Autre patient")
    envelope = compose(
        sender,
        to,
        devices,
        dossier=None if case == "not linked" else dossier,
        dossier_key=None if case == "not linked" else key,
    )
    status, answer = await post_envelope(world, sender, envelope)
    assert verdict(status, answer) == expected
    receivers = [d for d in devices if d is not sender]
    delivered = [envelope["id"]] if expected == (202, None) else []
    for receiver in receivers:
        assert await message_ids(world, receiver) == delivered
    if expected == (202, None):
        return
    assert answer["professionals"] == [banned.principal]
    status, log = await dossier_call(world, holder, "GET", f"/v1/dossiers/{ins}/access-log")
    [refused] = [e for e in log["entries"] if e["action"] == "message"]
    assert (refused["outcome"], refused["reason"], refused["target"]) == (
        "refused",
        "patient_opposed",
        banned.principal,
    )


async def test_refused_linked_message_is_judged_afresh_after_the_ban_is_lifted(
    world: World,
) -> None:
    """MS-2: a refused message left nothing behind; the same envelope passes once unbanned."""
    mt = await world.professional()
    nurse = await world.professional(profession="infirmier")
    holder, ins = await open_dossier(world)
    await declare_mt(world, holder, ins, mt)
    await ban_professional(world, holder, ins, nurse)
    envelope = linked_envelope(mt, [nurse], ins, await server_dossier_key(world))
    status, answer = await post_envelope(world, mt, envelope)
    assert verdict(status, answer) == (403, "patient_opposed")
    status, _ = await dossier_call(
        world, holder, "DELETE", f"/v1/dossiers/{ins}/bans/{nurse.principal}"
    )
    assert status == 204
    status, answer = await post_envelope(world, mt, envelope)
    assert status == 202
    assert _outcome(answer) == ATTACHED
    assert await message_ids(world, nurse) == [envelope["id"]]
    assert uuid.UUID(answer["id"])
