"""Fair shares of a device's queue (issue 10, DESIGN §4): one sender's messages hold at most
``sender_share`` of a device's quota, so a flood from one sender never blocks the others; a
device reached through an organisation that cannot take a message is skipped, never blocking
the organisation.

Measured before: one sender filled a device's whole quota (10,000 events in 8 s), after which
nobody could write to that device, nor to any organisation it belongs to (429 ``queue_full``).
The test settings' quota is 50; the default share of a quarter leaves a sender 12.
"""

from __future__ import annotations

from typing import Any

import pytest

from messaging.settings import Settings
from tests.support import Device, World, compose

QUOTA = 50
SHARE = 12


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"sender_share": Settings.model_fields["sender_share"].default}
    )


async def _send(world: World, sender: Device, envelope: dict[str, Any]) -> tuple[int, Any]:
    response = await world.client.post("/v1/messages", json=envelope, headers=sender.headers)
    return response.status, await response.json()


async def _events(world: World, device: Device) -> list[dict[str, Any]]:
    response = await world.client.get("/v1/messages?limit=500", headers=device.headers)
    events: list[dict[str, Any]] = (await response.json())["events"]
    return events


async def _fill_share(world: World, sender: Device, device: Device) -> None:
    for _ in range(SHARE):
        status, _ = await _send(world, sender, compose(sender, [device.principal], [device]))
        assert status == 202


async def test_a_sender_past_its_share_is_refused_and_others_still_get_through(
    world: World,
) -> None:
    flooder, other, carol = (
        await world.professional(),
        await world.professional(),
        await world.professional(),
    )
    await _fill_share(world, flooder, carol)
    response = await world.client.post(
        "/v1/messages",
        json=compose(flooder, [carol.principal], [carol]),
        headers=flooder.headers,
    )
    assert response.status == 429
    assert response.headers["Retry-After"] == "60"
    problem = await response.json()
    assert problem["code"] == "sender_share_exceeded"
    assert problem["devices"] == [carol.device_id]
    status, _ = await _send(world, other, compose(other, [carol.principal], [carol]))
    assert status == 202
    # Carol acks one of the flood: the flooder has room for exactly one more.
    events = await _events(world, carol)
    assert len(events) == SHARE + 1
    await world.client.post(
        "/v1/messages/ack", json={"cursors": [events[0]["cursor"]]}, headers=carol.headers
    )
    status, _ = await _send(world, flooder, compose(flooder, [carol.principal], [carol]))
    assert status == 202
    status, _ = await _send(world, flooder, compose(flooder, [carol.principal], [carol]))
    assert status == 429


async def test_a_full_queue_of_a_named_recipient_refuses_the_whole_message(world: World) -> None:
    alice, bob, carol = (
        await world.professional(),
        await world.professional(),
        await world.professional(),
    )
    senders = [await world.professional() for _ in range(QUOTA // SHARE)]
    for sender in senders:
        await _fill_share(world, sender, carol)
    for _ in range(QUOTA - SHARE * len(senders)):
        status, _ = await _send(world, alice, compose(alice, [carol.principal], [carol]))
        assert status == 202
    response = await world.client.post(
        "/v1/messages",
        json=compose(alice, [bob.principal, carol.principal], [bob, carol]),
        headers=alice.headers,
    )
    assert response.status == 429
    assert response.headers["Retry-After"] == "60"
    problem = await response.json()
    assert problem["code"] == "queue_full"
    assert problem["devices"] == [carol.device_id]
    # Refused means refused for everyone: bob did not get it either.
    assert await _events(world, bob) == []


async def test_one_member_s_queue_never_blocks_its_organisation(world: World) -> None:
    alice, nurse_a, nurse_b = (
        await world.professional(),
        await world.professional(),
        await world.professional(),
    )
    team = await world.principal(
        "org:chu-pediatrie",
        kind="organisation",
        display_name="CHU Pédiatrie",
        profession=None,
        members=[nurse_a.principal, nurse_b.principal],
    )
    await _fill_share(world, alice, nurse_a)
    status, answer = await _send(world, alice, compose(alice, [team], [nurse_a, nurse_b]))
    assert status == 202
    assert answer["skipped"] == [{"device": nurse_a.device_id, "code": "sender_share_exceeded"}]
    assert len(await _events(world, nurse_b)) == 1
    assert len(await _events(world, nurse_a)) == SHARE
    # Named directly, the same member's device refuses the message as a whole.
    status, problem = await _send(world, alice, compose(alice, [nurse_a.principal], [nurse_a]))
    assert (status, problem["code"]) == (429, "sender_share_exceeded")
