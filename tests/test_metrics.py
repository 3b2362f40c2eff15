"""``/metrics``: prometheus_client's families, read back with prometheus_client's own parser; and
under ``serve --workers 2`` (real processes) every scrape, whichever worker answers it, reports
the whole deployment."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from messaging import crypto
from messaging.client import AdminClient, enroll
from tests.dossiers import eventually, grant_access, open_dossier, send_linked
from tests.processes import ServerProcess
from tests.support import World, compose, new_rpps

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum over every series of ``name`` whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, series), v in samples.items() if n == name and wanted <= series)


async def _scrape(world: World) -> Samples:
    response = await world.client.get("/metrics")
    assert response.status == 200
    assert response.content_type == "text/plain"
    return parse(await response.text())


async def test_requests_are_timed_by_method_route_template_and_status(world: World) -> None:
    for _ in range(3):
        await world.client.get("/healthz")
    await world.client.get("/v1/dossiers/160057512345678")  # 401: no token

    samples = await _scrape(world)

    healthz = {"method": "GET", "route": "/healthz", "status": "200"}
    assert value(samples, "liaison_http_request_duration_seconds_count", **healthz) == 3
    assert value(samples, "liaison_http_request_duration_seconds_bucket", le="+Inf", **healthz) == 3
    dossier = {"method": "GET", "route": "/v1/dossiers/{ins}", "status": "401"}
    assert value(samples, "liaison_http_request_duration_seconds_count", **dossier) == 1
    assert value(samples, "liaison_problems_total", status="401", code="invalid_token") == 1
    assert not [key for key in samples if "160057512345678" in str(key)]


async def test_a_message_exchange_is_counted_from_send_to_receipt(world: World) -> None:
    alice, bob = await world.professional(), await world.professional()
    async with world.client.ws_connect("/v1/stream", headers=bob.headers) as ws:
        assert (await ws.receive_json(timeout=5))["type"] == "queue_empty"
        envelope = compose(alice, [bob.principal], [bob])
        sent = await world.client.post("/v1/messages", json=envelope, headers=alice.headers)
        assert sent.status == 202
        event = await ws.receive_json(timeout=5)
        await ws.send_json({"type": "ack", "cursors": [event["cursor"]]})

        async def acked() -> bool:
            return value(await _scrape(world), "liaison_messages_acked_total") == 1

        await eventually(acked)
        samples = await _scrape(world)
    assert value(samples, "liaison_messages_accepted_total") == 1
    assert value(samples, "liaison_messages_delivered_total", via="socket") == 1
    assert value(samples, "liaison_receipts_emitted_total") == 1  # to alice's one device
    assert value(samples, "liaison_send_to_push_seconds_count") == 1
    # Every Redis round trip of the exchange was timed, pipelines and scripts included.
    assert total(samples, "liaison_redis_call_seconds_count", command="PIPELINE") > 0
    assert total(samples, "liaison_redis_call_seconds_count") > 5
    polled = await world.client.get("/v1/messages", headers=alice.headers)
    assert len((await polled.json())["events"]) == 1  # the receipt: not a message event
    assert value(await _scrape(world), "liaison_messages_delivered_total", via="poll") == 0


async def test_open_sockets_are_counted_exactly(world: World) -> None:
    devices = [await world.professional() for _ in range(3)]

    async def open_now(expected: int) -> None:
        async def check() -> bool:
            return value(await _scrape(world), "liaison_websockets") == expected

        await eventually(check)

    async with contextlib.AsyncExitStack() as stack:
        for device in devices:
            ws = await stack.enter_async_context(
                world.client.ws_connect("/v1/stream", headers=device.headers)
            )
            assert (await ws.receive_json(timeout=5))["type"] == "queue_empty"
        await open_now(3)
    await open_now(0)  # closed by the client: not left counted until garbage collection


async def test_dossier_links_are_counted_by_outcome_and_code(world: World) -> None:
    holder, ins = await open_dossier(world)
    granted, stranger = await world.professional(), await world.professional()
    await grant_access(world, holder, ins, granted)

    answers = [
        (await send_linked(world, author, [holder], ins))[1]["dossier"]
        for author in (granted, stranger)
    ]

    samples = await _scrape(world)
    attached, refused = answers
    assert attached["status"] == "attached"
    assert refused["status"] == "refused"
    assert value(samples, "liaison_dossier_link_outcomes_total", status="attached", code="") == 1
    assert (
        value(
            samples, "liaison_dossier_link_outcomes_total", status="refused", code=refused["code"]
        )
        == 1
    )


async def test_process_pool_and_listener_gauges_are_sampled_at_scrape(world: World) -> None:
    samples = await _scrape(world)
    assert value(samples, "liaison_process_resident_memory_bytes") > 0
    assert value(samples, "liaison_process_open_fds") > 0
    assert value(samples, "liaison_redis_pool_connections", state="limit") == 64
    assert value(samples, "liaison_redis_pool_connections", state="in_use") >= 0
    assert ("liaison_wake_listeners", frozenset()) in samples


# --- several workers ----------------------------------------------------------------------------

ADMIN_TOKEN = "metrics-operator-token"
SOCKETS = 16
"""Enough sockets that both workers surely hold some (SO_REUSEPORT spreads them by hash)."""


async def _token(
    session: aiohttp.ClientSession, url: str, device: str, keys: crypto.DeviceKeys
) -> str:
    async with session.post(f"{url}/v1/auth/challenge", json={"device": device}) as answer:
        challenge = (await answer.json())["challenge"]
    signature = crypto.b64u_encode(keys.auth_signature(crypto.b64u_decode(challenge)))
    body = {"device": device, "challenge": challenge, "signature": signature}
    async with session.post(f"{url}/v1/auth/token", json=body) as answer:
        token: str = (await answer.json())["token"]
    return token


async def _fresh_scrape(url: str) -> Samples:
    # A new connection each time, so that successive scrapes reach either worker.
    async with aiohttp.ClientSession() as session, session.get(f"{url}/metrics") as response:
        return parse(await response.text())


@contextlib.asynccontextmanager
async def _sockets(url: str, count: int) -> AsyncIterator[list[aiohttp.ClientWebSocketResponse]]:
    async with contextlib.AsyncExitStack() as stack:
        admin = await stack.enter_async_context(AdminClient(url, ADMIN_TOKEN))
        principal = new_rpps()
        await admin.create_principal(principal, "professional", "Dr Socket", profession="médecin")
        sockets = []
        for _ in range(count):
            identity = await enroll(
                url, principal, (await admin.enrollment_code(principal)).code, "poste"
            )
            # Its own session: its own connection, placed on a worker by the kernel.
            session = await stack.enter_async_context(aiohttp.ClientSession())
            token = await _token(session, url, identity.device_id, identity.keys)
            ws = await stack.enter_async_context(
                session.ws_connect(f"{url}/v1/stream", headers={"Authorization": f"Bearer {token}"})
            )
            assert (await ws.receive_json(timeout=10))["type"] == "queue_empty"
            sockets.append(ws)
        yield sockets


def _pids(samples: Samples) -> set[str]:
    return {
        dict(labels)["pid"]
        for name, labels in samples
        if name == "liaison_process_start_time_seconds"
    }


@pytest.mark.slow
async def test_every_scrape_of_two_workers_reports_both(redis_url: str, tmp_path: Path) -> None:
    with ServerProcess(redis_url, tmp_path / "server", ADMIN_TOKEN, workers=2) as server:
        for _ in range(40):
            async with (
                aiohttp.ClientSession() as session,
                session.get(f"{server.url}/healthz") as response,
            ):
                assert response.status == 200

        scrapes = [await _fresh_scrape(server.url) for _ in range(6)]

        healthz = {"method": "GET", "route": "/healthz", "status": "200"}
        counts = {
            value(s, "liaison_http_request_duration_seconds_count", **healthz) for s in scrapes
        }
        assert counts == {40.0}  # the same sum from either worker
        assert {len(_pids(s)) for s in scrapes} == {2}

        async with _sockets(server.url, SOCKETS) as sockets:
            scrapes = [await _fresh_scrape(server.url) for _ in range(4)]
            assert {value(s, "liaison_websockets") for s in scrapes} == {SOCKETS}

            # A worker dies with its sockets: the master marks it dead, so its sockets leave
            # the sum instead of staying counted for ever.
            victim = int(min(_pids(scrapes[0])))
            os.kill(victim, signal.SIGKILL)

            async def settled() -> bool:
                for ws in sockets:
                    if not ws.closed:
                        with contextlib.suppress(asyncio.TimeoutError):
                            await ws.receive(timeout=0.01)
                alive = sum(not ws.closed for ws in sockets)
                samples = await _fresh_scrape(server.url)
                pids = _pids(samples)
                return (
                    len(pids) == 1
                    and str(victim) not in pids
                    and (value(samples, "liaison_websockets") == alive)
                )

            await eventually(settled, within=15)
            assert 0 < sum(not ws.closed for ws in sockets) < SOCKETS
