"""Box keys nobody can seal to are refused at enrollment, and the SDK refuses to seal to one
(issue 10).

Measured before: a box key of 32 zero bytes (4 of 4 such keys tried) was enrolled and listed in
the directory, and every client that then sealed to it crashed with ``RuntimeError``, so one bad
device broke sending to its whole organisation.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiohttp.test_utils import TestClient
from aiohttp.web import Application, Request

from messaging import crypto, redis_keys
from messaging.client import DeviceIdentity, LiaisonClient, MessageContent, SdkError
from messaging.client.content import build_envelope
from messaging.directory import StoredDevice
from messaging.timeutil import now_ms, rfc3339
from tests.support import World, enrollment

P = 2**255 - 19
# The u-coordinates of the points of small order (orders 1, 2, 4 and 8) on Curve25519 and its
# twist, as listed by libsodium and by Bernstein's "how to design an elliptic-curve signature
# system" note: 0, 1, the two points of order 8, and p - 1.
SMALL_ORDER = [
    0,
    1,
    325606250916557431795983626356110631294008115727848805560023387167927233504,
    39382357235489614581723060781553021112529911719440698176882885853963445705823,
    P - 1,
]
# The same u written another way: plus p (still below 2^255), or with the unused top bit set.
NON_CANONICAL = [P, P + 1, 9 + P, 2**255 + 9, 2**255 + 1]


def _key(u: int) -> bytes:
    return u.to_bytes(32, "little")


WEAK = [_key(u) for u in SMALL_ORDER] + [_key(u) for u in NON_CANONICAL]
WEAK_IDS = [f"order-{i}" for i in range(len(SMALL_ORDER))] + [
    "p",
    "p+1",
    "9+p",
    "9 with top bit",
    "1 with top bit",
]


def _weak_enrollment(principal: str, code: str, weak: bytes) -> dict[str, str]:
    keys = crypto.DeviceKeys.generate()
    body = enrollment(principal, code, keys)
    body["box_key"] = crypto.b64u_encode(weak)
    body["box_key_signature"] = crypto.b64u_encode(keys.sign.sign(crypto.CTX_BOX_KEY, weak))
    return body


@pytest.mark.parametrize("weak", WEAK, ids=WEAK_IDS)
def test_weak_box_keys_are_recognised(weak: bytes) -> None:
    with pytest.raises(crypto.WeakKey):
        crypto.check_box_key(weak)
    with pytest.raises(crypto.WeakKey):
        crypto.seal(crypto.random_bytes(32), weak)


def test_real_box_keys_pass() -> None:
    for _ in range(100):
        public = crypto.BoxKey.generate().public
        assert crypto.check_box_key(public) == public
    assert crypto.check_box_key(_key(9)) == _key(9)  # the base point itself
    assert crypto.check_box_key(_key(P - 2)) == _key(P - 2)  # the largest canonical u but one


@pytest.mark.parametrize("weak", WEAK, ids=WEAK_IDS)
async def test_enrollment_refuses_a_weak_box_key(world: World, weak: bytes) -> None:
    principal = await world.principal()
    code = await world.code(principal)
    response = await world.client.post("/v1/devices", json=_weak_enrollment(principal, code, weak))
    assert response.status == 400
    assert (await response.json())["code"] == "weak_key"
    assert await world.redis.hlen(redis_keys.principal_devices(principal)) == 0
    # The refused attempt consumed nothing: the same code enrolls a sound device.
    retry = await world.client.post(
        "/v1/devices", json=enrollment(principal, code, crypto.DeviceKeys.generate())
    )
    assert retry.status == 201


def test_the_sdk_refuses_to_seal_to_a_weak_key() -> None:
    sender = crypto.DeviceKeys.generate()
    with pytest.raises(SdkError) as refused:
        build_envelope(
            message_id=str(uuid.uuid4()),
            sender="rpps:10000000001",
            sender_device="dev_" + "a" * 26,
            sign_key=sender.sign,
            recipients=["org:cardiologie"],
            created_at=rfc3339(now_ms()),
            content=MessageContent("Compte rendu", "Patient vu ce jour."),
            box_keys={
                "dev_" + "b" * 26: crypto.BoxKey.generate().public,
                "dev_" + "c" * 26: WEAK[0],
            },
        )
    assert refused.value.code == "weak_key"
    assert "dev_" + "c" * 26 in refused.value.detail


async def test_a_weak_device_left_from_before_fails_a_send_clearly(
    world: World, client: TestClient[Request, Application]
) -> None:
    """A device enrolled before the check (written here straight into Redis, with a valid
    binding) makes the SDK say which device is unusable instead of crashing."""
    member = await world.principal()
    legacy_keys = crypto.DeviceKeys.generate()
    legacy = StoredDevice(
        id="dev_" + "l" * 26,
        owner=member,
        name="ancien poste",
        sign_key=crypto.b64u_encode(legacy_keys.sign.public),
        box_key=crypto.b64u_encode(WEAK[0]),
        box_key_signature=crypto.b64u_encode(legacy_keys.sign.sign(crypto.CTX_BOX_KEY, WEAK[0])),
        created_at=rfc3339(now_ms()),
    )
    await world.redis.hset(
        redis_keys.principal_devices(member), legacy.id, legacy.model_dump_json()
    )
    await world.redis.publish(redis_keys.INVALIDATE_CHANNEL, f"p:{member}")
    org = await world.principal("org:cardio-nord", kind="organisation", members=[member])
    sender = await world.professional()
    deadline = asyncio.get_running_loop().time() + 5
    while not (
        await (await world.client.get(f"/v1/directory/{org}", headers=sender.headers)).json()
    )["devices"]:
        assert asyncio.get_running_loop().time() < deadline, "the invalidation never arrived"
        await asyncio.sleep(0.01)
    url = str(client.make_url(""))
    identity = DeviceIdentity(url, sender.principal, sender.device_id, sender.keys)
    async with LiaisonClient(url, identity, session=client.session) as sdk:
        with pytest.raises(SdkError) as refused:
            await sdk.send([org], "Compte rendu", "Patient vu ce jour.")
    assert refused.value.code == "weak_key"
    assert legacy.id in refused.value.detail
