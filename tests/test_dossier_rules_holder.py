"""The holder's view of who may access their dossier and the notices they receive (TR-4, TR-5)
over HTTP with real Redis."""

from __future__ import annotations

import pytest

from tests.dossiers import (
    ban_professional,
    dossier_call,
    dossier_cast,
    grant_access,
    notifications,
    open_emergency,
    read_verdict,
    send_linked,
    verdict,
)
from tests.support import World

Verdict = tuple[int, str | None]
OK: Verdict = (200, None)


# --- TR-4 -------------------------------------------------------------------------------------


async def test_holder_sees_and_changes_who_has_access_and_who_is_banned(world: World) -> None:
    """TR-4: the holder's summary lists grants and bans, which the holder changes at any time;
    a professional's summary shows neither."""
    cast = await dossier_cast(world)
    extended = await world.professional()
    care = await world.professional()
    await grant_access(world, cast.holder, cast.ins, extended, "extended")
    await grant_access(world, cast.holder, cast.ins, care, basis="care_team")
    base = f"/v1/dossiers/{cast.ins}"

    status, summary = await dossier_call(world, cast.holder, "GET", base)
    assert verdict(status, summary) == OK
    granted = {(g["professional"], g["level"], g["basis"]) for g in summary["grants"]}
    assert granted == {
        (cast.devices["grantee"].principal, "standard", "consent"),
        (extended.principal, "extended", "consent"),
        (care.principal, "standard", "care_team"),
    }
    assert summary["bans"] == [cast.devices["banned"].principal]

    grantee, banned = cast.devices["grantee"].principal, cast.devices["banned"].principal
    status, answer = await dossier_call(world, cast.holder, "DELETE", f"{base}/grants/{grantee}")
    assert verdict(status, answer) == (204, None)
    status, answer = await dossier_call(world, cast.holder, "DELETE", f"{base}/bans/{banned}")
    assert verdict(status, answer) == (204, None)
    await ban_professional(world, cast.holder, cast.ins, care)
    status, summary = await dossier_call(world, cast.holder, "GET", base)
    assert {g["professional"] for g in summary["grants"]} == {extended.principal}
    assert summary["bans"] == [care.principal]

    status, seen = await dossier_call(world, extended, "GET", base)
    assert verdict(status, seen) == OK
    assert (seen["grants"], seen["bans"], seen["consent"]) == (None, None, None)


# --- TR-5 -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "action", "expected", "notified"),
    [
        pytest.param("grantee", "list", OK, [("list", "grant")], id="TR-5 list is announced"),
        pytest.param("grantee", "read", OK, [("read", "grant")], id="TR-5 read is announced"),
        pytest.param(
            "grantee", "write", (202, None), [("write", "grant")], id="TR-5 W-4 write announced"
        ),
        pytest.param(
            "mt", "read", OK, [("read", "medecin_traitant")], id="TR-5 RD-2 MT read announced"
        ),
        pytest.param(
            "emergency",
            "read",
            OK,
            [("read", "emergency")],
            id="TR-5 EM-3 emergency read announced",
        ),
        pytest.param("stranger", "read", (403, "no_grant"), [], id="TR-5 refused read is not"),
        pytest.param("holder", "read", OK, [], id="TR-5 holder's own read is not"),
    ],
)
async def test_holder_is_told_of_each_access_by_a_professional(
    world: World, who: str, action: str, expected: Verdict, notified: list[tuple[str, str]]
) -> None:
    """TR-5: each access by a professional reaches every enrolled device of the holder as a
    ``dossier.accessed`` notification naming the professional, the action and its basis."""
    cast = await dossier_cast(world)
    second_device = await world.enroll(cast.holder.principal)
    devices = dict(cast.devices)
    if who == "emergency":
        devices[who] = await world.professional()
        await open_emergency(world, devices[who], cast.ins)
    device = devices[who]
    before = [
        len(await notifications(world, d, "dossier.accessed")) for d in (cast.holder, second_device)
    ]
    if action == "list":
        status, answer = await dossier_call(
            world, device, "GET", f"/v1/dossiers/{cast.ins}/documents"
        )
        assert verdict(status, answer) == expected
    elif action == "read":
        assert await read_verdict(world, device, cast.ins, cast.doc) == expected
    else:
        status, answer = await send_linked(world, device, [devices["mt"]], cast.ins)
        assert (status, answer["dossier"]["code"]) == expected

    for holder_device, seen in zip((cast.holder, second_device), before, strict=True):
        notices = (await notifications(world, holder_device, "dossier.accessed"))[seen:]
        assert [(n["actor"], n["action"], n["basis"]) for n in notices] == [
            (device.principal, *told) for told in notified
        ]
        assert all(n["ins"] == cast.ins for n in notices)
