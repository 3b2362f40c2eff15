"""Many writers on one dossier at once: every attachment lands (no dossier_busy)."""

from __future__ import annotations

import asyncio

from tests.dossiers import create_dossier, dossier_call, patient, send_linked
from tests.support import World

ALSO_ON_CLUSTER = True


async def test_concurrent_writers_on_one_dossier_all_attach(world: World) -> None:
    """W-2: concurrent linked messages to one dossier are serialised, not refused."""
    holder, ins = await patient(world)
    await create_dossier(world, holder, ins)
    gp, cardio = await world.professional(), await world.professional()
    status, _ = await dossier_call(
        world, holder, "PUT", f"/v1/dossiers/{ins}/medecin-traitant", {"professional": gp.principal}
    )
    assert status == 200
    answers = await asyncio.gather(*(send_linked(world, gp, [cardio], ins) for _ in range(40)))
    assert [(s, a["dossier"]["status"]) for s, a in answers] == [(202, "attached")] * 40
