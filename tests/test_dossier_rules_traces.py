"""The access log (TR-1..TR-3) over HTTP with real Redis; the holder's view and notifications
(TR-4, TR-5) are in ``test_dossier_rules_holder.py``."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from redis.asyncio import Redis

from dossier_link.access_log import entry_hash, verify_chain
from messaging import crypto, redis_keys
from messaging.redis_text import text
from messaging.timeutil import parse_utc
from tests.dossiers import (
    attach_document,
    ban_professional,
    declare_mt,
    dossier_call,
    dossier_cast,
    grant_access,
    linked_envelope,
    other_patient,
    post_envelope,
    read_verdict,
    represented_dossier,
    send_linked,
    stored_log,
    verdict,
)
from tests.support import Device, World, new_slug

Verdict = tuple[int, str | None]
OK: Verdict = (200, None)
ENTRY_FIELDS = {"at", "actor", "action", "outcome", "reason", "seq", "prev", "hash"}


# --- TR-1 -------------------------------------------------------------------------------------

SEND = "SEND"  # a dossier-linked message from ``who`` to the professional named by ``path``


@pytest.mark.parametrize(
    ("who", "method", "path", "body", "answer", "entry"),
    [
        pytest.param(
            "holder", "", "", None, None, ("holder", "create", "ok"), id="TR-1 CR-1 creation"
        ),
        pytest.param(
            "holder", "", "", None, None, ("holder", "consent", "ok"), id="TR-1 CR-1 consent"
        ),
        pytest.param(
            "holder",
            "POST",
            "/grants",
            {"professional": "{stranger}"},
            (201, None),
            ("holder", "grant", "ok"),
            id="TR-1 grant",
        ),
        pytest.param(
            "holder",
            "POST",
            "/grants",
            {"professional": "{insurer}"},
            (403, "insurer_cannot_be_granted"),
            ("holder", "grant", "insurer_cannot_be_granted"),
            id="TR-1 RD-7 refused grant",
        ),
        pytest.param(
            "holder",
            "DELETE",
            "/grants/{grantee}",
            None,
            (204, None),
            ("holder", "withdraw_grant", "ok"),
            id="TR-1 RD-9 withdrawal",
        ),
        pytest.param(
            "holder",
            "POST",
            "/bans",
            {"professional": "{stranger}"},
            (201, None),
            ("holder", "ban", "ok"),
            id="TR-1 ban",
        ),
        pytest.param(
            "holder",
            "DELETE",
            "/bans/{banned}",
            None,
            (204, None),
            ("holder", "lift_ban", "ok"),
            id="TR-1 lifted ban",
        ),
        pytest.param(
            "holder",
            "PUT",
            "/medecin-traitant",
            {"professional": "{stranger}"},
            OK,
            ("holder", "set_medecin_traitant", "ok"),
            id="TR-1 MT change",
        ),
        pytest.param(
            "grantee",
            SEND,
            "mt",
            None,
            (202, None),
            ("grantee", "write", "ok"),
            id="TR-1 write",
        ),
        pytest.param(
            "stranger",
            SEND,
            "mt",
            None,
            (202, "no_grant"),
            ("stranger", "write", "no_grant"),
            id="TR-1 W-1 refused write",
        ),
        pytest.param(
            "mt",
            SEND,
            "banned",
            None,
            (403, "patient_opposed"),
            ("mt", "message", "patient_opposed"),
            id="TR-1 MS-2 refused message",
        ),
        pytest.param(
            "grantee",
            "GET",
            "/documents/{doc}",
            None,
            OK,
            ("grantee", "read", "ok"),
            id="TR-1 read",
        ),
        pytest.param(
            "stranger",
            "GET",
            "/documents/{doc}",
            None,
            (403, "no_grant"),
            ("stranger", "read", "no_grant"),
            id="TR-1 refused read",
        ),
        pytest.param(
            "grantee", "GET", "/documents", None, OK, ("grantee", "list", "ok"), id="TR-1 list"
        ),
        pytest.param(
            "stranger",
            "GET",
            "/documents",
            None,
            (403, "no_grant"),
            ("stranger", "list", "no_grant"),
            id="TR-1 refused list",
        ),
        pytest.param("grantee", "GET", "", None, OK, ("grantee", "view", "ok"), id="TR-1 view"),
        pytest.param(
            "holder",
            "PATCH",
            "/documents/{doc}",
            {"masked": True},
            (204, None),
            ("holder", "mask", "ok"),
            id="TR-1 MK-1 mask",
        ),
        pytest.param(
            "mt",
            "PATCH",
            "/documents/{doc}",
            {"masked": True},
            (403, "holder_only"),
            ("mt", "mask", "holder_only"),
            id="TR-1 MK-1 refused mask",
        ),
        pytest.param(
            "mt",
            "PATCH",
            "/documents/{mt_doc}",
            {"hidden_from_holder": True},
            (204, None),
            ("mt", "hide_from_holder", "ok"),
            id="TR-1 HD-1 hide from holder",
        ),
        pytest.param(
            "stranger",
            "POST",
            "/emergency-access",
            {"reason": "arrêt cardio-respiratoire"},
            (201, None),
            ("stranger", "emergency_access", "ok"),
            id="TR-1 EM-2 emergency access",
        ),
        pytest.param(
            "banned",
            "POST",
            "/emergency-access",
            {"reason": "arrêt cardio-respiratoire"},
            (403, "banned"),
            ("banned", "emergency_access", "banned"),
            id="TR-1 refused emergency access",
        ),
        pytest.param(
            "holder",
            "PUT",
            "/emergency-opposition",
            {"opposed": True},
            OK,
            ("holder", "oppose_emergency", "ok"),
            id="TR-1 EM-1 opposition",
        ),
        pytest.param(
            "holder", "POST", "/close", None, OK, ("holder", "close", "ok"), id="TR-1 CR-6 closure"
        ),
        pytest.param(
            "mt",
            "POST",
            "/close",
            None,
            (403, "holder_only"),
            ("mt", "close", "holder_only"),
            id="TR-1 CR-6 refused closure",
        ),
    ],
)
async def test_every_action_is_logged_with_time_actor_outcome_and_reason(
    world: World,
    redis: Redis,
    who: str,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    answer: Verdict | None,
    entry: tuple[str, str, str],
) -> None:
    """TR-1: every action, allowed or refused, leaves an entry with time, actor, action,
    outcome and reason (read here past the API, which refuses a closed dossier)."""
    started = datetime.now(UTC) - timedelta(milliseconds=1)
    cast = await dossier_cast(world)
    devices = cast.devices
    names = {"doc": cast.doc, "mt_doc": cast.mt_doc, **{k: d.principal for k, d in devices.items()}}
    if method == SEND:
        status, sent = await send_linked(world, devices[who], [devices[path]], cast.ins)
        result = (status, sent["dossier"]["code"]) if status == 202 else verdict(status, sent)
        assert result == answer
    elif method:
        filled = None
        if body is not None:
            filled = {k: v.format(**names) if isinstance(v, str) else v for k, v in body.items()}
        url = f"/v1/dossiers/{cast.ins}" + path.format(**names)
        status, sent = await dossier_call(world, devices[who], method, url, filled)
        assert verdict(status, sent) == answer

    entries = await stored_log(redis, cast.ins)
    actor, action, reason = entry
    [logged] = [e for e in entries if e["action"] == action and e["actor"] == names[actor]][-1:]
    assert set(logged) >= ENTRY_FIELDS
    assert logged["outcome"] == ("allowed" if reason == "ok" else "refused")
    assert logged["reason"] == reason
    assert started <= parse_utc(logged["at"]) <= datetime.now(UTC)
    if method:
        assert logged == entries[-1]


async def test_refused_reading_of_the_log_is_logged(world: World, redis: Redis) -> None:
    """TR-1: a refusal is an action like any other, the log's own reading included."""
    cast = await dossier_cast(world)
    insurer = cast.devices["insurer"]
    status, answer = await dossier_call(
        world, insurer, "GET", f"/v1/dossiers/{cast.ins}/access-log"
    )
    assert verdict(status, answer) == (403, "insurer_excluded")
    refused = [e for e in await stored_log(redis, cast.ins) if e["actor"] == insurer.principal]
    assert [(e["outcome"], e["reason"]) for e in refused] == [("refused", "insurer_excluded")]


