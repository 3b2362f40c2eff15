"""The SDK's send when an answer is lost: it posts the very same envelope again, and the
server's idempotency answers the repeat like the first, so the message is queued once."""

from __future__ import annotations

from aiohttp.test_utils import TestClient
from aiohttp.web import Application, Request

from messaging.client import DeviceIdentity, LiaisonClient, ReceivedMessage
from tests.relay import cutting_proxy
from tests.support import World


async def test_a_send_whose_answer_is_lost_is_posted_again_and_queued_once(
    world: World, client: TestClient[Request, Application]
) -> None:
    alice, bob = await world.professional(), await world.professional()
    base_url = str(client.make_url(""))
    cuts = {"up": 0, "down": 0}
    async with cutting_proxy(base_url, cuts) as via:
        identity = DeviceIdentity(via, alice.principal, alice.device_id, alice.keys)
        async with LiaisonClient(via, identity) as sender:
            # Logged in and the recipient's keys known: the next answer is the 202's.
            first = await sender.send([bob.principal], "Bilan", "premier")
            cuts["down"] = 1
            second = await sender.send([bob.principal], "Bilan", "second")
    assert cuts["down"] == 0  # the first post of "second" lost its answer whole
    bob_identity = DeviceIdentity(base_url, bob.principal, bob.device_id, bob.keys)
    reader = LiaisonClient(base_url, bob_identity, session=client.session)
    received = [e for e in (await reader.fetch()).events if isinstance(e, ReceivedMessage)]
    assert [(m.id, m.body) for m in received] == [(first.id, "premier"), (second.id, "second")]
