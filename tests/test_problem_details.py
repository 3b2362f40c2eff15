"""Problem details never repeat what the client sent (issue 10 item 6): a detail ends up in
logs, support tickets and screens, and an id, a cursor or a value may be a patient identifier,
a secret sent in the wrong field, or markup.

Measured before: ``"<script>…</script> is not a registered principal"``.
"""

from __future__ import annotations

from tests.support import World

MARKUP = "<script>alert(1)</script>"


async def test_refusals_name_the_problem_not_the_input(world: World) -> None:
    device = await world.professional()
    unknown = "rpps:99999999990"
    asked = {
        f"/v1/directory/{unknown}": unknown,
        f"/v1/messages?after={MARKUP}": MARKUP,
        f"/v1/messages?after=1-0.{MARKUP}": MARKUP,
        f"/v1/directory/{device.principal}/devices/dev_{'q' * 26}": f"dev_{'q' * 26}",
    }
    for path, sent in asked.items():
        response = await world.client.get(path, headers=device.headers)
        assert 400 <= response.status < 500, path
        assert sent not in await response.text(), path
    response = await world.client.delete(f"/v1/devices/dev_{'r' * 26}", headers=device.headers)
    assert response.status == 404
    assert f"dev_{'r' * 26}" not in await response.text()
