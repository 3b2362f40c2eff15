"""The blob API over HTTP (docs/protocol.md, "Blobs"): uploads declared, written in pieces and
resumed, completed against their digest, bound to the message that names them, read by its
devices only, refused past the size and the quota, and swept once orphaned or past retention.
Sizes are a few KB: the 200 MB run is in test_blob_transfer.py."""

from __future__ import annotations

import asyncio
import io
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import ClientResponse
from pytest_aiohttp import AiohttpClient
from redis.asyncio import Redis

from messaging import crypto, redis_keys
from messaging.blob_stream import new_digest, seal_file
from messaging.blobs import DOSSIER_RECHECK_MS
from messaging.models import DossierHeader
from messaging.redis_link import RedisClient
from messaging.redis_server import RedisServer
from messaging.server.app import create_app
from messaging.server.appkeys import BLOBS, DOSSIERS
from messaging.settings import Settings
from messaging.timeutil import now, now_ms
from tests.at_rest import disk_dump, redis_dump, secret_forms
from tests.conftest import ADMIN_TOKEN
from tests.dossiers import declare_mt, dossier_call, open_dossier, server_dossier_key, stored_log
from tests.support import Device, World, compose

QUOTA = 10_000
DATA = bytes(range(256)) * 16  # 4 KiB


@pytest.fixture
def blob_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"blob_max_bytes": 6000, "blob_quota_bytes": QUOTA, "blob_orphan_hours": 1.0}
    )


@pytest.fixture
async def world(
    aiohttp_client: AiohttpClient, blob_settings: Settings, redis: RedisClient
) -> World:
    return World(await aiohttp_client(create_app(blob_settings)), ADMIN_TOKEN, redis)


def _digest(data: bytes) -> str:
    digest = new_digest()
    digest.update(data)
    return crypto.b64u_encode(digest.digest())


async def _create(world: World, device: Device, size: int) -> ClientResponse:
    return await world.client.post("/v1/blobs", json={"size": size}, headers=device.headers)


async def _patch(world: World, device: Device, blob: str, offset: int, data: Any) -> ClientResponse:
    headers = {
        **device.headers,
        "Upload-Offset": str(offset),
        "Content-Type": "application/octet-stream",
    }
    return await world.client.patch(f"/v1/blobs/{blob}", data=data, headers=headers)


async def _upload(world: World, device: Device, data: bytes = DATA) -> str:
    created = await _create(world, device, len(data))
    assert created.status == 201, await created.text()
    blob: str = (await created.json())["id"]
    for start in range(0, len(data), 1500):
        response = await _patch(world, device, blob, start, data[start : start + 1500])
        assert response.status == 200, await response.text()
    done = await world.client.post(
        f"/v1/blobs/{blob}/complete", json={"digest": _digest(data)}, headers=device.headers
    )
    assert done.status == 200, await done.text()
    return blob


async def _problem(response: ClientResponse, status: int, code: str) -> dict[str, Any]:
    assert response.status == status, await response.text()
    assert response.content_type == "application/problem+json"
    problem: dict[str, Any] = await response.json()
    assert problem["code"] == code
    return problem


def _with_blobs(envelope: dict[str, Any], blobs: list[str], sender: Device) -> dict[str, Any]:
    signed = {k: v for k, v in envelope.items() if k not in ("signature", "keys")}
    signed["blobs"] = blobs
    signed["signature"] = crypto.sign_envelope(signed, sender.keys.sign)
    return signed | {"keys": envelope["keys"]}


async def _send(world: World, sender: Device, to: list[Device], blobs: list[str]) -> ClientResponse:
    envelope = _with_blobs(compose(sender, [to[0].principal], to), blobs, sender)
    return await world.client.post("/v1/messages", json=envelope, headers=sender.headers)


async def test_an_upload_in_pieces_is_downloaded_whole_and_by_range(world: World) -> None:
    alice = await world.professional()
    blob = await _upload(world, alice)
    status = await (await world.client.get(f"/v1/blobs/{blob}", headers=alice.headers)).json()
    assert status | {"expires_at": None} == {
        "id": blob,
        "size": len(DATA),
        "held": len(DATA),
        "complete": True,
        "digest": _digest(DATA),
        "expires_at": None,
    }
    whole = await world.client.get(f"/v1/blobs/{blob}/content", headers=alice.headers)
    assert (whole.status, await whole.read()) == (200, DATA)
    part = await world.client.get(
        f"/v1/blobs/{blob}/content", headers={**alice.headers, "Range": "bytes=100-199"}
    )
    assert (part.status, await part.read()) == (206, DATA[100:200])
    assert part.headers["Content-Range"] == f"bytes 100-199/{len(DATA)}"
    beyond = await world.client.get(
        f"/v1/blobs/{blob}/content", headers={**alice.headers, "Range": "bytes=99999-"}
    )
    await _problem(beyond, 416, "range_not_satisfiable")


