"""What each reader sees: MT and extended rights, masking, hiding from the holder, the holder's
and representatives' view (RD-2, RD-3, RD-8, MK-1, MK-2, HD-1) over HTTP with real Redis."""

from __future__ import annotations

from datetime import timedelta

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
    grant_access,
    listed,
    open_dossier,
    open_emergency,
    read_verdict,
    represented_dossier,
    verdict,
    world_with,
)
from tests.support import Device, World

Verdict = tuple[int, str | None]
OK: Verdict = (200, None)
MASKED: Verdict = (403, "document_masked")


async def _patch(world: World, device: Device, ins: str, doc: str, **fields: bool) -> Verdict:
    status, answer = await dossier_call(
        world, device, "PATCH", f"/v1/dossiers/{ins}/documents/{doc}", fields
    )
    return verdict(status, answer)


# --- RD-2, RD-3, MK-2 (and MK-1's effect) -----------------------------------------------------


@pytest.mark.parametrize(
    ("reader", "expected", "basis"),
    [
        pytest.param("mt", OK, "medecin_traitant", id="RD-2 MK-2 MT reads a masked document"),
        pytest.param("extended", OK, "extended", id="RD-3 MK-2 extended grant reads masked"),
        pytest.param("author", OK, "grant", id="RD-5 MK-2 author reads their masked document"),
        pytest.param("standard", MASKED, "grant", id="MK-1 standard grant does not see masked"),
        pytest.param("care_team", MASKED, "care_team", id="MK-1 care team does not see masked"),
        pytest.param("emergency", MASKED, "emergency", id="MK-1 EM-1 emergency does not see"),
        pytest.param("holder", OK, "holder", id="RD-8 holder reads masked"),
    ],
)
async def test_masked_document_stays_visible_to_author_mt_and_extended(
    world: World, reader: str, expected: Verdict, basis: str
) -> None:
    """RD-2, RD-3, MK-2: the MT and extended grantees (MT-level rights) and the author read a
    document the holder masked; other professionals neither read nor list it."""
    mt = await world.professional()
    author = await world.professional()
    holder, ins = await open_dossier(world)
    await declare_mt(world, holder, ins, mt)
    await grant_access(world, holder, ins, author)
    masked = await attach_document(world, author, ins, title="Sérologie")
    plain = await attach_document(world, author, ins, title="Ordonnance")
    assert await _patch(world, holder, ins, masked, masked=True) == (204, None)

    devices = {"mt": mt, "author": author, "holder": holder}
    if reader not in devices:
        devices[reader] = await world.professional()
        if reader == "emergency":
            await open_emergency(world, devices[reader], ins)
        else:
            level = "extended" if reader == "extended" else "standard"
            grant_basis = "care_team" if reader == "care_team" else "consent"
            await grant_access(world, holder, ins, devices[reader], level, grant_basis)
    device = devices[reader]
    status, summary = await dossier_call(world, device, "GET", f"/v1/dossiers/{ins}")
    assert (status, summary["your_basis"]) == (200, basis)
    assert await read_verdict(world, device, ins, masked) == expected
    assert await read_verdict(world, device, ins, plain) == OK
    visible = await listed(world, device, ins)
    assert visible is not None
    assert (masked in visible) == (expected == OK)
    assert plain in visible


# --- MK-1 -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("masker", "expected"),
    [
        pytest.param("holder", (204, None), id="MK-1 holder masks and unmasks"),
        pytest.param("representative", (204, None), id="MK-1 representative masks and unmasks"),
        pytest.param("mt", (403, "holder_only"), id="MK-1 MT cannot mask"),
        pytest.param("author", (403, "holder_only"), id="MK-1 author cannot mask"),
    ],
)
async def test_holder_masks_and_unmasks_at_any_time(
    world: World, masker: str, expected: Verdict
) -> None:
    """MK-1: the holder (or representative) masks a document from professionals and unmasks it;
    each change takes effect on the next read. The holder is an adult under protection: a
    minor's masking is their representative's (CR-8)."""
    holder, parent, ins = await represented_dossier(world, "protected")
    mt = await world.professional()
    author = await world.professional()
    colleague = await world.professional()
    await declare_mt(world, parent, ins, mt)
    await grant_access(world, parent, ins, author)
    await grant_access(world, parent, ins, colleague)
    doc = await attach_document(world, author, ins)
    devices = {"holder": holder, "representative": parent, "mt": mt, "author": author}

    assert await _patch(world, devices[masker], ins, doc, masked=True) == expected
    changed = expected == (204, None)
    assert await read_verdict(world, colleague, ins, doc) == (MASKED if changed else OK)
    if not changed:
        return
    assert await listed(world, colleague, ins) == []
    assert await _patch(world, devices[masker], ins, doc, masked=False) == (204, None)
    assert await read_verdict(world, colleague, ins, doc) == OK
    assert await listed(world, colleague, ins) == [doc]
    status, log = await dossier_call(world, parent, "GET", f"/v1/dossiers/{ins}/access-log")
    assert verdict(status, log) == OK
    changes = [(e["action"], e["actor"]) for e in log["entries"] if "mask" in e["action"]]
    assert changes == [("mask", devices[masker].principal), ("unmask", devices[masker].principal)]


