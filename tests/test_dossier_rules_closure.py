"""Closure, retention and purge (CR-6) over HTTP with real Redis."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from pytest_aiohttp import AiohttpClient
from redis.asyncio import Redis

from dossier_link.access_log import verify_chain
from messaging import redis_keys
from messaging.settings import Settings
from messaging.timeutil import parse_utc
from tests.dossiers import (
    attach_document,
    declare_mt,
    dossier_call,
    events_of,
    eventually,
    grant_access,
    open_dossier,
    other_patient,
    represented_dossier,
    send_linked,
    stored_log,
    verdict,
    world_with,
)
from tests.support import World

CLOSED = (403, "dossier_closed")


async def _close(world: World, by: Any, ins: str, body: Any = None) -> None:
    status, answer = await dossier_call(world, by, "POST", f"/v1/dossiers/{ins}/close", body)
    assert verdict(status, answer) == (200, None)
    assert answer["status"] == "closed"


@pytest.mark.parametrize(
    ("who", "method", "path", "body"),
    [
        pytest.param("holder", "GET", "", None, id="CR-6 holder summary"),
        pytest.param("holder", "GET", "/documents", None, id="CR-6 holder list"),
        pytest.param("holder", "GET", "/documents/{doc}", None, id="CR-6 holder read"),
        pytest.param("holder", "GET", "/access-log", None, id="CR-6 holder log"),
        pytest.param("mt", "GET", "/documents", None, id="CR-6 MT list"),
        pytest.param("mt", "GET", "/documents/{doc}", None, id="CR-6 MT author read"),
        pytest.param("mt", "GET", "/access-log", None, id="CR-6 MT log"),
        pytest.param("grantee", "GET", "/documents/{doc}", None, id="CR-6 grantee read"),
        pytest.param(
            "holder", "PATCH", "/documents/{doc}", {"masked": True}, id="CR-6 holder masks"
        ),
        pytest.param(
            "mt",
            "PATCH",
            "/documents/{doc}",
            {"hidden_from_holder": True},
            id="CR-6 author hides",
        ),
        pytest.param(
            "holder", "POST", "/grants", {"professional": "{other}"}, id="CR-6 holder grants"
        ),
        pytest.param("holder", "DELETE", "/grants/{grantee}", None, id="CR-6 withdraw grant"),
        pytest.param("holder", "POST", "/bans", {"professional": "{other}"}, id="CR-6 ban"),
        pytest.param("holder", "DELETE", "/bans/{other}", None, id="CR-6 lift ban"),
        pytest.param(
            "holder",
            "PUT",
            "/medecin-traitant",
            {"professional": "{other}"},
            id="CR-6 change MT",
        ),
        pytest.param(
            "holder",
            "PUT",
            "/emergency-opposition",
            {"opposed": True},
            id="CR-6 emergency opposition",
        ),
        pytest.param(
            "other",
            "POST",
            "/emergency-access",
            {"reason": "détresse respiratoire"},
            id="CR-6 EM-1 emergency access",
        ),
        pytest.param("holder", "POST", "/close", None, id="CR-6 close twice"),
    ],
)
async def test_closed_dossier_refuses_every_read_and_write(
    world: World, who: str, method: str, path: str, body: dict[str, Any] | None
) -> None:
    """CR-6: after closure no one reads or writes: every call answers ``dossier_closed``."""
    mt = await world.professional()
    grantee = await world.professional()
    other = await world.professional()
    holder, ins = await open_dossier(world)
    await declare_mt(world, holder, ins, mt)
    await grant_access(world, holder, ins, grantee)
    doc = await attach_document(world, mt, ins)
    await _close(world, holder, ins)

    names = {"doc": doc, "grantee": grantee.principal, "other": other.principal}
    url = f"/v1/dossiers/{ins}" + path.format(**names)
    filled = None
    if body is not None:
        filled = {k: v.format(**names) if isinstance(v, str) else v for k, v in body.items()}
    devices = {"holder": holder, "mt": mt, "grantee": grantee, "other": other}
    status, answer = await dossier_call(world, devices[who], method, url, filled)
    assert verdict(status, answer) == CLOSED


async def test_closed_dossier_refuses_attachment_but_delivers(world: World) -> None:
    """CR-6, W-1: a linked message to a closed dossier is delivered, its attachment refused."""
    mt = await world.professional()
    colleague = await world.professional()
    holder, ins = await open_dossier(world)
    await declare_mt(world, holder, ins, mt)
    await _close(world, holder, ins)
    status, answer = await send_linked(world, mt, [colleague], ins)
    assert status == 202
    assert answer["dossier"] == {"status": "refused", "code": "dossier_closed", "document": None}
    received = [e for e in await events_of(world, colleague) if e["type"] == "message"]
    assert [e["envelope"]["id"] for e in received] == [answer["id"]]


@pytest.mark.parametrize(
    ("closer", "expected"),
    [
        pytest.param("holder", (200, None), id="CR-6 holder closes"),
        pytest.param("representative", (200, None), id="CR-6 representative closes"),
        pytest.param("mt", (403, "holder_only"), id="CR-6 MT cannot close"),
        pytest.param(
            "stranger",
            (403, "representation_unverified"),
            id="CR-6 another patient cannot close",
        ),
    ],
)
async def test_holder_or_representative_closes_at_any_time(
    world: World, closer: str, expected: tuple[int, str | None]
) -> None:
    """CR-6: the holder (or a representative) closes the dossier; nobody else does. The holder
    is an adult under protection: a minor's dossier is closed by their representative (CR-8)."""
    holder, parent, ins = await represented_dossier(world, "protected")
    mt = await world.professional()
    await declare_mt(world, parent, ins, mt)
    devices = {
        "holder": holder,
        "representative": parent,
        "mt": mt,
        "stranger": await other_patient(world),
    }
    status, answer = await dossier_call(world, devices[closer], "POST", f"/v1/dossiers/{ins}/close")
    assert verdict(status, answer) == expected
    status, summary = await dossier_call(world, mt, "GET", f"/v1/dossiers/{ins}")
    if expected == (200, None):
        assert verdict(status, summary) == CLOSED
    else:
        assert verdict(status, summary) == (200, None)
        assert summary["status"] == "open"


