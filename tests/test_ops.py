"""Operations endpoints and the server's own secrets."""

from __future__ import annotations

import stat
from pathlib import Path

from pydantic import SecretStr

from messaging import crypto
from messaging.server_keys import ADMIN_TOKEN_FILE, KEYS_FILE, load_or_create
from messaging.settings import Settings
from tests.support import World


async def test_health_and_readiness(world: World) -> None:
    health = await world.client.get("/healthz")
    ready = await world.client.get("/readyz")
    assert (health.status, await health.json()) == (200, {"status": "ok"})
    assert (ready.status, await ready.json()) == (200, {"status": "ready"})


async def test_metrics_count_responses_by_route(world: World) -> None:
    await world.client.get("/healthz")
    await world.client.get("/v1/messages")  # 401
    text = await (await world.client.get("/metrics")).text()
    assert 'liaison_http_responses_total{route="/healthz",status="200"} 1' in text
    assert 'liaison_http_responses_total{route="/v1/messages",status="401"} 1' in text
    assert "liaison_websockets 0" in text


async def test_server_info_publishes_the_keys_of_the_data_directory(
    world: World, settings: Settings
) -> None:
    info = await (await world.client.get("/v1/server")).json()
    secrets = load_or_create(settings)
    assert crypto.b64u_decode(info["sign_key"]) == secrets.sign.public
    assert crypto.b64u_decode(info["dossier_key"]) == secrets.dossier.public


def test_secrets_are_generated_once_into_private_files(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    first = load_or_create(settings)
    again = load_or_create(settings)
    assert first.admin_token_created
    assert not again.admin_token_created
    assert (again.sign.seed, again.dossier.secret, again.admin_token) == (
        first.sign.seed,
        first.dossier.secret,
        first.admin_token,
    )
    for name in (KEYS_FILE, ADMIN_TOKEN_FILE):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600


def test_configured_secrets_win_over_the_data_directory(tmp_path: Path) -> None:
    seed = crypto.SigningKey.generate().seed
    settings = Settings(
        data_dir=tmp_path,
        admin_token=SecretStr("configured"),
        server_sign_seed=SecretStr(crypto.b64u_encode(seed)),
        dossier_box_secret=SecretStr(crypto.b64u_encode(crypto.BoxKey.generate().secret)),
    )
    secrets = load_or_create(settings)
    assert secrets.admin_token == "configured"
    assert secrets.sign.seed == seed
    assert not (tmp_path / ADMIN_TOKEN_FILE).exists()
