"""The SDK's exceptions: one root, ``SdkError``, with a stable ``code`` and a ``detail``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError


class SdkError(Exception):
    """Root of every error the SDK raises; ``code`` is stable, ``detail`` is for people."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


class ApiError(SdkError):
    """The server answered with a problem document (or at least an error status)."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        problem: Mapping[str, Any],
        retry_after: float | None = None,
    ) -> None:
        super().__init__(code, detail)
        self.status = status
        self.problem = dict(problem)
        self.retry_after = retry_after


class StaleDevicesError(ApiError):
    """409 ``stale_devices``: the key wraps did not match the recipients' active devices."""

    @property
    def missing(self) -> list[str]:
        """Recipient devices the envelope had no key for."""
        return [str(d) for d in self.problem.get("missing", [])]

    @property
    def extra(self) -> list[str]:
        """Devices the envelope had a key for that are no longer active."""
        return [str(d) for d in self.problem.get("extra", [])]


class ServerUnreachable(SdkError):
    """No HTTP answer at all: connection refused, reset or timed out."""


class VerificationError(SdkError):
    """Something the server relayed does not verify (a key binding, a signature, a shape)."""


class UnreadableContent(VerificationError):
    """A message whose signature verified but whose content cannot be read: ``malformed_content``
    (the plaintext does not decode, parse or validate) or ``undecryptable`` (this device's key
    wrap or the ciphertext does not open). The sender really sent it: it can be acked."""


class IdentityFileError(SdkError):
    """The device key file is missing or unreadable."""


class StreamDisplaced(SdkError):
    """A newer WebSocket of this same device took over (close 4409): not retried on purpose."""


def validation_detail(exc: ValidationError) -> str:
    """The first problem pydantic found, as ``where: what``."""
    first = exc.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(part) for part in first["loc"]) or "value"
    return f"{where}: {first['msg']}"