@pytest.mark.parametrize(
    ("body", "setting"),
    [
        pytest.param(None, "dossier_retention_seconds", id="CR-6 kept 10 years after closure"),
        pytest.param(
            {"deletion_requested": True},
            "dossier_deletion_delay_seconds",
            id="CR-6 deletion request honoured within 3 months",
        ),
    ],
)
async def test_closure_schedules_the_purge(
    world: World, redis: Redis, settings: Settings, body: dict[str, Any] | None, setting: str
) -> None:
    """CR-6: closure sets the purge 10 years later, or within 3 months on a deletion request."""
    holder, ins = await open_dossier(world)
    await _close(world, holder, ins, body)
    [close] = [e for e in await stored_log(redis, ins) if e["action"] == "close"]
    assert (close["outcome"], close["actor"]) == ("allowed", holder.principal)
    delay = parse_utc(close["purge_at"]) - parse_utc(close["at"])
    assert abs(delay - timedelta(seconds=getattr(settings, setting))) <= timedelta(milliseconds=1)
    if body is None:
        assert delay >= timedelta(days=10 * 365)
    else:
        assert close["detail"] == "deletion_requested"
        assert delay <= timedelta(days=92)
    scheduled = await redis.zscore(redis_keys.DOSSIER_PURGES, ins)
    assert scheduled is not None
    assert abs(scheduled - parse_utc(close["purge_at"]).timestamp() * 1000) <= 1


