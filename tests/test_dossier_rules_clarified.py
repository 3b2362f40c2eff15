"""Hiding from the holder, emergencies and dossier-linked messages as clarified (HD-2, EM-4,
TR-4, RD-11, MS-3) over HTTP with real Redis, each bypass of issue 16 with its own test."""

from __future__ import annotations

from typing import Any

import pytest

from messaging.models import DossierHeader
from tests.dossiers import (
    ban_professional,
    declare_mt,
    dossier_call,
    message_ids,
    notifications,
    open_dossier,
    post_envelope,
    read_verdict,
    send_linked,
    server_dossier_key,
    verdict,
)
from tests.support import Device, World, compose, new_slug


def _linked(
    sender: Device, recipients: list[str], devices: list[Device], ins: str, key: bytes
) -> dict[str, Any]:
    """A dossier-linked envelope to ``recipients`` (principals, with or without devices)."""
    header = DossierHeader(ins=ins, type="lettre_de_sortie", title="Lettre")
    return compose(sender, recipients, devices, dossier=header, dossier_key=key)


HIDE = {"hidden_from_holder": True}
SHOW = {"hidden_from_holder": False}


async def _patch(world: World, device: Any, ins: str, doc: str, body: dict[str, Any]) -> Any:
    status, answer = await dossier_call(
        world, device, "PATCH", f"/v1/dossiers/{ins}/documents/{doc}", body
    )
    return verdict(status, answer)


# --- HD-2 -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("story", "expected"),
    [
        pytest.param(["hide"], (204, None), id="HD-2 hidden once"),
        pytest.param(["hide", "hide"], (403, "already_hidden"), id="HD-2 hide twice"),
        pytest.param(["read", "hide"], (403, "read_by_holder"), id="HD-2 hide after read"),
        pytest.param(["hide", "show", "hide"], (403, "already_released"), id="HD-2 after release"),
        pytest.param(
            ["written hidden", "hide"], (403, "already_hidden"), id="HD-2 hidden at write"
        ),
    ],
)
async def test_the_author_hides_a_document_once_before_the_holder_reads_it(
    world: World, story: list[str], expected: tuple[int, str | None]
) -> None:
    """HD-2 (issue 16 bypass: hiding again and again moved the release date, even after the
    holder read it or after release): once, before the holder read it, never after release;
    the release date is fixed then and never moved."""
    mt = await world.professional()
    holder, ins = await open_dossier(world)
    await declare_mt(world, holder, ins, mt)
    header: dict[str, Any] = HIDE if story[0] == "written hidden" else {}
    status, answer = await send_linked(world, mt, [mt], ins, **header)
    assert status == 202
    doc = answer["dossier"]["document"]
    for step in story[:-1]:
        if step == "read":
            assert await read_verdict(world, holder, ins, doc) == (200, None)
        elif step in ("hide", "show"):
            assert await _patch(world, mt, ins, doc, HIDE if step == "hide" else SHOW) == (
                204,
                None,
            )
    _, listing = await dossier_call(world, mt, "GET", f"/v1/dossiers/{ins}/documents")
    release = next(d for d in listing["documents"] if d["id"] == doc)["hidden_from_holder_until"]
    assert await _patch(world, mt, ins, doc, HIDE) == expected
    _, listing = await dossier_call(world, mt, "GET", f"/v1/dossiers/{ins}/documents")
    after = next(d for d in listing["documents"] if d["id"] == doc)["hidden_from_holder_until"]
    if expected != (204, None):
        assert after == release  # never moved


async def test_while_hidden_the_holder_learns_only_that_a_document_was_added(
    world: World,
) -> None:
    """HD-2 (issue 16 bypass: the holder got ``dossier.accessed {write, document}`` and saw
    later reads in the log): until release the holder's notifications and log show that a
    document was added and by whom, not its id, nor later reads of it."""
    mt, colleague = await world.professional(), await world.professional()
    holder, ins = await open_dossier(world)
    await declare_mt(world, holder, ins, mt)
    status, _ = await dossier_call(
        world,
        holder,
        "POST",
        f"/v1/dossiers/{ins}/grants",
        {"professional": colleague.principal, "level": "extended"},
    )
    assert status == 201
    status, answer = await send_linked(world, mt, [mt], ins, title="Annonce", **HIDE)
    doc = answer["dossier"]["document"]
    assert await read_verdict(world, colleague, ins, doc) == (200, None)
    told = await notifications(world, holder, "dossier.accessed")
    writes = [n for n in told if n["action"] == "write"]
    assert [(n["actor"], "document" in n) for n in writes] == [(mt.principal, False)]
    assert [n for n in told if n["action"] == "read"] == []
    status, log = await dossier_call(world, holder, "GET", f"/v1/dossiers/{ins}/access-log")
    assert doc not in str(log["entries"])
    [write] = [e for e in log["entries"] if e.get("action") == "write"]
    assert (write["actor"], write["withheld"]) == (mt.principal, True)
    assert "Annonce" not in str(log)


