"""Enrollment, challenge-response login, tokens and the operator boundary."""

from __future__ import annotations

import asyncio

import pytest
from pytest_aiohttp import AiohttpClient

from messaging import crypto
from messaging.server.app import create_app
from messaging.settings import Settings
from tests.support import World, enrollment


async def test_replayed_enrollment_code_is_refused(world: World) -> None:
    principal = await world.principal()
    code = await world.code(principal)
    first = await world.client.post(
        "/v1/devices", json=enrollment(principal, code, crypto.DeviceKeys.generate())
    )
    replay = await world.client.post(
        "/v1/devices", json=enrollment(principal, code, crypto.DeviceKeys.generate())
    )
    assert first.status == 201
    assert replay.status == 401
    assert replay.content_type == "application/problem+json"
    assert (await replay.json())["code"] == "invalid_enrollment_code"


async def test_enrollment_code_of_another_principal_is_refused(world: World) -> None:
    alice, bob = await world.principal(), await world.principal()
    code = await world.code(alice)
    response = await world.client.post(
        "/v1/devices", json=enrollment(bob, code, crypto.DeviceKeys.generate())
    )
    assert (await response.json())["code"] == "invalid_enrollment_code"


async def test_enrollment_proof_must_sign_the_code(world: World) -> None:
    principal = await world.principal()
    code = await world.code(principal)
    body = enrollment(principal, code, crypto.DeviceKeys.generate())
    body["proof"] = crypto.b64u_encode(crypto.DeviceKeys.generate().enrollment_proof(code))
    response = await world.client.post("/v1/devices", json=body)
    assert response.status == 400
    assert (await response.json())["code"] == "bad_signature"
    # The refused attempt did not consume the code.
    retry = await world.client.post(
        "/v1/devices", json=enrollment(principal, code, crypto.DeviceKeys.generate())
    )
    assert retry.status == 201


async def test_box_key_must_be_bound_to_the_sign_key(world: World) -> None:
    principal = await world.principal()
    code = await world.code(principal)
    body = enrollment(principal, code, crypto.DeviceKeys.generate())
    body["box_key"] = crypto.b64u_encode(crypto.BoxKey.generate().public)
    response = await world.client.post("/v1/devices", json=body)
    assert (await response.json())["code"] == "bad_signature"


async def test_replayed_auth_challenge_is_refused(world: World) -> None:
    device = await world.professional()
    response = await world.client.post("/v1/auth/challenge", json={"device": device.device_id})
    challenge = (await response.json())["challenge"]
    signed = {
        "device": device.device_id,
        "challenge": challenge,
        "signature": crypto.b64u_encode(device.keys.auth_signature(crypto.b64u_decode(challenge))),
    }
    first = await world.client.post("/v1/auth/token", json=signed)
    replay = await world.client.post("/v1/auth/token", json=signed)
    assert first.status == 200
    assert replay.status == 401
    assert (await replay.json())["code"] == "invalid_challenge"


async def test_challenge_signed_by_another_key_is_refused(world: World) -> None:
    device = await world.professional()
    response = await world.client.post("/v1/auth/challenge", json={"device": device.device_id})
    challenge = (await response.json())["challenge"]
    forged = crypto.DeviceKeys.generate().auth_signature(crypto.b64u_decode(challenge))
    response = await world.client.post(
        "/v1/auth/token",
        json={
            "device": device.device_id,
            "challenge": challenge,
            "signature": crypto.b64u_encode(forged),
        },
    )
    assert response.status == 401
    assert (await response.json())["code"] == "invalid_challenge"


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer garbage",
        "Bearer dev_aaaaaaaaaaaaaaaaaaaaaaaaaa.not-a-real-secret",
        "Basic dXNlcjpwYXNz",
    ],
)
async def test_missing_or_garbage_token_is_refused(world: World, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = await world.client.get("/v1/messages", headers=headers)
    assert response.status == 401
    assert response.content_type == "application/problem+json"
    assert (await response.json())["code"] == "invalid_token"


async def test_expired_token_is_refused(world: World) -> None:
    device = await world.professional()
    # Expiry is Redis's TTL on the token key: make it lapse now rather than wait an hour.
    await world.expire_tokens(device)
    response = await world.client.get("/v1/messages", headers=device.headers)
    assert response.status == 401
    assert (await response.json())["code"] == "invalid_token"


@pytest.mark.parametrize(
    ("path", "authorization", "refusal"),
    [
        # No credentials at all: 401, as RFC 9110 has it (an API fuzzer checks it).
        ("/v1/admin/principals", None, (401, "invalid_token")),
        ("/v1/admin/principals", "Bearer not-the-operator", (403, "operator_only")),
        (
            "/v1/admin/principals/rpps:12345678901/enrollment-codes",
            "Bearer not-the-operator",
            (403, "operator_only"),
        ),
    ],
)
async def test_operator_api_refuses_anyone_else(
    world: World, path: str, authorization: str | None, refusal: tuple[int, str]
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    body = {"id": "rpps:12345678901", "kind": "professional", "display_name": "Dr X"}
    response = await world.client.post(path, json=body, headers=headers)
    assert (response.status, (await response.json())["code"]) == refusal


async def test_device_token_is_not_an_operator_token(world: World) -> None:
    device = await world.professional()
    body = {"id": "rpps:12345678901", "kind": "professional", "display_name": "Dr X"}
    response = await world.client.post("/v1/admin/principals", json=body, headers=device.headers)
    assert (await response.json())["code"] == "operator_only"


async def test_revoked_device_loses_its_token(world: World) -> None:
    device = await world.professional()
    response = await world.client.delete(f"/v1/devices/{device.device_id}", headers=device.headers)
    assert response.status == 204
    response = await world.client.get("/v1/messages", headers=device.headers)
    assert (await response.json())["code"] == "invalid_token"


async def test_device_cannot_revoke_another_principals_device(world: World) -> None:
    alice, bob = await world.professional(), await world.professional()
    response = await world.client.delete(f"/v1/devices/{bob.device_id}", headers=alice.headers)
    assert response.status == 404
    listing = await world.client.get("/v1/devices", headers=bob.headers)
    assert [d["id"] for d in (await listing.json())["devices"]] == [bob.device_id]


async def test_revocation_reaches_a_token_another_process_has_cached(
    world: World, aiohttp_client: AiohttpClient, settings: Settings
) -> None:
    device = await world.professional()
    other = await aiohttp_client(create_app(settings))  # a second server process, same Redis
    assert (await other.get("/v1/messages", headers=device.headers)).status == 200
    await world.client.delete(f"/v1/devices/{device.device_id}", headers=device.headers)
    deadline = asyncio.get_running_loop().time() + 5
    while (await other.get("/v1/messages", headers=device.headers)).status == 200:
        assert asyncio.get_running_loop().time() < deadline, "revocation never reached it"
        await asyncio.sleep(0.01)
    response = await other.get("/v1/messages", headers=device.headers)
    assert (await response.json())["code"] == "invalid_token"