# --- RD-8 -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("situation", "reader", "flag", "expected"),
    [
        pytest.param("minor", "holder", None, OK, id="RD-8 holder reads a document"),
        pytest.param("minor", "holder", "masked", OK, id="RD-8 holder reads a masked one"),
        pytest.param(
            "minor",
            "holder",
            "invisible_to_legal_representatives",
            OK,
            id="RD-8 holder reads one invisible to representatives",
        ),
        pytest.param(
            "minor",
            "holder",
            "hidden_from_holder",
            (403, "hidden_from_holder"),
            id="RD-8 HD-1 holder does not read a hidden one",
        ),
        pytest.param("minor", "representative", None, OK, id="RD-8 representative reads"),
        pytest.param(
            "minor", "representative", "masked", OK, id="RD-8 representative reads masked"
        ),
        pytest.param(
            "minor",
            "representative",
            "invisible_to_legal_representatives",
            (404, "not_found"),
            id="RD-8 RD-10 legal representative does not see invisible",
        ),
        pytest.param(
            "minor",
            "representative",
            "hidden_from_holder",
            (403, "hidden_from_holder"),
            id="RD-8 HD-1 representative does not see hidden",
        ),
        pytest.param(
            "protected",
            "representative",
            "invisible_to_legal_representatives",
            OK,
            id="RD-8 RD-10 protection person sees invisible",
        ),
        pytest.param(
            "protected",
            "holder",
            "invisible_to_legal_representatives",
            OK,
            id="RD-8 protected holder reads invisible",
        ),
    ],
)
async def test_holder_reads_whole_dossier_representative_less(
    world: World, situation: str, reader: str, flag: str | None, expected: Verdict
) -> None:
    """RD-8: the holder reads everything but what a professional hides pending announcement
    (HD-1); a representative also misses documents invisible to legal representatives."""
    holder, representative, ins = await represented_dossier(world, situation)
    mt = await world.professional()
    await declare_mt(world, representative, ins, mt)
    header = {} if flag in (None, "masked") else {flag: True}
    doc = await attach_document(world, mt, ins, **header)
    if flag == "masked":
        assert await _patch(world, representative, ins, doc, masked=True) == (204, None)
    device = holder if reader == "holder" else representative
    assert await read_verdict(world, device, ins, doc) == expected
    assert await listed(world, device, ins) == ([doc] if expected == OK else [])
    assert await read_verdict(world, mt, ins, doc) == OK


# --- HD-1 -------------------------------------------------------------------------------------


async def test_author_hides_a_document_from_the_holder_for_a_month(
    world: World, settings: Settings
) -> None:
    """HD-1: a document sent hidden is unreadable by the holder until the release date, one
    month (setting) after it was written; professionals read it meanwhile."""
    mt = await world.professional()
    author = await world.professional()
    holder, ins = await open_dossier(world)
    await declare_mt(world, holder, ins, mt)
    await grant_access(world, holder, ins, author)
    doc = await attach_document(world, author, ins, hidden_from_holder=True, title="Biopsie")
    assert await read_verdict(world, holder, ins, doc) == (403, "hidden_from_holder")
    assert await listed(world, holder, ins) == []
    assert await read_verdict(world, mt, ins, doc) == OK
    assert await read_verdict(world, author, ins, doc) == OK
    status, listing = await dossier_call(world, mt, "GET", f"/v1/dossiers/{ins}/documents")
    assert verdict(status, listing) == OK
    [summary] = listing["documents"]
    release = parse_utc(summary["hidden_from_holder_until"]) - parse_utc(summary["created_at"])
    month = timedelta(days=settings.hidden_from_holder_days)
    assert abs(release - month) <= timedelta(milliseconds=1)
    assert timedelta(days=28) <= month <= timedelta(days=31)


@pytest.mark.parametrize(
    ("hider", "expected"),
    [
        pytest.param("author", (204, None), id="HD-1 author hides and shows"),
        pytest.param("mt", (403, "not_author"), id="HD-1 MT is not the author"),
        pytest.param("colleague", (403, "not_author"), id="HD-1 extended grantee not the author"),
        pytest.param("holder", (403, "no_professional_capacity"), id="HD-1 holder cannot hide"),
    ],
)
async def test_only_the_author_hides_from_the_holder(
    world: World, hider: str, expected: Verdict
) -> None:
    """HD-1: only the professional who wrote the document hides it from the holder, or shows it
    again before the release date."""
    mt = await world.professional()
    author = await world.professional()
    colleague = await world.professional()
    holder, ins = await open_dossier(world)
    await declare_mt(world, holder, ins, mt)
    await grant_access(world, holder, ins, author)
    await grant_access(world, holder, ins, colleague, "extended")
    doc = await attach_document(world, author, ins)
    devices = {"author": author, "mt": mt, "colleague": colleague, "holder": holder}

    assert await _patch(world, devices[hider], ins, doc, hidden_from_holder=True) == expected
    hidden = expected == (204, None)
    assert await read_verdict(world, holder, ins, doc) == (
        (403, "hidden_from_holder") if hidden else OK
    )
    if hidden:
        assert await _patch(world, author, ins, doc, hidden_from_holder=False) == (204, None)
        assert await read_verdict(world, holder, ins, doc) == OK


async def test_hidden_document_is_released_to_the_holder_automatically(
    aiohttp_client: AiohttpClient, settings: Settings, redis: Redis
) -> None:
    """HD-1: once the release delay (here half a second) passes, the holder reads it unasked."""
    world = await world_with(aiohttp_client, settings, redis, hidden_from_holder_days=0.5 / 86_400)
    mt = await world.professional()
    holder, ins = await open_dossier(world)
    await declare_mt(world, holder, ins, mt)
    doc = await attach_document(world, mt, ins, hidden_from_holder=True)
    assert await read_verdict(world, holder, ins, doc) == (403, "hidden_from_holder")

    async def released() -> bool:
        return await read_verdict(world, holder, ins, doc) == OK

    await eventually(released)
    assert await listed(world, holder, ins) == [doc]
