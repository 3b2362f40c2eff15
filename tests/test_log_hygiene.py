"""No secret and no patient identifier in any log line (issue 10 item 6).

A real ``liaison serve`` (debug level, so that every logger speaks) runs a scenario with its
output captured: enrollments and logins, a message sent, fetched and acked, a dossier created
and read, a Redis outage while a dossier is read, a malformed request carrying a bearer token,
unknown routes holding an INS. Then the log is searched for every token, enrollment code, INS,
principal, display name, subject and body used: zero hits.

Measured before: aiohttp logged a malformed request's raw header line (``Authorization: Bearer
…`` included), a Redis outage logged the path with the patient's INS, and the operator token
was printed at first start.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import cast

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from aiohttp.web import Application, Request
from redis.asyncio import Redis

from messaging.redis_server import RedisServer
from tests.conftest import ADMIN_TOKEN
from tests.dossiers import create_dossier, dossier_call, patient
from tests.processes import ServerProcess
from tests.support import Device, World, compose

pytestmark = pytest.mark.slow

SUBJECT = "Bilan hépatique de contrôle"
BODY = "Transaminases normalisées, poursuivre le traitement."


class RecordingWorld(World):
    """A ``World`` that keeps every enrollment code it was given."""

    __test__ = False

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.codes: list[str] = []

    async def code(self, principal: str) -> str:
        code = await super().code(principal)
        self.codes.append(code)
        return code


async def _scenario(server: ServerProcess, redis_server: RedisServer, redis: Redis) -> list[str]:
    """Everything the scenario showed the server that no log line may contain."""
    async with aiohttp.ClientSession(base_url=server.url) as session:
        # World drives an aiohttp client; a session on the real server answers alike.
        client = cast(TestClient[Request, Application], session)
        world = RecordingWorld(client, ADMIN_TOKEN, redis)
        alice, bob = await world.professional(), await world.professional()
        holder, ins = await patient(world)
        await create_dossier(world, holder, ins)
        envelope = compose(alice, [bob.principal], [bob], subject=SUBJECT, body=BODY)
        sent = await session.post("/v1/messages", json=envelope, headers=alice.headers)
        assert sent.status == 202
        fetched = await (await session.get("/v1/messages", headers=bob.headers)).json()
        cursors = [event["cursor"] for event in fetched["events"]]
        acked = await session.post(
            "/v1/messages/ack", json={"cursors": cursors}, headers=bob.headers
        )
        assert acked.status == 204
        status, _ = await dossier_call(world, holder, "GET", f"/v1/dossiers/{ins}")
        assert status == 200
        for path in (f"/v1/nowhere/{ins}", f"/v1/directory/patient:{ins}x"):
            assert (await session.get(path, headers=holder.headers)).status == 404
        assert (
            await session.get(f"/v1/dossiers/{ins}", headers={"Authorization": "x"})
        ).status == 401

        devices: list[Device] = [alice, bob, holder]
        names = [
            (await (await session.get(f"/v1/directory/{d.principal}", headers=d.headers)).json())[
                "display_name"
            ]
            for d in (alice, bob)
        ]

        redis_server.stop()
        try:
            status, _ = await dossier_call(world, holder, "GET", f"/v1/dossiers/{ins}")
            assert status == 503
            await asyncio.sleep(0.5)  # the wake-up subscription notices and says so
        finally:
            redis_server.start()

        # aiohttp's report of a malformed request would quote its raw header line.
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw:
            raw.sendall(
                f"GET /v1/dossiers/{ins} HTTP/1.1\r\n"
                f"Authorization: Bearer {holder.token}\x01\r\n\r\n".encode()
            )
            assert raw.recv(12).startswith(b"HTTP/1.0 400")

        return [
            ADMIN_TOKEN,
            *(device.token for device in devices),
            *(device.token.partition(".")[2] for device in devices),
            *world.codes,
            ins,
            holder.principal,
            "Mme Durand",
            *names,
            SUBJECT,
            BODY,
        ]


async def test_no_log_line_holds_a_secret_or_a_patient_identifier(
    redis_server: RedisServer, redis_url: str, redis: Redis, tmp_path: Path
) -> None:
    env = {"LIAISON_LOG_LEVEL": "debug"}
    with ServerProcess(redis_url, tmp_path / "server", ADMIN_TOKEN, env=env) as server:
        secrets = await _scenario(server, redis_server, redis)
    log = server.log
    assert "Redis unreachable while serving GET /v1/dossiers/{ins} (ConnectionError)" in log
    assert "malformed request refused with 400" in log
    assert "POST /v1/messages 202" in log
    leaked = [secret for secret in secrets if secret in log]
    assert leaked == []