async def test_deletion_requested_after_closure_is_honoured(
    world: World, redis: Redis, settings: Settings
) -> None:
    """CR-6: an explicit deletion request made after closure is honoured within 3 months."""
    holder, ins = await open_dossier(world)
    await _close(world, holder, ins)
    await _close(world, holder, ins, {"deletion_requested": True})
    scheduled = await redis.zscore(redis_keys.DOSSIER_PURGES, ins)
    [request] = [e for e in await stored_log(redis, ins) if e.get("detail") == "deletion_requested"]
    delay = timedelta(seconds=settings.dossier_deletion_delay_seconds)
    assert scheduled is not None
    assert scheduled <= (parse_utc(request["at"]) + delay).timestamp() * 1000 + 1


@pytest.fixture
async def fast_purge_world(
    aiohttp_client: AiohttpClient, settings: Settings, redis: Redis
) -> World:
    """CR-6 with retention in fractions of a second; the deletion delay stays long."""
    return await world_with(
        aiohttp_client,
        settings,
        redis,
        dossier_retention_seconds=0.2,
        purge_interval_seconds=0.05,
    )


async def _dossier_keys(redis: Redis, ins: str) -> set[str]:
    pattern = redis_keys.dossier(ins).replace(":dossier", ":*").replace("{", "[{]")
    return {key.decode() async for key in redis.scan_iter(match=pattern)}


async def test_purge_after_retention_leaves_only_a_tombstone(
    fast_purge_world: World, redis: Redis
) -> None:
    """CR-6, TR-2: once retention elapses the purge removes the dossier and its documents and
    leaves a minimal tombstone, chained to the purged log, as the single log entry."""
    world = fast_purge_world
    mt = await world.professional()
    holder, ins = await open_dossier(world)
    await declare_mt(world, holder, ins, mt)
    doc = await attach_document(world, mt, ins)
    assert redis_keys.dossier_document(ins, doc) in await _dossier_keys(redis, ins)
    await _close(world, holder, ins)
    last = (await stored_log(redis, ins))[-1]
    assert last["action"] == "close"

    async def purged() -> bool:
        return not await redis.exists(redis_keys.dossier(ins))

    await eventually(purged)
    assert await _dossier_keys(redis, ins) == {redis_keys.dossier_log(ins)}
    [tombstone] = await stored_log(redis, ins)
    assert set(tombstone) == {
        "at",
        "actor",
        "action",
        "outcome",
        "reason",
        "closed_at",
        "seq",
        "prev",
        "hash",
    }
    assert (tombstone["action"], tombstone["actor"], tombstone["outcome"]) == (
        "purge",
        "system",
        "allowed",
    )
    assert tombstone["reason"] == "retention_elapsed"
    assert (tombstone["seq"], tombstone["prev"]) == (last["seq"] + 1, last["hash"])
    assert verify_chain([tombstone], from_genesis=False).ok
    assert await redis.zscore(redis_keys.DOSSIER_PURGES, ins) is None
    status, answer = await dossier_call(world, holder, "GET", f"/v1/dossiers/{ins}")
    assert verdict(status, answer) == (404, "dossier_not_found")


async def test_deletion_request_purges_before_the_retention(
    aiohttp_client: AiohttpClient, settings: Settings, redis: Redis
) -> None:
    """CR-6: a deletion request is purged on its own (short) delay, a plain closure is kept."""
    world = await world_with(
        aiohttp_client,
        settings,
        redis,
        dossier_retention_seconds=3600,
        dossier_deletion_delay_seconds=0.2,
        purge_interval_seconds=0.05,
    )
    kept_holder, kept = await open_dossier(world)
    deleted_holder, deleted = await open_dossier(world)
    await _close(world, kept_holder, kept)
    await _close(world, deleted_holder, deleted, {"deletion_requested": True})

    async def purged() -> bool:
        return not await redis.exists(redis_keys.dossier(deleted))

    await eventually(purged)
    assert [e["action"] for e in await stored_log(redis, deleted)] == ["purge"]
    assert await redis.exists(redis_keys.dossier(kept))
    status, answer = await dossier_call(world, kept_holder, "GET", f"/v1/dossiers/{kept}")
    assert verdict(status, answer) == CLOSED
