"""The operator's representation commands and a representative's ``--for`` in the CLI, and the
SDK's ``AdminClient`` calls behind them (DESIGN §4, issue 7)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient
from aiohttp.web import Application, Request

from messaging.cli import main
from messaging.client import AdminClient, ApiError, DeviceIdentity
from tests.conftest import ADMIN_TOKEN
from tests.dossiers import new_ins, years_ago
from tests.support import World


async def test_the_operator_records_a_parent_who_then_acts_with_for(
    world: World,
    client: TestClient[Request, Application],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """DESIGN §4, ID-4, CR-3, CR-8: ``admin principal add --birth-date``, ``admin
    representation add|list|remove``; the parent names the child's INS with ``--for``."""
    base_url = str(client.make_url(""))
    birth = years_ago(6)
    ins = new_ins(birth)
    parent_device = await world.enroll(
        await world.principal(
            "patient:" + new_ins(years_ago(40)),
            kind="patient",
            display_name="M. Petit",
            profession=None,
        )
    )
    key_file = tmp_path / "parent.json"
    DeviceIdentity(
        base_url, parent_device.principal, parent_device.device_id, parent_device.keys
    ).save(key_file)
    operator = ["--server", base_url, "--admin-token", ADMIN_TOKEN]

    async def liaison(*argv: str) -> tuple[int, str, str]:
        # In a thread: the CLI runs its own event loop while this one serves the app.
        code = await asyncio.to_thread(main, list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    add_child = ["admin", "principal", "add", f"patient:{ins}", "--kind", "patient"]
    code, out, err = await liaison(
        *add_child, "--name", "Léo Petit", "--birth-date", birth.isoformat(), *operator
    )
    assert (code, err) == (0, "")
    code, out, _ = await liaison(
        "admin",
        "representation",
        "add",
        ins,
        parent_device.principal,
        "--kind",
        "legal_representative",
        "--evidence",
        "livret de famille n° 12",
        "--json",
        *operator,
    )
    assert code == 0
    representation = json.loads(out)["id"]
    code, out, _ = await liaison(
        "admin", "representation", "list", "--holder", ins, "--json", *operator
    )
    [listed] = json.loads(out)["representations"]
    assert (listed["id"], listed["live"], listed["kind"]) == (
        representation,
        True,
        "legal_representative",
    )

    acting = ["--key-file", str(key_file)]
    create = ["dossier", "create", "--given-by", "legal_representative"]
    consent = ["--consent-name", "M. Petit", "--representative", parent_device.principal]
    code, _, err = await liaison(*create, ins, *consent, *acting)
    assert code == 1
    assert err.startswith(f"error: usage: {ins} is not your INS: use --for {ins}")
    code, out, _ = await liaison(*create, "--for", ins, *consent, *acting)
    assert code == 0
    code, out, _ = await liaison("dossier", "show", "--for", ins, "--json", *acting)
    assert json.loads(out)["your_basis"] == "representative"

    code, out, _ = await liaison("admin", "representation", "remove", representation, *operator)
    assert (code, out) == (0, f"removed {representation}: its rights ended\n")
    code, _, err = await liaison("dossier", "show", "--for", ins, *acting)
    assert code == 1
    assert err.startswith("error: representation_unverified: ")


async def test_the_admin_client_lists_by_representative_and_refuses_bad_input(
    world: World, client: TestClient[Request, Application]
) -> None:
    """DESIGN §4: the SDK's representation calls; a bad argument fails before it is sent."""
    birth = years_ago(4)
    ins = new_ins(birth)
    async with AdminClient(str(client.make_url("")), ADMIN_TOKEN) as admin:
        await admin.create_principal(
            f"patient:{ins}", "patient", "Léa Petit", birth_date=birth.isoformat()
        )
        parent = "patient:" + new_ins(years_ago(35))
        await admin.create_principal(parent, "patient", "Mme Petit")
        rid = await admin.add_representation(ins, parent, "legal_representative", "jugement")
        [found] = await admin.representations(representative=parent)
        assert (found.id, found.holder) == (rid, ins)
        with pytest.raises(ApiError) as refused:
            await admin.add_representation(ins, parent, "protection_person", "jugement")
        assert (refused.value.status, refused.value.code) == (400, "invalid_request")
        await admin.remove_representation(rid)
        assert await admin.representations(holder=ins) == []
