"""The whole dossier story of issue 3 over HTTP with real Redis (acceptance criterion 2)."""

from __future__ import annotations

import json

from dossier_link.access_log import verify_chain
from messaging import crypto, redis_keys
from messaging.redis_link import RedisClient
from tests.dossiers import (
    create_dossier,
    dossier_call,
    events_of,
    notifications,
    patient,
    send_linked,
)
from tests.support import World

ALSO_ON_CLUSTER = True


async def test_discharge_letter_masking_ban_emergency_and_log(
    world: World, redis: RedisClient
) -> None:
    gp = await world.professional(display_name="Dr Généraliste")
    cardio = await world.professional(display_name="Dr Cardiologue")
    nurse = await world.professional(display_name="Infirmier Libéral", profession="infirmier")
    urgentiste = await world.professional(display_name="Dr Urgences")
    second_urgentiste = await world.professional(display_name="Dr SAMU")
    holder, ins = await patient(world)
    await create_dossier(world, holder, ins)
    base = f"/v1/dossiers/{ins}"

    status, _ = await dossier_call(
        world, holder, "PUT", f"{base}/medecin-traitant", {"professional": gp.principal}
    )
    assert status == 200
    status, _ = await dossier_call(
        world, holder, "POST", f"{base}/grants", {"professional": cardio.principal}
    )
    assert status == 201

    # The GP (MT) sends the cardiologist a discharge letter linked to the dossier: attached.
    status, answer = await send_linked(world, gp, [cardio], ins)
    assert status == 202
    assert answer["dossier"]["status"] == "attached"
    letter = answer["dossier"]["document"]
    [attached] = await notifications(world, gp, "dossier.document_attached")
    assert attached["document"] == letter
    # TR-5: the holder hears of the write.
    assert [n["action"] for n in await notifications(world, holder, "dossier.accessed")] == [
        "write"
    ]
    # The cardiologist answers on the same dossier.
    status, answer = await send_linked(world, cardio, [gp], ins, title="Réponse")
    assert answer["dossier"]["status"] == "attached"

    # MK-1, MK-2: once the holder masks the letter, the standard grantee cannot read it;
    # the MT still can, and gets the content key sealed to its own device.
    status, _ = await dossier_call(
        world, holder, "PATCH", f"{base}/documents/{letter}", {"masked": True}
    )
    assert status == 204
    status, problem = await dossier_call(world, cardio, "GET", f"{base}/documents/{letter}")
    assert (status, problem["code"]) == (403, "document_masked")
    status, document = await dossier_call(world, gp, "GET", f"{base}/documents/{letter}")
    assert status == 200
    assert set(document["keys"]) == {gp.device_id}
    content_key = gp.keys.box.open(crypto.b64u_decode(document["keys"][gp.device_id]))
    opened = crypto.decrypt_content(
        crypto.b64u_decode(document["envelope"]["ciphertext"]),
        document["envelope"]["id"],
        content_key,
        crypto.b64u_decode(document["envelope"]["nonce"]),
    )
    assert opened["subject"] == "Compte rendu"

    # MS-2: the holder bans the nurse, whose dossier-linked message is then refused whole.
    status, _ = await dossier_call(
        world, holder, "POST", f"{base}/bans", {"professional": nurse.principal}
    )
    assert status == 201
    status, problem = await send_linked(world, nurse, [gp], ins, title="Pansement")
    assert (status, problem["code"]) == (403, "patient_opposed")
    senders = [
        e["envelope"]["sender"] for e in await events_of(world, gp) if e["type"] == "message"
    ]
    assert nurse.principal not in senders

    # EM-1..EM-3: emergency access by a third doctor works, is logged, tells holder and MT.
    status, access = await dossier_call(
        world, urgentiste, "POST", f"{base}/emergency-access", {"reason": "coma, pronostic vital"}
    )
    assert status == 201
    assert access["professional"] == urgentiste.principal
    for told in (holder, gp):
        [notice] = await notifications(world, told, "dossier.emergency_access")
        assert notice["professional"] == urgentiste.principal
    status, listing = await dossier_call(world, urgentiste, "GET", f"{base}/documents")
    assert status == 200
    # Emergency access reads like a standard grant: the masked letter is not listed.
    assert letter not in [d["id"] for d in listing["documents"]]

    # After the holder's opposition, a new emergency access is refused.
    status, _ = await dossier_call(
        world, holder, "PUT", f"{base}/emergency-opposition", {"opposed": True}
    )
    assert status == 200
    status, problem = await dossier_call(
        world, second_urgentiste, "POST", f"{base}/emergency-access", {"reason": "arrêt cardiaque"}
    )
    assert (status, problem["code"]) == (403, "emergency_opposed")

    # TR-1..TR-3: the holder reads the log; the chain verifies, here and on the server.
    status, log = await dossier_call(world, holder, "GET", f"{base}/access-log")
    assert status == 200
    assert log["scope"] == "all"
    assert log["chain_ok"] is True
    assert verify_chain(log["entries"]).ok
    actions = [(e["action"], e["outcome"]) for e in log["entries"]]
    for expected in [
        ("create", "allowed"),
        ("consent", "allowed"),
        ("grant", "allowed"),
        ("write", "allowed"),
        ("mask", "allowed"),
        ("read", "refused"),
        ("read", "allowed"),
        ("ban", "allowed"),
        ("message", "refused"),
        ("emergency_access", "allowed"),
        ("emergency_access", "refused"),
    ]:
        assert expected in actions
    emergency = next(e for e in log["entries"] if e["action"] == "emergency_access")
    assert emergency["basis"] == "emergency"
    assert "expires_at" in emergency

    # Tampering with one stored entry breaks the chain for every verifier.
    key = redis_keys.dossier_log(ins)
    entry = json.loads(await redis.lindex(key, 3) or b"{}")
    entry["actor"] = "rpps:00000000000"
    await redis.lset(key, 3, json.dumps(entry))
    status, log = await dossier_call(world, holder, "GET", f"{base}/access-log")
    assert log["chain_ok"] is False
    check = verify_chain(log["entries"])
    assert not check.ok
    assert check.broken_at == entry["seq"]
