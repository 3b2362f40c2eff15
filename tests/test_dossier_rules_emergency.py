"""Emergency access (EM-1..EM-3) over HTTP with real Redis."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pytest_aiohttp import AiohttpClient
from redis.asyncio import Redis

from messaging.settings import Settings
from messaging.timeutil import parse_utc
from tests.dossiers import (
    attach_document,
    declare_mt,
    dossier_call,
    eventually,
    notifications,
    open_dossier,
    open_emergency,
    other_patient,
    read_verdict,
    send_linked,
    verdict,
    world_with,
)
from tests.support import World, new_slug

Verdict = tuple[int, str | None]
OK: Verdict = (200, None)
REASON = "inconscient après un AVC, pronostic vital engagé"


@pytest.mark.parametrize(
    ("caller", "opposed", "reason", "expected"),
    [
        pytest.param("professional", False, REASON, (201, None), id="EM-1 professional opens"),
        pytest.param("samu", False, REASON, (201, None), id="EM-1 SAMU regulator opens"),
        pytest.param(
            "professional",
            True,
            REASON,
            (403, "emergency_opposed"),
            id="EM-1 holder opposed beforehand",
        ),
        pytest.param(
            "samu",
            True,
            REASON,
            (403, "emergency_opposed"),
            id="EM-1 SAMU regulator, holder opposed",
        ),
        pytest.param(
            "application",
            False,
            REASON,
            (403, "no_professional_capacity"),
            id="EM-1 application is not a professional",
        ),
        pytest.param(
            "patient",
            False,
            REASON,
            (403, "no_professional_capacity"),
            id="EM-1 another patient is not a professional",
        ),
        pytest.param(
            "professional", False, "", (400, "invalid_request"), id="EM-1 reason must be stated"
        ),
    ],
)
async def test_emergency_access_unless_the_holder_opposed(
    world: World, caller: str, opposed: bool, reason: str, expected: Verdict
) -> None:
    """EM-1: a professional (SAMU regulator included) opens emergency access, stating why,
    unless the holder opposed it beforehand; the access then reads the dossier."""
    mt = await world.professional()
    holder, ins = await open_dossier(world)
    await declare_mt(world, holder, ins, mt)
    doc = await attach_document(world, mt, ins)
    if opposed:
        status, answer = await dossier_call(
            world, holder, "PUT", f"/v1/dossiers/{ins}/emergency-opposition", {"opposed": True}
        )
        assert (status, answer["emergency_opposed"]) == (200, True)
    if caller == "professional":
        device = await world.professional()
    elif caller == "samu":
        device = await world.professional(roles=["samu_regulator"], display_name="SAMU 75")
    elif caller == "application":
        device = await world.enroll(
            await world.principal(
                new_slug("app"), kind="application", display_name="Robot", profession=None
            )
        )
    else:
        device = await other_patient(world)
    status, answer = await dossier_call(
        world, device, "POST", f"/v1/dossiers/{ins}/emergency-access", {"reason": reason}
    )
    assert verdict(status, answer) == expected
    opened = expected == (201, None)
    if opened:
        assert answer["professional"] == device.principal
        status, summary = await dossier_call(world, device, "GET", f"/v1/dossiers/{ins}")
        assert (status, summary["your_basis"]) == (200, "emergency")
    assert (await read_verdict(world, device, ins, doc) == OK) == opened


async def test_opposition_ends_open_emergencies_and_can_be_withdrawn(world: World) -> None:
    """EM-1 (interpretation, with RD-9): an opposition ends open accesses at once; once the
    holder withdraws it, a new emergency access is allowed."""
    mt = await world.professional()
    urgentiste = await world.professional()
    holder, ins = await open_dossier(world)
    await declare_mt(world, holder, ins, mt)
    doc = await attach_document(world, mt, ins)
    await open_emergency(world, urgentiste, ins)
    assert await read_verdict(world, urgentiste, ins, doc) == OK
    opposition = f"/v1/dossiers/{ins}/emergency-opposition"

    status, answer = await dossier_call(world, holder, "PUT", opposition, {"opposed": True})
    assert verdict(status, answer) == OK
    assert await read_verdict(world, urgentiste, ins, doc) == (403, "no_grant")
    status, answer = await dossier_call(world, urgentiste, "PUT", opposition, {"opposed": False})
    assert verdict(status, answer) == (403, "holder_only")

    status, answer = await dossier_call(world, holder, "PUT", opposition, {"opposed": False})
    assert verdict(status, answer) == OK
    assert answer["emergency_opposed"] is False
    await open_emergency(world, urgentiste, ins)
    assert await read_verdict(world, urgentiste, ins, doc) == OK


async def test_emergency_access_lasts_the_configured_time_and_is_logged(
    world: World, settings: Settings
) -> None:
    """EM-2: the access expires after the setting (24 h by default) and the log records it as
    an emergency access, with its reason and expiry; reads under it carry basis emergency."""
    mt = await world.professional()
    urgentiste = await world.professional()
    holder, ins = await open_dossier(world)
    await declare_mt(world, holder, ins, mt)
    doc = await attach_document(world, mt, ins)
    before = datetime.now(UTC)
    status, access = await dossier_call(
        world, urgentiste, "POST", f"/v1/dossiers/{ins}/emergency-access", {"reason": REASON}
    )
    assert verdict(status, access) == (201, None)
    duration = timedelta(hours=settings.emergency_access_hours)
    assert duration == timedelta(hours=24)
    expires = parse_utc(access["expires_at"])
    assert before + duration - timedelta(milliseconds=1) <= expires
    assert expires <= datetime.now(UTC) + duration
    assert await read_verdict(world, urgentiste, ins, doc) == OK

    status, log = await dossier_call(world, holder, "GET", f"/v1/dossiers/{ins}/access-log")
    [opened] = [e for e in log["entries"] if e["action"] == "emergency_access"]
    assert (opened["actor"], opened["outcome"], opened["basis"]) == (
        urgentiste.principal,
        "allowed",
        "emergency",
    )
    assert (opened["detail"], opened["expires_at"]) == (REASON, access["expires_at"])
    [read] = [e for e in log["entries"] if e["action"] == "read"]
    assert (read["actor"], read["basis"]) == (urgentiste.principal, "emergency")


async def test_emergency_access_expires(
    aiohttp_client: AiohttpClient, settings: Settings, redis: Redis
) -> None:
    """EM-2: past its expiry (here half a second) the access neither reads nor writes."""
    world = await world_with(aiohttp_client, settings, redis, emergency_access_hours=0.5 / 3600)
    mt = await world.professional()
    urgentiste = await world.professional()
    holder, ins = await open_dossier(world)
    await declare_mt(world, holder, ins, mt)
    doc = await attach_document(world, mt, ins)
    await open_emergency(world, urgentiste, ins)
    assert await read_verdict(world, urgentiste, ins, doc) == OK

    async def expired() -> bool:
        return await read_verdict(world, urgentiste, ins, doc) == (403, "no_grant")

    await eventually(expired)
    status, answer = await send_linked(world, urgentiste, [mt], ins)
    assert (status, answer["dossier"]["status"], answer["dossier"]["code"]) == (
        202,
        "refused",
        "no_grant",
    )


@pytest.mark.parametrize(
    ("with_mt", "role"),
    [
        pytest.param(True, None, id="EM-3 holder and MT told of each access"),
        pytest.param(True, "samu_regulator", id="EM-3 EM-1 SAMU regulator's access is told"),
        pytest.param(False, None, id="EM-3 no MT: the holder is told"),
    ],
)
async def test_holder_and_mt_are_notified_after_each_emergency_access(
    world: World, with_mt: bool, role: str | None
) -> None:
    """EM-3: after each emergency access the holder and the MT receive a notification; reads
    under it are announced to both as well."""
    mt = await world.professional()
    holder, ins = await open_dossier(world)
    if with_mt:
        await declare_mt(world, holder, ins, mt)
    doc = await attach_document(world, holder, ins)
    roles = [role] if role else None
    first = await world.professional(roles=roles)
    second = await world.professional(roles=roles)
    for urgentiste in (first, second):
        await open_emergency(world, urgentiste, ins)
    assert await read_verdict(world, first, ins, doc) == OK

    told = [holder, mt] if with_mt else [holder]
    for device in told:
        notices = await notifications(world, device, "dossier.emergency_access")
        assert [(n["professional"], n["reason"], n["ins"]) for n in notices] == [
            (first.principal, "inconscient, pronostic vital engagé", ins),
            (second.principal, "inconscient, pronostic vital engagé", ins),
        ]
        reads = await notifications(world, device, "dossier.accessed")
        assert [(n["actor"], n["action"], n["basis"]) for n in reads] == [
            (first.principal, "read", "emergency")
        ]
    if not with_mt:
        assert await notifications(world, mt, "dossier.emergency_access") == []