async def _settled(world: World, device: Device, blob: str) -> dict[str, Any]:
    """The upload's status once the server has seen the cut (it learns it a moment later)."""
    for _ in range(100):
        response = await world.client.get(f"/v1/blobs/{blob}", headers=device.headers)
        status: dict[str, Any] = await response.json()
        if status["held"]:
            return status
        await asyncio.sleep(0.02)
    return status


async def test_a_cut_upload_resumes_from_what_the_server_holds(
    world: World, blob_settings: Settings
) -> None:
    alice = await world.professional()
    blob = (await (await _create(world, alice, len(DATA))).json())["id"]

    # The connection drops after 2000 of the 4096 bytes the request announced.
    url = world.client.make_url(f"/v1/blobs/{blob}")
    _, writer = await asyncio.open_connection(url.host, url.port)
    writer.write(
        f"PATCH {url.path} HTTP/1.1\r\nHost: {url.host}\r\n"
        f"Authorization: {alice.headers['Authorization']}\r\nUpload-Offset: 0\r\n"
        f"Content-Type: application/octet-stream\r\nContent-Length: {len(DATA)}\r\n\r\n".encode()
        + DATA[:2000]
    )
    await writer.drain()
    # Cut once the server has taken those bytes in (a cut it hears of first would drop them).
    path = blob_settings.blob_root / blob[4:6] / blob
    for _ in range(500):
        if path.exists() and path.stat().st_size == 2000:
            break
        await asyncio.sleep(0.01)
    writer.close()
    await writer.wait_closed()
    status = await _settled(world, alice, blob)
    held = status["held"]
    assert (held, status["complete"]) == (2000, False)
    # A resume from anywhere else is refused, saying where to start.
    stale = await _patch(world, alice, blob, 0, DATA)
    assert (await _problem(stale, 409, "offset_mismatch"))["held"] == held
    resumed = await _patch(world, alice, blob, held, DATA[held:])
    assert resumed.status == 200, await resumed.text()
    done = await world.client.post(
        f"/v1/blobs/{blob}/complete", json={"digest": _digest(DATA)}, headers=alice.headers
    )
    assert done.status == 200
    whole = await world.client.get(f"/v1/blobs/{blob}/content", headers=alice.headers)
    assert await whole.read() == DATA


async def test_the_declared_size_and_digest_are_enforced(world: World) -> None:
    alice = await world.professional()
    await _problem(await _create(world, alice, 6001), 413, "blob_too_large")
    blob = (await (await _create(world, alice, 100)).json())["id"]
    # Announced too long: refused before a byte is read.
    await _problem(await _patch(world, alice, blob, 0, bytes(101)), 413, "upload_exceeds_size")

    async def unannounced() -> AsyncIterator[bytes]:  # chunked: no length to check first
        yield bytes(50)
        yield bytes(60)

    await _problem(await _patch(world, alice, blob, 0, unannounced()), 413, "upload_exceeds_size")
    status = await (await world.client.get(f"/v1/blobs/{blob}", headers=alice.headers)).json()
    assert status["held"] == 100  # what fit is kept
    # Start again: a fresh upload, completed early, then with a wrong digest.
    blob = (await (await _create(world, alice, 100)).json())["id"]
    await _patch(world, alice, blob, 0, bytes(50))
    early = await world.client.post(
        f"/v1/blobs/{blob}/complete", json={"digest": _digest(bytes(100))}, headers=alice.headers
    )
    assert (await _problem(early, 409, "blob_incomplete"))["held"] == 50
    await _patch(world, alice, blob, 50, bytes(50))
    wrong = await world.client.post(
        f"/v1/blobs/{blob}/complete", json={"digest": _digest(bytes(99))}, headers=alice.headers
    )
    await _problem(wrong, 409, "digest_mismatch")
    incomplete = await world.client.get(f"/v1/blobs/{blob}/content", headers=alice.headers)
    await _problem(incomplete, 409, "blob_incomplete")


