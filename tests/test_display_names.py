"""Names people read are normalised, free of hiding characters, and a look-alike of another
principal's name needs the operator's explicit confirmation (issue 10).

Measured before: display names accepted U+202E (right-to-left override), zero-width characters,
newlines and mixed-script look-alikes of other names.
"""

from __future__ import annotations

from typing import Any

import pytest

from messaging import crypto
from tests.dossiers import ADULT_BIRTH, new_ins
from tests.support import World, enrollment, new_rpps, new_slug

UNFIT = [
    "Dr Alice\u202eniträM",  # right-to-left override
    "Dr Alice\u2067Martin\u2069",  # isolate
    "Dr Ali\u200bce Martin",  # zero width space
    "Dr Ali\u200dce Martin",  # zero width joiner
    "Dr Alice\ufeffMartin",  # zero width no-break space
    "Dr Alice\nMartin",
    "Dr Alice\tMartin",
    "Dr Alice\u2028Martin",  # line separator
    "Dr Alice\ue000Martin",  # private use
    "Dr Alice\u0378Martin",  # unassigned
    " Dr Alice Martin",
    "Dr Alice Martin ",
    "Dr Alice Mx\u0305\u0306\u0307\u0308\u0309",  # five combining marks stacked
]


def _principal(display_name: str, **extra: Any) -> dict[str, Any]:
    return {"id": new_rpps(), "kind": "professional", "display_name": display_name, **extra}


@pytest.mark.parametrize("name", UNFIT)
async def test_a_display_name_hiding_characters_is_refused(world: World, name: str) -> None:
    response = await world.client.post(
        "/v1/admin/principals", json=_principal(name), headers=world.operator
    )
    assert response.status == 400
    problem = await response.json()
    assert problem["code"] == "invalid_name"
    assert problem["field"] == "/display_name"
    assert name not in problem["detail"]


@pytest.mark.parametrize("name", UNFIT[:6])
async def test_a_profession_or_device_name_hiding_characters_is_refused(
    world: World, name: str
) -> None:
    response = await world.client.post(
        "/v1/admin/principals",
        json=_principal("Dr Zoé Roux", profession=name),
        headers=world.operator,
    )
    assert (await response.json())["field"] == "/profession"
    principal = await world.principal()
    body = enrollment(principal, await world.code(principal), crypto.DeviceKeys.generate())
    response = await world.client.post("/v1/devices", json=body | {"name": name})
    assert response.status == 400
    assert (await response.json()) | {"detail": ""} == {
        "type": "https://liaison.invalid/problems/invalid_name",
        "status": 400,
        "title": "A name holds control, bidirectional or invisible characters",
        "detail": "",
        "code": "invalid_name",
        "field": "/name",
    }


async def test_names_are_kept_in_nfc(world: World) -> None:
    decomposed = "Dr Ame\u0301lie Le\u0301ger"
    created = await world.client.post(
        "/v1/admin/principals", json=_principal(decomposed), headers=world.operator
    )
    assert (await created.json())["display_name"] == "Dr Amélie Léger"
    # Found by the composed spelling people type.
    reader = await world.professional()
    found = await world.client.get("/v1/directory", params={"q": "amélie"}, headers=reader.headers)
    assert [p["display_name"] for p in (await found.json())["principals"]] == ["Dr Amélie Léger"]


@pytest.mark.parametrize(
    "lookalike",
    [
        "Dr Аlice Martin",  # Cyrillic А
        "Dr AIice Martin",  # capital I for l
        "dr alice martin",
        "Dr Alice  Martin",
        "Ｄｒ Ａｌｉｃｅ Ｍａｒｔｉｎ",  # fullwidth
        "Dr Alicе Mаrtin",  # Cyrillic е and а
    ],
)
async def test_a_lookalike_name_needs_the_operators_flag(world: World, lookalike: str) -> None:
    original = await world.principal(display_name="Dr Alice Martin")
    response = await world.client.post(
        "/v1/admin/principals", json=_principal(lookalike), headers=world.operator
    )
    assert response.status == 409
    problem = await response.json()
    assert problem["code"] == "similar_name"
    assert problem["similar"] == [original]
    confirmed = await world.client.post(
        "/v1/admin/principals",
        json=_principal(lookalike, allow_similar_name=True),
        headers=world.operator,
    )
    assert confirmed.status == 201


async def test_lookalikes_span_kinds_but_not_patients(world: World) -> None:
    await world.principal(new_slug("org"), kind="organisation", display_name="CHU Nord")
    app = await world.client.post(
        "/v1/admin/principals",
        json={"id": new_slug("app"), "kind": "application", "display_name": "CHU Nоrd"},
        headers=world.operator,
    )
    assert (await app.json())["code"] == "similar_name"
    # Patients are not looked up by name, and many share one: never compared.
    for _ in range(2):
        await world.principal(
            f"patient:{new_ins(ADULT_BIRTH)}",
            kind="patient",
            display_name="CHU Nord",
            profession=None,
        )


async def test_different_names_pass(world: World) -> None:
    for name in ("Dr Alice Martin", "Dr Alice Martinez", "Dr Álice Martin", "Dr Alice Martin 2"):
        await world.principal(display_name=name)