@pytest.mark.parametrize(
    "writer",
    [
        pytest.param("grantee", id="TR-1 W-1 unreadable wrap from a grantee is logged"),
        pytest.param("stranger", id="TR-1 W-1 unreadable wrap from a stranger is logged"),
    ],
)
async def test_write_refused_for_an_unreadable_wrap_is_logged(
    world: World, redis: Redis, writer: str
) -> None:
    """TR-1, W-1: the refused attachment of a message whose dossier wrap the store cannot open
    is logged on the (existing) dossier like any other refused write."""
    cast = await dossier_cast(world)
    sender = cast.devices[writer]
    envelope = linked_envelope(
        sender, [cast.devices["mt"]], cast.ins, crypto.DeviceKeys.generate().box.public
    )
    status, answer = await post_envelope(world, sender, envelope)
    assert (status, answer["dossier"]["code"]) == (202, "bad_dossier_wrap")
    writes = [e for e in await stored_log(redis, cast.ins) if e["actor"] == sender.principal]
    assert [(e["action"], e["outcome"], e["reason"]) for e in writes[-1:]] == [
        ("write", "refused", "bad_dossier_wrap")
    ]


# --- TR-2 -------------------------------------------------------------------------------------


async def test_log_is_append_only_and_every_full_reader_verifies_it(world: World) -> None:
    """TR-2: new actions only append; each entry carries the previous hash, and the holder,
    the MT and an extended grantee all receive a chain that verifies."""
    cast = await dossier_cast(world)
    extended = await world.professional()
    await grant_access(world, cast.holder, cast.ins, extended, "extended")
    base = f"/v1/dossiers/{cast.ins}"
    status, first = await dossier_call(world, cast.holder, "GET", f"{base}/access-log")
    assert verdict(status, first) == OK
    assert await read_verdict(world, extended, cast.ins, cast.doc) == OK
    await ban_professional(world, cast.holder, cast.ins, cast.devices["stranger"])

    previous: Device | None = None
    for reader in (cast.holder, cast.devices["mt"], extended):
        status, log = await dossier_call(world, reader, "GET", f"{base}/access-log")
        assert verdict(status, log) == OK
        entries = log["entries"]
        assert (log["scope"], log["chain_ok"]) == ("all", True)
        assert verify_chain(entries).ok
        assert entries[: len(first["entries"])] == first["entries"]
        assert [e["seq"] for e in entries] == list(range(1, len(entries) + 1))
        assert all(e["prev"] == p["hash"] for p, e in itertools.pairwise(entries))
        if previous is None:
            assert entries[-1]["action"] == "ban"
        else:  # TR-6: the previous reading is logged; a reader's own reading comes after
            assert (entries[-1]["action"], entries[-1]["actor"]) == ("read_log", previous.principal)
        previous = reader