async def test_the_storage_quota_counts_uploads_until_they_are_gone(world: World) -> None:
    alice = await world.professional()
    first = (await (await _create(world, alice, 6000)).json())["id"]
    refused = await _create(world, alice, QUOTA - 6000 + 1)
    problem = await _problem(refused, 429, "storage_quota_exceeded")
    assert refused.headers["Retry-After"] == "3600"
    assert (problem["quota"], problem["used"]) == (QUOTA, 6000)
    # Another principal has its own quota.
    bob = await world.professional()
    assert (await _create(world, bob, 6000)).status == 201
    blobs = world.client.app[BLOBS]
    assert await blobs.sweep(now_ms() + 2 * 3_600_000) == 2
    assert (await world.client.get(f"/v1/blobs/{first}", headers=alice.headers)).status == 404
    assert (await _create(world, alice, 6000)).status == 201


async def test_only_the_devices_of_the_message_read_its_blobs(world: World) -> None:
    alice, bob, eve = [await world.professional() for _ in range(3)]
    bob_phone = await world.enroll(bob.principal)
    blob = await _upload(world, alice)
    # Before any message names it, only its uploader sees it.
    early = await world.client.get(f"/v1/blobs/{blob}/content", headers=bob.headers)
    await _problem(early, 404, "blob_not_found")
    sent = await _send(world, alice, [bob, bob_phone], [blob])
    assert sent.status == 202, await sent.text()
    for reader in (bob, bob_phone):
        got = await world.client.get(f"/v1/blobs/{blob}/content", headers=reader.headers)
        assert (got.status, await got.read()) == (200, DATA)
    # A device enrolled after the message did not receive it; eve never did.
    bob_later = await world.enroll(bob.principal)
    unknown = "blb_" + "a" * 26
    answers = [
        await world.client.get(path, headers=device.headers)
        for device in (eve, bob_later)
        for path in (f"/v1/blobs/{blob}/content", f"/v1/blobs/{blob}", f"/v1/blobs/{unknown}")
    ]
    for answer in answers:  # the same answer as for an id never issued
        await _problem(answer, 404, "blob_not_found")
    # Nor may anyone but the uploader write or complete it.
    await _problem(await _patch(world, eve, blob, len(DATA), b""), 404, "blob_not_found")


async def test_a_message_names_only_complete_blobs_of_its_sender(world: World) -> None:
    alice, bob = await world.professional(), await world.professional()
    mine = await _upload(world, alice)
    theirs = await _upload(world, bob)
    unfinished = (await (await _create(world, alice, 10)).json())["id"]
    for blobs in ([theirs], [unfinished], ["blb_" + "b" * 26], [mine, unfinished]):
        refused = await _send(world, alice, [bob], blobs)
        problem = await _problem(refused, 409, "blob_unavailable")
        assert mine not in problem["blobs"]
    # Nothing was bound by a refused send.
    assert (await world.client.get(f"/v1/blobs/{mine}", headers=bob.headers)).status == 404


async def test_the_blob_ids_are_signed_with_the_envelope(world: World) -> None:
    alice, bob = await world.professional(), await world.professional()
    blob = await _upload(world, alice)
    envelope = compose(alice, [bob.principal], [bob]) | {"blobs": [blob]}
    response = await world.client.post("/v1/messages", json=envelope, headers=alice.headers)
    await _problem(response, 400, "bad_signature")


async def test_an_orphan_upload_expires_and_a_bound_blob_lives_with_its_message(
    world: World, redis: RedisClient, blob_settings: Settings
) -> None:
    alice, bob = await world.professional(), await world.professional()
    orphan = await _upload(world, alice)
    bound = await _upload(world, alice)
    assert (await _send(world, alice, [bob], [bound])).status == 202
    store = blob_settings.blob_root
    files = {p.name for p in store.rglob("blb_*")}
    assert {orphan, bound} <= files
    blobs = world.client.app[BLOBS]
    after_orphan_time = now_ms() + 3_600_000 + 1000
    assert await blobs.sweep(after_orphan_time) == 1
    assert {p.name for p in store.rglob("blb_*")} == {bound}
    assert not await redis.exists(redis_keys.blob(alice.principal, orphan))
    assert int(await redis.get(redis_keys.blob_usage(alice.principal)) or 0) == len(DATA)
    got = await world.client.get(f"/v1/blobs/{bound}/content", headers=bob.headers)
    assert got.status == 200
    assert await blobs.sweep(now_ms() + blob_settings.retention_ms + 1000) == 1
    assert not list(store.rglob("blb_*"))
    assert not await redis.exists(redis_keys.blob_usage(alice.principal))


