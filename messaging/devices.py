"""Device enrollment with single-use codes, listing and revocation."""

from __future__ import annotations

import base64
import secrets

from messaging import crypto, redis_keys
from messaging.auth import Caller, secret_digest
from messaging.directory import Directory, StoredDevice
from messaging.errors import BadSignature, InvalidEnrollmentCode, NotFound, WeakBoxKey
from messaging.held_notices import HeldNotices
from messaging.models import EnrollDeviceRequest, EnrollmentCodeResponse, OwnDevice
from messaging.redis_link import RedisClient
from messaging.scripts import Scripts
from messaging.timeutil import now_ms, rfc3339
from messaging.wakeup import WakeHub


def new_device_id() -> str:
    return "dev_" + base64.b32encode(secrets.token_bytes(16)).decode().rstrip("=").lower()


def new_enrollment_code() -> str:
    raw = base64.b32encode(secrets.token_bytes(10)).decode()
    return "-".join(raw[i : i + 4] for i in range(0, len(raw), 4))


class Devices:
    def __init__(
        self,
        redis: RedisClient,
        scripts: Scripts,
        directory: Directory,
        hub: WakeHub,
        held: HeldNotices,
        *,
        code_ttl: int,
    ) -> None:
        self._redis = redis
        self._scripts = scripts
        self._directory = directory
        self._hub = hub
        self._held = held
        self._code_ttl = code_ttl

    async def issue_code(self, principal: str) -> EnrollmentCodeResponse:
        await self._directory.principal(principal)
        code = new_enrollment_code()
        await self._redis.set(
            redis_keys.enrollment_code(principal, secret_digest(code)), b"1", ex=self._code_ttl
        )
        return EnrollmentCodeResponse(
            code=code, expires_at=rfc3339(now_ms() + self._code_ttl * 1000)
        )

    async def enroll(self, request: EnrollDeviceRequest) -> StoredDevice:
        sign_key = crypto.b64u_decode(request.sign_key)
        try:
            crypto.check_box_key(crypto.b64u_decode(request.box_key))
        except crypto.WeakKey as exc:
            raise WeakBoxKey(f"{exc}: generate another box key pair") from exc
        try:
            crypto.verify_box_key_binding(
                sign_key,
                crypto.b64u_decode(request.box_key),
                crypto.b64u_decode(request.box_key_signature),
            )
        except crypto.CryptoError as exc:
            raise BadSignature("box_key_signature does not bind box_key to sign_key") from exc
        try:
            crypto.verify(
                sign_key,
                crypto.CTX_ENROLL,
                request.enrollment_code.encode(),
                crypto.b64u_decode(request.proof),
            )
        except crypto.CryptoError as exc:
            raise BadSignature("proof does not sign the enrollment code") from exc
        device = StoredDevice(
            id=new_device_id(),
            owner=request.principal,
            name=request.name,
            sign_key=request.sign_key,
            box_key=request.box_key,
            box_key_signature=request.box_key_signature,
            created_at=rfc3339(now_ms()),
        )
        # The device's own record comes first and only points at its owner; the device becomes
        # usable when the script below publishes it in the owner's index, consuming the code.
        await self._redis.hset(redis_keys.device(device.id), mapping={"owner": device.owner})
        enrolled = await self._scripts.enroll(
            keys=[
                redis_keys.enrollment_code(
                    request.principal, secret_digest(request.enrollment_code)
                ),
                redis_keys.principal_devices(request.principal),
            ],
            args=[device.id, device.model_dump_json()],
        )
        if not enrolled:
            await self._redis.delete(redis_keys.device(device.id))
            raise InvalidEnrollmentCode("unknown, expired or already used enrollment code")
        await self._hub.invalidate(f"p:{device.owner}")
        await self._held.release(device.owner, device.id)
        return device

    async def own(self, caller: Caller) -> list[OwnDevice]:
        found = await self._directory.devices([caller.principal])
        return [device.own() for device in found[caller.principal].values()]

    async def revoke(self, caller: Caller, device_id: str) -> None:
        retired = await self._scripts.retire(
            keys=[
                redis_keys.principal_devices(caller.principal),
                redis_keys.retired_devices(caller.principal),
            ],
            args=[device_id, rfc3339(now_ms())],
        )
        if not retired:
            raise NotFound("none of your active devices has this id")
        await self._scripts.revoke(
            keys=[
                redis_keys.device(device_id),
                redis_keys.tokens(device_id),
                redis_keys.queue(device_id),
                redis_keys.seen(device_id),
                redis_keys.shares(device_id),
                redis_keys.challenges(device_id),
            ],
            args=[redis_keys.token(device_id, "")],
        )
        await self._hub.invalidate(f"p:{caller.principal}", f"d:{device_id}")