async def _edit(redis: Redis, key: str) -> None:
    entry = json.loads(await redis.lindex(key, 2) or b"{}")
    entry["outcome"] = "refused"
    await redis.lset(key, 2, json.dumps(entry))


async def _remove(redis: Redis, key: str) -> None:
    await redis.lrem(key, 1, text(await redis.lindex(key, 2) or b""))


async def _swap(redis: Redis, key: str) -> None:
    second, third = await redis.lindex(key, 1) or b"", await redis.lindex(key, 2) or b""
    await redis.lset(key, 1, text(third))
    await redis.lset(key, 2, text(second))


async def _truncate(redis: Redis, key: str) -> None:
    await redis.rpop(key)


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param("edit", id="TR-2 an entry edited"),
        pytest.param("remove", id="TR-2 an entry removed"),
        pytest.param("swap", id="TR-2 two entries swapped"),
        pytest.param("truncate", id="TR-2 newest entry dropped"),
    ],
)
async def test_tampering_with_the_log_is_evident(world: World, redis: Redis, tamper: str) -> None:
    """TR-2: an edited, removed, reordered or dropped entry breaks the chain for the server."""
    cast = await dossier_cast(world)
    key = redis_keys.dossier_log(cast.ins)
    actions = {"edit": _edit, "remove": _remove, "swap": _swap, "truncate": _truncate}
    await actions[tamper](redis, key)
    status, log = await dossier_call(
        world, cast.holder, "GET", f"/v1/dossiers/{cast.ins}/access-log"
    )
    assert verdict(status, log) == OK
    assert log["chain_ok"] is False