# --- EM-4, TR-4 -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "reason",
    [
        pytest.param("   ", id="EM-4 three spaces"),
        pytest.param("\u0000\u0000\u0000", id="EM-4 three NULs"),
        pytest.param("urgence", id="EM-4 under 10 visible characters"),
        pytest.param("          urgence   ", id="EM-4 padded with spaces"),
        pytest.param("patient inconscient\n", id="EM-4 a control character"),
        pytest.param("\u200b" * 12, id="EM-4 zero-width spaces"),
        pytest.param("a" + "\u0301" * 12, id="EM-4 combining marks on one letter"),
    ],
)
async def test_an_emergency_reason_is_a_statement(world: World, reason: str) -> None:
    """EM-4 (issue 16 bypass: three spaces or three NULs were accepted)."""
    _, ins = await open_dossier(world)
    urgentiste = await world.professional()
    status, answer = await dossier_call(
        world, urgentiste, "POST", f"/v1/dossiers/{ins}/emergency-access", {"reason": reason}
    )
    assert verdict(status, answer) == (400, "invalid_request")


async def test_each_emergency_access_is_its_own_record_the_holder_sees_and_ends(
    world: World,
) -> None:
    """EM-4, TR-4 (issue 16 bypass: the holder's summary did not list open emergency
    accesses): each access has its own record, reason and notification, an open one is not
    extended; the holder sees them and ends one."""
    holder, ins = await open_dossier(world)
    urgentiste = await world.professional()
    url = f"/v1/dossiers/{ins}/emergency-access"
    opened = []
    for reason in ("patient inconscient au domicile", "arrêt cardio-respiratoire"):
        status, answer = await dossier_call(world, urgentiste, "POST", url, {"reason": reason})
        assert status == 201
        opened.append(answer)
    assert opened[0]["id"] != opened[1]["id"]
    status, summary = await dossier_call(world, holder, "GET", f"/v1/dossiers/{ins}")
    listed = {e["id"]: (e["reason"], e["expires_at"]) for e in summary["emergencies"]}
    assert listed == {
        opened[0]["id"]: ("patient inconscient au domicile", opened[0]["expires_at"]),
        opened[1]["id"]: ("arrêt cardio-respiratoire", opened[1]["expires_at"]),
    }
    told = await notifications(world, holder, "dossier.emergency_access")
    assert [n["emergency"] for n in told] == [opened[0]["id"], opened[1]["id"]]
    status, answer = await dossier_call(world, urgentiste, "DELETE", f"{url}/{opened[0]['id']}")
    assert verdict(status, answer) == (403, "holder_only")
    for access in opened:
        status, summary = await dossier_call(world, holder, "DELETE", f"{url}/{access['id']}")
        assert verdict(status, summary) == (200, None)
    assert summary["emergencies"] == []
    status, answer = await dossier_call(world, urgentiste, "GET", f"/v1/dossiers/{ins}/documents")
    assert verdict(status, answer) == (403, "no_grant")


# --- RD-11 ------------------------------------------------------------------------------------


@pytest.mark.parametrize("through", ["directly", "organisation"])
async def test_no_dossier_linked_message_to_an_insurer(world: World, through: str) -> None:
    """RD-11: a dossier-linked message may not be addressed to an insurer, directly or through
    an organisation: refused whole with ``recipient_excluded``, nothing queued."""
    mt = await world.professional()
    insurer = await world.professional(roles=["insurer"])
    holder, ins = await open_dossier(world)
    await declare_mt(world, holder, ins, mt)
    recipient = insurer.principal
    if through == "organisation":
        recipient = await world.principal(
            new_slug("org"), kind="organisation", members=[insurer.principal]
        )
    envelope = _linked(mt, [recipient], [insurer], ins, await server_dossier_key(world))
    status, answer = await post_envelope(world, mt, envelope)
    assert verdict(status, answer) == (403, "recipient_excluded")
    assert answer["recipients"] == [insurer.principal]
    assert await message_ids(world, insurer) == []


# --- MS-3 -------------------------------------------------------------------------------------


@pytest.mark.parametrize("situation", ["no device", "closed"])
async def test_a_ban_blocks_linked_messages_with_or_without_a_device(
    world: World, situation: str
) -> None:
    """MS-3 (issue 16 bypass: a message to a banned professional without a device was
    attached): the ban holds whether or not they have a device, and on a closed dossier."""
    mt = await world.professional()
    holder, ins = await open_dossier(world)
    await declare_mt(world, holder, ins, mt)
    if situation == "no device":
        banned = await world.principal()
        status, _ = await dossier_call(
            world, holder, "POST", f"/v1/dossiers/{ins}/bans", {"professional": banned}
        )
        assert status == 201
        recipients = [mt]
        names = [banned]
    else:
        device = await world.professional()
        await ban_professional(world, holder, ins, device)
        status, _ = await dossier_call(world, holder, "POST", f"/v1/dossiers/{ins}/close")
        assert status == 200
        recipients, names = [mt, device], [device.principal]
    key = await server_dossier_key(world)
    envelope = _linked(mt, sorted({*names, mt.principal}), recipients, ins, key)
    status, answer = await post_envelope(world, mt, envelope)
    assert verdict(status, answer) == (403, "patient_opposed")
    assert answer["professionals"] == names
