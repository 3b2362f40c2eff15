"""No plaintext at rest: nothing Redis holds or writes contains a message's text or its key."""

from __future__ import annotations

import uuid

from redis.asyncio import Redis

from messaging import crypto
from messaging.models import DossierHeader
from messaging.redis_server import RedisServer
from messaging.server_keys import load_or_create
from messaging.settings import Settings
from tests.at_rest import disk_dump, redis_dump, secret_forms
from tests.dossiers import create_dossier, dossier_call, patient, server_dossier_key
from tests.support import World, compose


async def test_no_plaintext_or_content_key_in_redis_or_its_aof(
    world: World, redis: Redis, redis_server: RedisServer
) -> None:
    alice, bob = await world.professional(), await world.professional()
    marker = f"MARKER-{uuid.uuid4().hex}"
    envelope = compose(alice, [bob.principal], [bob], subject=marker, body=f"{marker} corps")
    response = await world.client.post("/v1/messages", json=envelope, headers=alice.headers)
    assert response.status == 202
    content_key = bob.keys.box.open(crypto.b64u_decode(envelope["keys"][bob.device_id]))

    # Read it once over HTTP so that every path a message takes has run.
    response = await world.client.get("/v1/messages", headers=bob.headers)
    [event] = (await response.json())["events"]

    needles = [marker.encode(), *secret_forms(content_key)]
    in_memory = await redis_dump(redis)
    on_disk = disk_dump(redis_server.data_dir)
    # The scan must see the message at all, or the test would prove nothing.
    assert envelope["ciphertext"].encode() in in_memory
    assert envelope["ciphertext"].encode() in on_disk
    for needle in needles:
        assert needle not in in_memory
        assert needle not in on_disk
    assert event["envelope"]["ciphertext"] == envelope["ciphertext"]


async def test_no_plaintext_or_key_at_rest_after_dossier_attachment_and_reads(
    world: World, redis: Redis, redis_server: RedisServer, settings: Settings
) -> None:
    gp, cardio = await world.professional(), await world.professional()
    holder, ins = await patient(world)
    await create_dossier(world, holder, ins)
    base = f"/v1/dossiers/{ins}"
    await dossier_call(
        world, holder, "PUT", f"{base}/medecin-traitant", {"professional": gp.principal}
    )
    marker = f"MARKER-{uuid.uuid4().hex}"
    envelope = compose(
        gp,
        [cardio.principal],
        [cardio],
        subject=marker,
        body=f"{marker} lettre",
        dossier=DossierHeader(ins=ins, type="lettre", title="Lettre"),
        dossier_key=await server_dossier_key(world),
    )
    response = await world.client.post("/v1/messages", json=envelope, headers=gp.headers)
    document = (await response.json())["dossier"]["document"]
    content_key = cardio.keys.box.open(crypto.b64u_decode(envelope["keys"][cardio.device_id]))
    for reader in (gp, holder):
        status, read = await dossier_call(world, reader, "GET", f"{base}/documents/{document}")
        assert status == 200
        assert reader.keys.box.open(crypto.b64u_decode(read["keys"][reader.device_id])) == (
            content_key
        )

    secrets = load_or_create(settings)
    needles = [
        marker.encode(),
        *secret_forms(content_key),
        *secret_forms(secrets.dossier.secret),
        *secret_forms(secrets.sign.seed),
    ]
    in_memory = await redis_dump(redis)
    on_disk = disk_dump(redis_server.data_dir)
    assert envelope["ciphertext"].encode() in in_memory
    for needle in needles:
        assert needle not in in_memory
        assert needle not in on_disk