# --- TR-3 -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reader", "expected", "scope"),
    [
        pytest.param("holder", OK, "all", id="TR-3 holder reads the whole log"),
        pytest.param("representative", OK, "all", id="TR-3 representative reads it all"),
        pytest.param("mt", OK, "all", id="TR-3 RD-2 MT reads the whole log"),
        pytest.param("extended", OK, "all", id="TR-3 RD-3 extended grantee reads it all"),
        pytest.param("standard", OK, "own", id="TR-3 standard grantee reads own entries"),
        pytest.param("care_team", OK, "own", id="TR-3 care-team member reads own entries"),
        pytest.param("author", OK, "own", id="TR-3 RD-5 author without grant reads own"),
        pytest.param(
            "stranger",
            (403, "no_grant"),
            None,
            id="TR-3 RD-12 professional who never had a right reads nothing",
        ),
        pytest.param("insurer", (403, "insurer_excluded"), None, id="TR-3 RD-7 insurer"),
        pytest.param("banned", (403, "banned"), None, id="TR-3 RD-4 banned professional"),
        pytest.param("application", (403, "no_professional_capacity"), None, id="TR-3 application"),
        pytest.param(
            "patient", (403, "representation_unverified"), None, id="TR-3 another patient"
        ),
    ],
)
async def test_who_reads_the_log_and_how_much(
    world: World, reader: str, expected: Verdict, scope: str | None
) -> None:
    """TR-3: the holder, the MT and extended grantees read the whole log; any other
    professional reads the entries of their own actions only."""
    holder, parent, ins = await represented_dossier(world)
    mt = await world.professional()
    await declare_mt(world, parent, ins, mt)
    await attach_document(world, mt, ins)
    devices = {"holder": holder, "representative": parent, "mt": mt}
    if reader not in devices:
        if reader == "insurer":
            devices[reader] = await world.professional(roles=["insurer"])
        elif reader == "application":
            app = await world.principal(
                new_slug("app"), kind="application", display_name="Robot", profession=None
            )
            devices[reader] = await world.enroll(app)
        elif reader == "patient":
            devices[reader] = await other_patient(world)
        else:
            devices[reader] = await world.professional()
    device = devices[reader]
    if reader in ("extended", "standard", "care_team", "author", "banned"):
        level = "extended" if reader == "extended" else "standard"
        basis = "care_team" if reader == "care_team" else "consent"
        await grant_access(world, parent, ins, device, level, basis)
    if reader in ("author", "banned"):
        await attach_document(world, device, ins)
        status, _ = await dossier_call(
            world, parent, "DELETE", f"/v1/dossiers/{ins}/grants/{device.principal}"
        )
        assert status == 204
    if reader == "banned":
        await ban_professional(world, parent, ins, device)
    await dossier_call(world, device, "GET", f"/v1/dossiers/{ins}/documents")

    status, log = await dossier_call(world, device, "GET", f"/v1/dossiers/{ins}/access-log")
    assert verdict(status, log) == expected
    if scope is None:
        return
    assert log["scope"] == scope
    actors = {e["actor"] for e in log["entries"]}
    if scope == "all":
        assert log["chain_ok"] is True
        assert {parent.principal, mt.principal} <= actors
    else:
        # Links cannot be checked on a filtered extract; each entry's own hash still can.
        assert log["chain_ok"] is None
        assert actors == {device.principal}
        assert all(entry_hash(e) == e["hash"] for e in log["entries"])