async def test_an_upload_needs_octets_and_an_offset(world: World) -> None:
    alice = await world.professional()
    blob = (await (await _create(world, alice, 10)).json())["id"]
    no_offset = await world.client.patch(
        f"/v1/blobs/{blob}",
        data=b"x",
        headers={**alice.headers, "Content-Type": "application/octet-stream"},
    )
    await _problem(no_offset, 400, "invalid_request")
    as_json = await world.client.patch(
        f"/v1/blobs/{blob}", json={}, headers={**alice.headers, "Upload-Offset": "0"}
    )
    await _problem(as_json, 415, "unsupported_media_type")


async def test_no_plaintext_or_blob_key_at_rest(
    world: World, redis: Redis, redis_server: RedisServer, blob_settings: Settings
) -> None:
    alice, bob = await world.professional(), await world.professional()
    marker = f"MARKER-{uuid.uuid4().hex}".encode() * 40
    key = crypto.random_bytes(crypto.KEY_BYTES)
    sealed = b"".join(seal_file(io.BytesIO(marker), len(marker), key))
    blob = await _upload(world, alice, sealed)
    assert (await _send(world, alice, [bob], [blob])).status == 202
    got = await world.client.get(f"/v1/blobs/{blob}/content", headers=bob.headers)
    assert await got.read() == sealed

    blob_dir = disk_dump(blob_settings.blob_root)
    in_redis = await redis_dump(redis) + disk_dump(redis_server.data_dir)
    assert sealed in blob_dir  # the scan sees the blob, or it would prove nothing
    assert blob.encode() in in_redis
    for needle in [marker[:44], *secret_forms(key)]:
        assert needle not in blob_dir
        assert needle not in in_redis


async def test_a_blob_kept_with_a_dossier_document_is_read_by_its_readers_and_purged_with_it(
    world: World, redis: RedisClient, blob_settings: Settings
) -> None:
    """RD rules decide who reads a dossier blob, like its document; the read is logged (TR);
    CR-6: the purge of the dossier takes the blob with it."""
    gp, cardio, eve = [await world.professional() for _ in range(3)]
    holder, ins = await open_dossier(world)
    await declare_mt(world, holder, ins, gp)
    blob = await _upload(world, gp)
    header = DossierHeader(ins=ins, type="compte_rendu", title="Scanner thoracique")
    envelope = compose(
        gp,
        [cardio.principal],
        [cardio],
        dossier=header,
        dossier_key=await server_dossier_key(world),
    )
    response = await world.client.post(
        "/v1/messages", json=_with_blobs(envelope, [blob], gp), headers=gp.headers
    )
    assert response.status == 202, await response.text()
    assert (await response.json())["dossier"]["status"] == "attached"
    # The holder got no message, but may read the document, so the blob too.
    got = await world.client.get(f"/v1/blobs/{blob}/content", headers=holder.headers)
    assert (got.status, await got.read()) == (200, DATA)
    assert [e["action"] for e in await stored_log(redis, ins)].count("read") == 1
    refused = await world.client.get(f"/v1/blobs/{blob}/content", headers=eve.headers)
    await _problem(refused, 404, "blob_not_found")
    blobs = world.client.app[BLOBS]
    # Kept past the orphan time and past retention while its document exists...
    assert await blobs.sweep(now_ms() + blob_settings.retention_ms + DOSSIER_RECHECK_MS) == 0
    assert (await world.client.get(f"/v1/blobs/{blob}", headers=gp.headers)).status == 200
    # ...and gone once the purge took the document (CR-6).
    status, _ = await dossier_call(world, holder, "POST", f"/v1/dossiers/{ins}/close", None)
    assert status == 200
    assert await world.client.app[DOSSIERS].purge_due(now() + timedelta(days=3700)) == [ins]
    later = now_ms() + blob_settings.retention_ms + 3 * DOSSIER_RECHECK_MS
    assert await blobs.sweep(later) == 1
    assert not list(blob_settings.blob_root.rglob("blb_*"))
    assert (await world.client.get(f"/v1/blobs/{blob}", headers=gp.headers)).status == 404
