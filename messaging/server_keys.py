"""The server's own secrets: its Ed25519 sign key, the dossier store's X25519 key and the
operator token. Taken from the settings when given, else generated once into the data
directory with mode 0600 and read back by every later start (and every worker process)."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass

from messaging import crypto
from messaging.private_files import create_private
from messaging.settings import Settings

KEYS_FILE = "server-keys.json"
ADMIN_TOKEN_FILE = "admin-token"  # noqa: S105 (a file name)


@dataclass(frozen=True, slots=True)
class ServerSecrets:
    sign: crypto.SigningKey
    dossier: crypto.BoxKey
    admin_token: str
    admin_token_created: bool = False
    """True when this call generated the operator token: the CLI says where it is."""

    @property
    def cursor_key(self) -> bytes:
        """Key of the cursor seals, derived so that every process of a deployment agrees."""
        return crypto.keyed_hash(self.sign.seed, b"liaison/v1/cursor")


def load_or_create(settings: Settings) -> ServerSecrets:
    # Created for its owner only; a directory given by the operator keeps its mode.
    settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    keys_path = settings.data_dir / KEYS_FILE
    generated = {
        "sign_seed": crypto.b64u_encode(crypto.SigningKey.generate().seed),
        "dossier_secret": crypto.b64u_encode(crypto.BoxKey.generate().secret),
    }
    if settings.server_sign_seed is None or settings.dossier_box_secret is None:
        create_private(keys_path, json.dumps(generated))
        stored = json.loads(keys_path.read_text(encoding="utf-8"))
    else:
        stored = generated
    sign_seed = (
        settings.server_sign_seed.get_secret_value()
        if settings.server_sign_seed
        else stored["sign_seed"]
    )
    dossier_secret = (
        settings.dossier_box_secret.get_secret_value()
        if settings.dossier_box_secret
        else stored["dossier_secret"]
    )

    created = False
    if settings.admin_token is not None:
        admin_token = settings.admin_token.get_secret_value()
    else:
        token_path = settings.data_dir / ADMIN_TOKEN_FILE
        created = create_private(token_path, secrets.token_urlsafe(32))
        admin_token = token_path.read_text(encoding="utf-8").strip()
    return ServerSecrets(
        sign=crypto.SigningKey(crypto.b64u_decode(sign_seed)),
        dossier=crypto.BoxKey(crypto.b64u_decode(dossier_secret)),
        admin_token=admin_token,
        admin_token_created=created,
    )
