"""Directory privacy (DESIGN §4, issue 7 item 3) over HTTP with real Redis: patients are not
browsable. Search never lists a patient, whoever asks; a patient's record and device keys answer
the patient, its live recorded representatives, professionals and applications, and anyone else
gets the 404 of an unknown principal, the same words and the same Redis work."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from redis.asyncio import Redis

from messaging import redis_keys
from tests.dossiers import ADULT_BIRTH, new_ins, other_patient, patient, represent
from tests.support import Device, World, compose

_names = itertools.count(1)


async def _get(world: World, reader: Device, path: str) -> tuple[int, str, Any]:
    response = await world.client.get(path, headers=reader.headers)
    return response.status, response.content_type, await response.json()


async def _named_patient(world: World) -> tuple[Device, str, str]:
    """An enrolled patient with a name no one else has: its device, INS and surname."""
    surname = f"Vasseur{next(_names)}x"
    ins = new_ins(ADULT_BIRTH)
    principal = await world.principal(
        f"patient:{ins}",
        kind="patient",
        display_name=f"Mme Odile {surname}",
        profession=None,
        birth_date=ADULT_BIRTH.isoformat(),
    )
    return await world.enroll(principal), ins, surname


async def _search(world: World, reader: Device, query: str) -> list[str]:
    status, _, answer = await _get(world, reader, f"/v1/directory?q={query}&limit=100")
    assert status == 200, answer
    return [p["id"] for p in answer["principals"]]


@pytest.mark.parametrize("reader_kind", ["patient", "professional"])
async def test_search_never_lists_a_patient(world: World, reader_kind: str) -> None:
    """DESIGN §4: not by name, not by INS, not by the ``patient:`` prefix, not with an empty
    query; a professional of the same surname is found, so the search itself works."""
    holder, ins, surname = await _named_patient(world)
    namesake = await world.principal(display_name=f"Dr Paul {surname}")
    reader = holder if reader_kind == "patient" else await world.professional()
    assert await _search(world, reader, surname.lower()) == [namesake]
    for query in ("odile", f"odile {surname}", ins, ins[:5], f"patient:{ins}", "patient:", ""):
        found = await _search(world, reader, query)
        assert all(not p.startswith("patient:") for p in found), (query, found)


async def test_a_patient_left_in_an_older_index_is_not_listed(world: World, redis: Redis) -> None:
    """Patients are not indexed (neither name nor INS is in Redis's search index); an index
    entry written before that is skipped."""
    _, ins, surname = await _named_patient(world)
    indexed = await redis.zrange(redis_keys.DIRECTORY_NAMES, 0, -1)
    assert not [
        entry for entry in indexed if ins.encode() in entry or surname.lower().encode() in entry
    ]
    await redis.zadd(redis_keys.DIRECTORY_NAMES, {f"{surname.lower()}\x00patient:{ins}": 0})
    assert await _search(world, await world.professional(), surname.lower()) == []


async def _hidden_and_unknown(
    world: World, reader: Device, holder: Device, ins: str
) -> list[tuple[tuple[int, str, Any], tuple[int, str, Any]]]:
    """For the record and a device of ``patient:<ins>``: what ``reader`` gets, next to what it
    gets for an INS nobody holds, the requested INS written ``<ins>`` in both."""
    unknown = new_ins(ADULT_BIRTH)
    pairs = []
    for suffix in ("", f"/devices/{holder.device_id}"):
        seen = []
        for target in (ins, unknown):
            status, content_type, body = await _get(
                world, reader, f"/v1/directory/patient:{target}{suffix}"
            )
            body["detail"] = body["detail"].replace(target, "<ins>")
            seen.append((status, content_type, body))
        pairs.append((seen[0], seen[1]))
    return pairs


async def test_another_patient_gets_the_404_of_an_unknown_principal(world: World) -> None:
    """DESIGN §4: a patient reading another patient's record or device keys gets exactly the
    answer an unregistered INS gets: status, type and problem body."""
    holder, ins = await patient(world)
    stranger = await other_patient(world)
    for hidden, unknown in await _hidden_and_unknown(world, stranger, holder, ins):
        assert hidden == unknown
        assert hidden[:2] == (404, "application/problem+json")
        assert hidden[2]["code"] == "not_found"


async def _read_both(world: World, reader: Device, holder: Device) -> tuple[int, int]:
    record, _, _ = await _get(world, reader, f"/v1/directory/{holder.principal}")
    device, _, _ = await _get(
        world, reader, f"/v1/directory/{holder.principal}/devices/{holder.device_id}"
    )
    return record, device


async def test_who_reads_a_patients_record(world: World) -> None:
    """DESIGN §4: the patient itself, professionals and applications read the record and the
    device keys; so does a recorded representative, until the operator removes the
    representation: then the very next read is the unknown principal's 404."""
    holder, ins = await patient(world)
    application = await world.enroll(
        await world.principal("app:labo-privacy", kind="application", profession=None)
    )
    for reader in (holder, await world.professional(), application):
        assert await _read_both(world, reader, holder) == (200, 200)
    _, _, entry = await _get(world, holder, f"/v1/directory/{holder.principal}")
    assert [d["id"] for d in entry["devices"]] == [holder.device_id]
    assert "birth_date" not in entry

    parent = await other_patient(world)
    assert await _read_both(world, parent, holder) == (404, 404)
    representation = await represent(world, ins, parent, kind="protection_person")
    assert await _read_both(world, parent, holder) == (200, 200)
    removed = await world.client.delete(
        f"/v1/admin/representations/{representation}", headers=world.operator
    )
    assert removed.status == 204
    for hidden, unknown in await _hidden_and_unknown(world, parent, holder, ins):
        assert hidden == unknown
        assert hidden[0] == 404


async def _commands(world: World, redis: Redis, reader: Device, ins: str, path: str) -> list[str]:
    """The Redis commands ``reader``'s GET of ``path`` sends that name ``ins`` (written
    ``<ins>``), in order: background tasks never name a patient's INS."""
    marker = f"end-of-{ins}"
    async with redis.monitor() as monitor:
        await _get(world, reader, path)
        await redis.echo(marker)
        commands = []
        while marker not in (command := (await monitor.next_command())["command"]):
            if ins in command:
                commands.append(command.replace(ins, "<ins>"))
    return commands


async def test_a_refusal_sends_redis_what_an_unknown_ins_sends(world: World, redis: Redis) -> None:
    """DESIGN §4 (no enumeration by timing): refusing a registered patient's record reads the
    same keys, in the same order, as answering for an INS nobody holds; the patient's own record
    is never read, so no cache and no key says it exists."""
    holder, ins = await patient(world)
    unknown = new_ins(ADULT_BIRTH)
    stranger = await other_patient(world)
    for suffix in ("", f"/devices/{holder.device_id}"):
        sent = [
            await _commands(world, redis, stranger, t, f"/v1/directory/patient:{t}{suffix}")
            for t in (ins, unknown)
        ]
        assert sent[0] == sent[1]
        assert sent[0], "the refusal reads the holder's representations"
        assert not any(redis_keys.principal("patient:<ins>") in c for c in sent[0])


async def _send(
    world: World, sender: Device, recipient: str, wrapped: list[Device]
) -> tuple[int, Any]:
    envelope = compose(sender, [recipient], wrapped)
    response = await world.client.post("/v1/messages", json=envelope, headers=sender.headers)
    return response.status, await response.json()


async def test_a_message_to_a_hidden_patient_is_refused_as_to_an_unknown_one(world: World) -> None:
    """DESIGN §4, attack beyond issue 7: ``POST /v1/messages`` from one patient to another
    answered 409 ``stale_devices`` listing the other patient's devices, 404
    ``unknown_recipient`` for an unregistered INS. Now both are the unknown recipient's 404;
    a recorded representative still writes to the holder."""
    holder, ins = await patient(world)
    stranger = await other_patient(world)
    bystander = await world.professional()
    unknown = f"patient:{new_ins(ADULT_BIRTH)}"
    hidden = await _send(world, stranger, holder.principal, [bystander])
    missing = await _send(world, stranger, unknown, [bystander])
    assert hidden[0] == missing[0] == 404
    assert hidden[1] == missing[1] | {"recipients": [holder.principal]}
    assert hidden[1]["code"] == "unknown_recipient"

    parent = await other_patient(world)
    await represent(world, ins, parent, kind="protection_person")
    assert (await _send(world, parent, holder.principal, [holder]))[0] == 202
