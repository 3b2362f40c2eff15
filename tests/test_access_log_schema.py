"""The access log's entries have a schema (``LogEntry``), published in the OpenAPI document and
enforced where entries are written, so the compliance record cannot drift from its description."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError
from redis.asyncio import Redis

from dossier_link.access_log import GENESIS
from dossier_link.changes import Change, Changes
from dossier_link.checkpoints import CheckpointSigner
from dossier_link.models import ConsentRecord, DossierRecord
from dossier_link.policy import Actor, Decision
from dossier_link.store import DossierStore
from messaging import crypto
from messaging.redis_link import RedisLink
from tests.dossiers import dossier_call, dossier_cast, open_emergency, stored_log
from tests.support import World


class _NoNotices:
    async def notify(self, principals: Any, body: Any, item: str, *, hold: bool = False) -> None:
        raise AssertionError("nothing here notifies")


async def test_every_served_entry_matches_the_published_schema(world: World) -> None:
    cast = await dossier_cast(world)
    await open_emergency(world, cast.devices["stranger"], cast.ins)
    await dossier_call(world, cast.devices["mt"], "GET", f"/v1/dossiers/{cast.ins}/documents")
    document = await (await world.client.get("/openapi.json")).json()
    schemas = document["components"]["schemas"]
    assert schemas["AccessLog"]["properties"]["entries"]["items"] == {
        "$ref": "#/components/schemas/LogEntry"
    }
    schema = schemas["LogEntry"]
    status, log = await dossier_call(
        world, cast.holder, "GET", f"/v1/dossiers/{cast.ins}/access-log"
    )
    assert status == 200
    assert log["chain_ok"] is True
    members: set[str] = set()
    for entry in log["entries"]:
        assert set(schema["required"]) <= set(entry) <= set(schema["properties"]), entry
        # Absent, never null: the entry's hash covers exactly the members present.
        assert None not in entry.values(), entry
        members |= set(entry)
    # The dossier above exercised the optional members, not only the required ones.
    assert {"basis", "target", "detail", "document", "message", "expires_at"} <= members


async def test_an_entry_outside_the_schema_is_never_written(
    redis: Redis, redis_link: RedisLink
) -> None:
    ins = "146026322000196"
    at = "2024-01-01T00:00:00.000Z"
    record = DossierRecord(
        ins=ins,
        holder=f"patient:{ins}",
        birth_date="1946-02-01",
        consent=ConsentRecord(given_by="holder", name="Jeanne Martin", regime="express", at=at),
        created_at=at,
        log_head=GENESIS,
    )
    signer = CheckpointSigner(crypto.SigningKey.generate(), lambda: datetime.now(UTC))
    changes = Changes(DossierStore(redis_link), _NoNotices(), signer)
    assert await changes.commit(0, Change(record))
    change = Change(record)
    holder = Actor(principal=record.holder, kind="patient")
    change.log(holder, "view", Decision.allow("holder"), datetime.now(UTC), unlisted="member")
    with pytest.raises(ValidationError, match="unlisted"):
        await changes.commit(1, change)
    assert await stored_log(redis, ins) == []
