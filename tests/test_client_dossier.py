"""The dossier SDK and CLI against the real app: every call of DESIGN §4 Dossier, documents
verified and decrypted on the client, the access log verified here and offline."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient
from aiohttp.web import Application, Request
from pytest_aiohttp import AiohttpClient
from redis.asyncio import Redis

from dossier_link.models import ConsentRequest, DocumentRecord
from messaging import redis_keys
from messaging.cli import main
from messaging.client import (
    AdminClient,
    ApiError,
    DeviceIdentity,
    LiaisonClient,
    ReceivedMessage,
    SdkError,
    VerificationError,
)
from messaging.models import DossierHeader
from messaging.server.app import create_app
from messaging.settings import Settings
from tests.conftest import ADMIN_TOKEN
from tests.dossiers import ADULT_BIRTH, new_ins, patient
from tests.support import Device, World

Connect = Callable[[Device], LiaisonClient]
HOLDER_CONSENT = {"given_by": "holder", "name": "Mme Durand"}
LETTER = "Sortie le 12. Traitement inchangé ; revoir dans un mois."
EMERGENCY = "inconscient, pronostic vital engagé"


@pytest.fixture
def base_url(client: TestClient[Request, Application]) -> str:
    return str(client.make_url(""))


@pytest.fixture
def connect(client: TestClient[Request, Application], base_url: str) -> Connect:
    """An SDK client for an enrolled test device, on the test client's session."""

    def make(device: Device) -> LiaisonClient:
        identity = DeviceIdentity(base_url, device.principal, device.device_id, device.keys)
        return LiaisonClient(base_url, identity, session=client.session)

    return make


def header(ins: str, title: str = "Lettre de sortie") -> DossierHeader:
    return DossierHeader(ins=ins, type="lettre_de_sortie", title=title)


