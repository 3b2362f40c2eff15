"""Test harness: an operator and enrolled devices talking to the real app over HTTP."""

from __future__ import annotations

import asyncio
import itertools
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from aiohttp.test_utils import TestClient
from aiohttp.web import Application, Request

from messaging import crypto, redis_keys
from messaging.cli import main
from messaging.client import MessageContent, build_envelope, open_content
from messaging.models import DossierHeader
from messaging.redis_link import RedisClient
from messaging.timeutil import now_ms, rfc3339

_serial = itertools.count(1)


def new_rpps() -> str:
    return f"rpps:{10_000_000_000 + next(_serial):011d}"


def new_slug(prefix: str) -> str:
    return f"{prefix}:team-{next(_serial)}"


@dataclass(frozen=True)
class Device:
    principal: str
    device_id: str
    keys: crypto.DeviceKeys
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


class World:
    """Creates principals through the operator API and devices through enrollment + login."""

    __test__ = False

    def __init__(
        self, client: TestClient[Request, Application], admin_token: str, redis: RedisClient
    ) -> None:
        self.client = client
        self.redis = redis
        self.operator = {"Authorization": f"Bearer {admin_token}"}

    async def expire_tokens(self, device: Device) -> None:
        async for key in self.redis.scan_iter(match=redis_keys.token(device.device_id, "*")):
            await self.redis.pexpire(key, 1)
        await asyncio.sleep(0.01)

    async def principal(
        self,
        principal_id: str | None = None,
        *,
        kind: str = "professional",
        display_name: str | None = None,
        profession: str | None = "médecin",
        roles: list[str] | None = None,
        members: list[str] | None = None,
        birth_date: str | None = None,
    ) -> str:
        principal_id = principal_id or new_rpps()
        # Look-alike names need the operator's confirmation: each default name is its own.
        display_name = display_name or f"Dr Camille Martin {next(_serial)}"
        body: dict[str, Any] = {"id": principal_id, "kind": kind, "display_name": display_name}
        if birth_date is not None:
            body["birth_date"] = birth_date
        if profession is not None:
            body["profession"] = profession
        if roles:
            body["roles"] = roles
        if members is not None:
            body["members"] = members
        response = await self.client.post("/v1/admin/principals", json=body, headers=self.operator)
        assert response.status == 201, await response.text()
        return principal_id

    async def code(self, principal: str) -> str:
        response = await self.client.post(
            f"/v1/admin/principals/{principal}/enrollment-codes", headers=self.operator
        )
        assert response.status == 201, await response.text()
        code: str = (await response.json())["code"]
        return code

    async def enroll(self, principal: str, keys: crypto.DeviceKeys | None = None) -> Device:
        keys = keys or crypto.DeviceKeys.generate()
        code = await self.code(principal)
        response = await self.client.post("/v1/devices", json=enrollment(principal, code, keys))
        assert response.status == 201, await response.text()
        device_id: str = (await response.json())["device"]
        return Device(principal, device_id, keys, await self.login(device_id, keys))

    async def login(self, device_id: str, keys: crypto.DeviceKeys) -> str:
        response = await self.client.post("/v1/auth/challenge", json={"device": device_id})
        assert response.status == 200, await response.text()
        challenge = (await response.json())["challenge"]
        signature = keys.auth_signature(crypto.b64u_decode(challenge))
        response = await self.client.post(
            "/v1/auth/token",
            json={
                "device": device_id,
                "challenge": challenge,
                "signature": crypto.b64u_encode(signature),
            },
        )
        assert response.status == 200, await response.text()
        token: str = (await response.json())["token"]
        return token

    async def professional(self, **kwargs: Any) -> Device:
        return await self.enroll(await self.principal(**kwargs))


def enrollment(principal: str, code: str, keys: crypto.DeviceKeys) -> dict[str, str]:
    return {
        "principal": principal,
        "enrollment_code": code,
        "name": "poste de consultation",
        "sign_key": crypto.b64u_encode(keys.sign.public),
        "box_key": crypto.b64u_encode(keys.box.public),
        "box_key_signature": crypto.b64u_encode(keys.box_key_signature()),
        "proof": crypto.b64u_encode(keys.enrollment_proof(code)),
    }


def compose(
    sender: Device,
    recipients: list[str],
    devices: list[Device],
    *,
    subject: str = "Compte rendu",
    body: str = "Patient vu ce jour.",
    message_id: str | None = None,
    dossier: DossierHeader | None = None,
    dossier_key: bytes | None = None,
) -> dict[str, Any]:
    """A signed envelope from ``sender`` with a key wrap for each of ``devices``."""
    return build_envelope(
        message_id=message_id or str(uuid.uuid4()),
        sender=sender.principal,
        sender_device=sender.device_id,
        sign_key=sender.keys.sign,
        recipients=recipients,
        created_at=rfc3339(now_ms()),
        content=MessageContent(subject, body),
        box_keys={d.device_id: d.keys.box.public for d in devices},
        dossier=dossier,
        dossier_key=dossier_key,
    )


def with_plaintext(
    envelope: dict[str, Any], plaintext: bytes, sender: Device, reader: Device
) -> dict[str, Any]:
    """``envelope`` re-made to carry ``plaintext`` as these exact bytes, as a buggy or hostile
    sender's client could: the server cannot tell (it never sees a plaintext), and it is signed."""
    key = reader.keys.box.open(crypto.b64u_decode(envelope["keys"][reader.device_id]))
    nonce = crypto.random_bytes(crypto.NONCE_BYTES)
    ciphertext = crypto.aead_encrypt(plaintext, crypto.content_aad(envelope["id"]), nonce, key)
    forged = {k: v for k, v in envelope.items() if k not in ("signature", "keys")}
    forged |= {"nonce": crypto.b64u_encode(nonce), "ciphertext": crypto.b64u_encode(ciphertext)}
    forged["signature"] = crypto.sign_envelope(forged, sender.keys.sign)
    return forged | {"keys": envelope["keys"]}


def open_message(event: dict[str, Any], device: Device) -> MessageContent:
    """Verify the sender's signature is intact and decrypt, as a recipient would."""
    return open_content(event["envelope"], crypto.b64u_decode(event["key"]), device.keys.box)


async def run_cli(argv: list[str]) -> int:
    """``liaison ARGV`` in a thread (the CLI runs its own event loop while the test's serves the
    app); the CLI's log handler, bound to the test's capture, is taken off afterwards, or a
    later test's log records would be written to a closed stream."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        return await asyncio.to_thread(main, argv)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
