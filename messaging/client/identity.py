"""An enrolled device's identity and its key file (mode 0600, replaced atomically)."""

from __future__ import annotations

import contextlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import ValidationError

from messaging import crypto, models, wire_types
from messaging.client.errors import IdentityFileError


class _IdentityFile(models.WireModel):
    version: Literal[1]
    server_url: str
    principal: wire_types.PrincipalId
    device_id: wire_types.DeviceId
    sign_seed: wire_types.Key32
    box_secret: wire_types.Key32


def write_private(target: Path, text: str) -> None:
    """Replace ``target`` atomically with ``text``, readable by its owner only (0600)."""
    temporary = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            os.fchmod(handle.fileno(), 0o600)
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        raise
    os.chmod(target, 0o600)


@dataclass(frozen=True, slots=True)
class DeviceIdentity:
    """An enrolled device: where it is enrolled, as whom, and its two secret key pairs."""

    server_url: str
    principal: str
    device_id: str
    keys: crypto.DeviceKeys

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the key file readable by its owner only (0600), replacing it atomically."""
        target = Path(path).expanduser()
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        document = _IdentityFile(
            version=1,
            server_url=self.server_url,
            principal=self.principal,
            device_id=self.device_id,
            sign_seed=crypto.b64u_encode(self.keys.sign.seed),
            box_secret=crypto.b64u_encode(self.keys.box.secret),
        )
        write_private(target, document.model_dump_json(indent=2) + "\n")

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> DeviceIdentity:
        """The identity saved in the key file at ``path`` (``IdentityFileError`` if unusable)."""
        source = Path(path).expanduser()
        try:
            text = source.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise IdentityFileError(
                "no_key_file", f"no key file at {source}; enroll this device first"
            ) from None
        except OSError as exc:
            raise IdentityFileError("bad_key_file", f"cannot read {source}: {exc}") from None
        try:
            document = _IdentityFile.model_validate_json(text)
            keys = crypto.DeviceKeys(
                crypto.SigningKey(crypto.b64u_decode(document.sign_seed)),
                crypto.BoxKey(crypto.b64u_decode(document.box_secret)),
            )
        except (ValidationError, crypto.CryptoError) as exc:
            raise IdentityFileError("bad_key_file", f"{source} is not a Liaison key file") from exc
        return cls(document.server_url, document.principal, document.device_id, keys)