async def test_a_linked_letter_reads_back_decrypted_and_the_log_verifies(
    world: World, connect: Connect, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gp_device = await world.professional(display_name="Dr Généraliste")
    cardio_device = await world.professional(display_name="Dr Cardiologue")
    holder_device, ins = await patient(world)
    holder, gp, cardio = connect(holder_device), connect(gp_device), connect(cardio_device)

    created = await holder.dossiers.create(
        ins, ADULT_BIRTH, ConsentRequest(given_by="holder", name="Mme Durand")
    )
    assert (created.holder, created.status) == (holder_device.principal, "open")
    await holder.dossiers.set_medecin_traitant(ins, gp_device.principal)
    granted = await holder.dossiers.grant(ins, cardio_device.principal, level="extended")
    assert [(g.professional, g.level) for g in granted.grants or []] == [
        (cardio_device.principal, "extended")
    ]

    sent = await gp.send(
        [cardio_device.principal],
        "Compte rendu d'hospitalisation",
        LETTER,
        [("ordonnance.txt", "text/plain", b"Bisoprolol 2,5 mg")],
        dossier=header(ins),
    )
    assert sent.dossier is not None
    assert sent.dossier.status == "attached"
    document = sent.dossier.document
    assert document is not None

    assert [d.id for d in await cardio.dossiers.documents(ins)] == [document]
    for reader in (cardio, holder):
        read = await reader.dossiers.read_document(ins, document)
        assert read.content.body == LETTER
        assert read.content.subject == "Compte rendu d'hospitalisation"
        assert [(a.name, a.data) for a in read.content.attachments] == [
            ("ordonnance.txt", b"Bisoprolol 2,5 mg")
        ]
        assert (read.document.author, read.sender_device) == (
            gp_device.principal,
            gp_device.device_id,
        )
        assert read.header == header(ins)

    log = await holder.dossiers.access_log(ins)
    assert (log.scope, log.ok, log.server_chain_ok) == ("all", True, True)
    assert log.check.entries == len(log.entries)
    actions = [e["action"] for e in log.entries]
    for expected in ("create", "consent", "set_medecin_traitant", "grant", "write", "read"):
        assert expected in actions

    # Offline: the whole answer saved as is, then the bare entries list with one entry edited.
    saved = tmp_path / "access-log.json"
    saved.write_text(json.dumps(log.as_dict()), encoding="utf-8")
    assert main(["verify-log", str(saved)]) == 0
    assert f"chain verified: {len(log.entries)} entries" in capsys.readouterr().out

    tampered = [dict(entry) for entry in log.entries]
    tampered[2]["actor"] = "rpps:00000000000"
    saved.write_text(json.dumps(tampered), encoding="utf-8")
    assert main(["verify-log", str(saved), "--json"]) == 1
    verdict = json.loads(capsys.readouterr().out)
    assert verdict["verified"] is False
    assert verdict["broken_at"] == tampered[2]["seq"]


async def test_a_professional_verifies_the_entries_of_their_own_actions(
    world: World, connect: Connect
) -> None:
    gp_device = await world.professional()
    holder_device, ins = await patient(world)
    holder, gp = connect(holder_device), connect(gp_device)
    await holder.dossiers.create(ins, ADULT_BIRTH, HOLDER_CONSENT)
    await holder.dossiers.grant(ins, gp_device.principal)
    await gp.dossiers.documents(ins)

    log = await gp.dossiers.access_log(ins)
    assert log.scope == "own"
    assert log.ok
    assert log.server_chain_ok is None
    assert {e["actor"] for e in log.entries} == {gp_device.principal}


async def test_every_management_call_of_the_holder_and_of_professionals(
    world: World, connect: Connect
) -> None:
    gp_device = await world.professional()
    nurse_device = await world.professional(profession="infirmier")
    urgentiste_device = await world.professional()
    holder_device, ins = await patient(world)
    holder, gp = connect(holder_device), connect(gp_device)
    nurse, urgentiste = connect(nurse_device), connect(urgentiste_device)
    await holder.dossiers.create(ins, ADULT_BIRTH.isoformat(), HOLDER_CONSENT)
    await holder.dossiers.set_medecin_traitant(ins, gp_device.principal)
    sent = await gp.send([gp_device.principal], "Note", "Note de suivi", dossier=header(ins))
    assert sent.dossier is not None
    document = sent.dossier.document
    assert document is not None

    # Masking is the holder's; hiding from the holder is the author's (MK-1, HD-1).
    await holder.dossiers.patch_document(ins, document, masked=True)
    await gp.dossiers.patch_document(ins, document, hidden_from_holder=True)
    with pytest.raises(ApiError) as refused:
        await holder.dossiers.read_document(ins, document)
    assert (refused.value.status, refused.value.code) == (403, "hidden_from_holder")
    await gp.dossiers.patch_document(ins, document, hidden_from_holder=False)
    [listed] = await holder.dossiers.documents(ins)
    assert (listed.masked, listed.hidden_from_holder_until) == (True, None)
    with pytest.raises(SdkError, match="invalid_request"):
        await holder.dossiers.patch_document(ins, document)

    # Grants and bans, and what the holder's summary shows of them.
    await holder.dossiers.grant(ins, nurse_device.principal, basis="care_team")
    await holder.dossiers.withdraw_grant(ins, nurse_device.principal)
    banned = await holder.dossiers.ban(ins, nurse_device.principal)
    assert banned.bans == [nurse_device.principal]
    with pytest.raises(ApiError) as refused:
        await nurse.dossiers.documents(ins)
    assert refused.value.code == "banned"
    await holder.dossiers.lift_ban(ins, nurse_device.principal)
    summary = await holder.dossiers.summary(ins)
    assert (summary.grants, summary.bans) == ([], [])
    assert (await gp.dossiers.summary(ins)).your_basis is not None

    # Emergency access, then the holder's opposition (EM-1, RD-9).
    access = await urgentiste.dossiers.emergency_access(ins, EMERGENCY)
    assert access.professional == urgentiste_device.principal
    opposed = await holder.dossiers.set_emergency_opposition(ins, True)
    assert opposed.emergency_opposed is True
    with pytest.raises(ApiError) as refused:
        await urgentiste.dossiers.emergency_access(ins, EMERGENCY)
    assert refused.value.code == "emergency_opposed"

    closed = await holder.dossiers.close(ins, deletion_requested=True)
    assert closed.status == "closed"
    with pytest.raises(ApiError) as refused:
        await holder.dossiers.summary(ins)
    assert refused.value.code == "dossier_closed"


async def test_an_objection_blocks_creation_until_withdrawn(world: World, connect: Connect) -> None:
    holder_device, ins = await patient(world)
    holder = connect(holder_device)
    await holder.dossiers.set_objection(ins, True)
    with pytest.raises(ApiError) as refused:
        await holder.dossiers.create(ins, ADULT_BIRTH, HOLDER_CONSENT)
    assert refused.value.code == "objection_registered"
    await holder.dossiers.set_objection(ins, False)
    assert (await holder.dossiers.create(ins, ADULT_BIRTH, HOLDER_CONSENT)).status == "open"


async def test_bad_arguments_fail_before_anything_is_sent(world: World, connect: Connect) -> None:
    holder_device, ins = await patient(world)
    holder = connect(holder_device)
    with pytest.raises(SdkError) as bad:
        await holder.dossiers.create(ins, "17/05/1960", HOLDER_CONSENT)
    assert bad.value.code == "invalid_request"
    with pytest.raises(SdkError) as bad:
        await holder.dossiers.grant(ins, "dr-house")
    assert bad.value.code == "invalid_request"


async def test_the_operator_creates_dossiers_only_in_the_opt_out_regime(
    aiohttp_client: AiohttpClient, settings: Settings, redis: Redis, base_url: str
) -> None:
    async with AdminClient(base_url, ADMIN_TOKEN) as admin:
        with pytest.raises(ApiError) as refused:
            await admin.create_dossier(new_ins(ADULT_BIRTH), ADULT_BIRTH)
        assert refused.value.code == "consent_missing"

    opt_out = await aiohttp_client(
        create_app(settings.model_copy(update={"dossier_regime": "opt_out"}))
    )
    world = World(opt_out, ADMIN_TOKEN, redis)
    holder_device, ins = await patient(world)
    url = str(opt_out.make_url(""))
    async with AdminClient(url, ADMIN_TOKEN, session=opt_out.session) as admin:
        summary = await admin.create_dossier(ins, ADULT_BIRTH)
    assert summary.holder == holder_device.principal
    identity = DeviceIdentity(
        url, holder_device.principal, holder_device.device_id, holder_device.keys
    )
    holder = LiaisonClient(url, identity, session=opt_out.session)
    shown = await holder.dossiers.summary(ins)
    assert shown.consent is not None
    assert shown.consent["regime"] == "opt_out"


async def test_a_tampered_or_swapped_stored_document_fails_verification(
    world: World, connect: Connect, redis: Redis
) -> None:
    gp_device = await world.professional()
    holder_device, ins = await patient(world)
    holder, gp = connect(holder_device), connect(gp_device)
    await holder.dossiers.create(ins, ADULT_BIRTH, HOLDER_CONSENT)
    await holder.dossiers.set_medecin_traitant(ins, gp_device.principal)
    documents = []
    for title in ("Lettre de sortie", "Résultats"):
        sent = await gp.send([holder_device.principal], title, title, dossier=header(ins, title))
        assert sent.dossier is not None
        documents.append(sent.dossier.document)
    first, second = documents
    assert first is not None
    assert second is not None

    async def stored(document: str) -> DocumentRecord:
        raw = await redis.get(redis_keys.dossier_document(ins, document))
        assert raw is not None
        return DocumentRecord.model_validate_json(raw)

    async def store(record: DocumentRecord) -> None:
        await redis.set(redis_keys.dossier_document(ins, record.id), record.model_dump_json())

    # The server serves the second letter's (validly signed) envelope for the first one.
    original = await stored(first)
    await store(original.model_copy(update={"envelope": (await stored(second)).envelope}))
    with pytest.raises(VerificationError) as failed:
        await holder.dossiers.read_document(ins, first)
    assert failed.value.code == "document_mismatch"

    # A signed field edited in the store.
    envelope = dict(original.envelope)
    envelope["dossier"] = {**envelope["dossier"], "title": "Autre titre"}
    await store(original.model_copy(update={"envelope": envelope}))
    with pytest.raises(VerificationError) as failed:
        await holder.dossiers.read_document(ins, first)
    assert failed.value.code == "bad_signature"


async def test_the_dossier_commands_of_the_cli(
    world: World,
    connect: Connect,
    base_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    gp_device = await world.professional()
    holder_device, ins = await patient(world)
    key_file = tmp_path / "holder.json"
    DeviceIdentity(
        base_url, holder_device.principal, holder_device.device_id, holder_device.keys
    ).save(key_file)

    async def liaison(*argv: str) -> tuple[int, str, str]:
        # In a thread: the CLI runs its own event loop while this one serves the app.
        code = await asyncio.to_thread(main, [*argv, "--key-file", str(key_file)])
        out, err = capsys.readouterr()
        return code, out, err

    code, out, _ = await liaison(
        "dossier",
        "create",
        ins,
        "--birth-date",
        ADULT_BIRTH.isoformat(),
        "--given-by",
        "holder",
        "--consent-name",
        "Mme Durand",
    )
    assert code == 0
    assert f"created the dossier of {ins}" in out
    assert (await liaison("dossier", "mt", ins, gp_device.principal))[0] == 0
    code, out, _ = await liaison("dossier", "show", ins, "--json")
    assert code == 0
    assert json.loads(out)["medecin_traitant"] == gp_device.principal

    sent = await connect(gp_device).send(
        [holder_device.principal],
        "Résultats",
        "Bilan normal.",
        [("bilan.txt", "text/plain", b"Hb 14")],
        dossier=header(ins, "Résultats"),
    )
    assert sent.dossier is not None
    document = sent.dossier.document
    assert document is not None

    code, out, _ = await liaison("dossier", "documents", ins)
    assert (code, document in out) == (0, True)
    saved = tmp_path / "attachments"
    code, out, _ = await liaison("dossier", "read", ins, document, "--save-attachments", str(saved))
    assert code == 0
    assert "Bilan normal." in out
    assert (saved / "bilan.txt").read_bytes() == b"Hb 14"
    assert (await liaison("dossier", "mask", ins, document))[0] == 0
    code, out, _ = await liaison("dossier", "log", ins)
    assert code == 0
    assert "chain verified:" in out

    code, _, err = await liaison("dossier", "read", ins, "doc_absent")
    assert code == 1
    assert err.startswith("error: not_found: ")


async def test_a_message_from_a_since_revoked_device_still_verifies(
    client: TestClient[Request, Application], world: World, connect: Connect
) -> None:
    """What a device signed while active stays verifiable after its revocation."""
    laptop, bob = await world.professional(), await world.professional()
    sent = await connect(laptop).send([bob.principal], "Avant révocation", "signé avant")
    response = await client.delete(f"/v1/devices/{laptop.device_id}", headers=laptop.headers)
    assert response.status == 204
    [message] = (await connect(bob).fetch()).events
    assert isinstance(message, ReceivedMessage)
    assert (message.id, message.body) == (sent.id, "signé avant")
    history = await client.get(
        f"/v1/directory/{laptop.principal}/devices/{laptop.device_id}", headers=bob.headers
    )
    assert (await history.json())["revoked_at"] is not None
