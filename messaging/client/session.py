"""A device's authenticated session: token on demand, and the verified directory.

Every directory entry is checked before use (each device's box key must be signed by its sign
key, and belong to the entry), and so is every signature the server relays: an envelope's
against its sender device's directory entry, a server event's against ``GET /v1/server``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import aiohttp

from messaging import crypto, models
from messaging.client.checkpoints import CheckpointStore
from messaging.client.content import MessageContent, SignedEnvelope, open_content
from messaging.client.errors import ApiError, UnreadableContent, VerificationError
from messaging.client.http import HttpClient, parse, url_path
from messaging.client.identity import DeviceIdentity
from messaging.timeutil import parse_utc

DIRECTORY_TTL: Final = 300.0
"""Seconds a verified directory entry is reused before it is fetched again."""


@dataclass(frozen=True, slots=True)
class _CachedEntry:
    entry: models.DirectoryEntry
    devices: dict[str, models.DeviceRecord]
    expires: float


class DeviceSession(HttpClient):
    """Authentication and the directory for one enrolled device."""

    def __init__(
        self,
        base_url: str,
        identity: DeviceIdentity,
        *,
        session: aiohttp.ClientSession | None = None,
        checkpoints: CheckpointStore | None = None,
    ) -> None:
        super().__init__(base_url, session)
        self.identity = identity
        self.checkpoints = checkpoints or CheckpointStore()
        """The access-log checkpoints this device keeps (in memory unless given a file)."""
        self._token: str | None = None
        self._token_renew_at = 0.0
        self._login_lock = asyncio.Lock()
        self._server_info: models.ServerInfo | None = None
        self._entries: dict[str, _CachedEntry] = {}

    # authentication

    async def login(self) -> None:
        """Trade a signed challenge for a bearer token (done on demand by every other call)."""
        async with self._login_lock:
            await self._login()

    async def _login(self) -> str:
        device = self.identity.device_id
        challenge = parse(
            models.ChallengeResponse,
            await self._request("POST", "/v1/auth/challenge", body={"device": device}),
        )
        signature = self.identity.keys.auth_signature(crypto.b64u_decode(challenge.challenge))
        answer = parse(
            models.TokenResponse,
            await self._request(
                "POST",
                "/v1/auth/token",
                body={
                    "device": device,
                    "challenge": challenge.challenge,
                    "signature": crypto.b64u_encode(signature),
                },
            ),
        )
        if answer.principal != self.identity.principal:
            raise VerificationError(
                "principal_mismatch", f"the token is for {answer.principal}, not this device's"
            )
        self._token = answer.token
        # Renew ahead of expiry, so that a request never starts with a token about to lapse.
        margin = min(60.0, answer.expires_in * 0.1)
        self._token_renew_at = time.monotonic() + answer.expires_in - margin
        return answer.token

    async def _bearer(self) -> str:
        async with self._login_lock:
            if self._token is None or time.monotonic() >= self._token_renew_at:
                return await self._login()
            return self._token

    async def _relogin(self, rejected: str) -> None:
        async with self._login_lock:
            if self._token == rejected:
                await self._login()

    async def _authed(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> Any:
        token = await self._bearer()
        try:
            return await self._request(method, path, token=token, body=body, params=params)
        except ApiError as exc:
            if exc.status != 401 or exc.code != "invalid_token":
                raise
        await self._relogin(token)
        return await self._request(
            method, path, token=await self._bearer(), body=body, params=params
        )

    # directory

    async def server_info(self) -> models.ServerInfo:
        """The server's version and public keys (``GET /v1/server``), fetched once."""
        if self._server_info is None:
            self._server_info = parse(models.ServerInfo, await self._request("GET", "/v1/server"))
        return self._server_info

    async def directory(self, principal: str, *, refresh: bool = False) -> models.DirectoryEntry:
        """A principal's entry, with every device's box-key binding verified (cached 5 min)."""
        return (await self._cached_entry(principal, refresh)).entry

    async def _cached_entry(self, principal: str, refresh: bool) -> _CachedEntry:
        cached = self._entries.get(principal)
        if cached is not None and not refresh and time.monotonic() < cached.expires:
            return cached
        entry = parse(
            models.DirectoryEntry, await self._authed("GET", url_path("v1", "directory", principal))
        )
        if entry.id != principal:
            raise VerificationError("bad_response", f"asked for {principal}, got {entry.id}")
        _check_entry(entry)
        cached = _CachedEntry(
            entry, {d.id: d for d in entry.devices}, time.monotonic() + DIRECTORY_TTL
        )
        self._entries[principal] = cached
        return cached

    async def search(
        self, q: str = "", *, profession: str | None = None, limit: int = 20
    ) -> list[models.PrincipalSummary]:
        """Professionals, organisations and applications whose name words start with the words
        of ``q``, of ``profession`` if given."""
        params = {"q": q, "limit": str(limit)}
        if profession is not None:
            params["profession"] = profession
        answer = await self._authed("GET", "/v1/directory", params=params)
        return parse(models.DirectorySearchResponse, answer).principals

    # verification

    async def _open_signed(
        self, raw: Mapping[str, Any], envelope: SignedEnvelope, wrap: str, accepted_at: str
    ) -> MessageContent:
        """Check ``raw`` (the envelope as relayed, parsed as ``envelope``) against its sender
        device's directory entry, then open this device's key ``wrap`` and decrypt: past the
        signature, a failure is ``UnreadableContent``.
        ``accepted_at`` is when the server took the envelope in: a device revoked since still
        vouches for what it signed before."""
        device = await self._sender_device(envelope.sender, envelope.sender_device, accepted_at)
        try:
            crypto.verify_envelope(raw, crypto.b64u_decode(device.sign_key))
        except crypto.CryptoError as exc:
            raise VerificationError(
                "bad_signature", f"message {envelope.id} is not signed by {device.id}"
            ) from exc
        try:
            return open_content(raw, crypto.b64u_decode(wrap), self.identity.keys.box)
        except crypto.CryptoError as exc:
            raise UnreadableContent(
                "undecryptable", f"message {envelope.id} does not open: {exc}"
            ) from exc

    async def _sender_device(
        self, sender: str, device_id: str, accepted_at: str
    ) -> models.DeviceRecord:
        for refresh in (False, True):
            try:
                cached = await self._cached_entry(sender, refresh)
            except ApiError as exc:
                if exc.status == 404:
                    raise VerificationError("unknown_sender", f"{sender} is not known") from exc
                raise
            device = cached.devices.get(device_id)
            if device is not None:
                return device
        try:
            past = parse(
                models.DeviceHistory,
                await self._authed(
                    "GET", url_path("v1", "directory", sender, "devices", device_id)
                ),
            )
        except ApiError as exc:
            if exc.status != 404:
                raise
        else:
            # Only its signing key is used, and only for what the server took in before the
            # revocation: a revoked device can no longer send.
            revoked = past.revoked_at
            if past.owner == sender and revoked and parse_utc(accepted_at) <= parse_utc(revoked):
                return past
        raise VerificationError(
            "unknown_sender_device", f"{device_id} is not an active device of {sender}"
        )

    async def server_key(self) -> bytes:
        """The server's Ed25519 public key: it signs events and log checkpoints."""
        return crypto.b64u_decode((await self.server_info()).sign_key)

    async def _verify_server_signature(self, body: Any, signature: str) -> None:
        server_key = await self.server_key()
        try:
            crypto.verify_server_event(body, signature, server_key)
        except crypto.CryptoError as exc:
            raise VerificationError(
                "bad_server_signature", "the event is not signed by the server"
            ) from exc


def _check_entry(entry: models.DirectoryEntry) -> None:
    """Every device must have its box key signed by its sign key, and belong to the entry
    (to a member, for an organisation): a bad binding is an error, never skipped."""
    for device in entry.devices:
        try:
            crypto.verify_box_key_binding(
                crypto.b64u_decode(device.sign_key),
                crypto.b64u_decode(device.box_key),
                crypto.b64u_decode(device.box_key_signature),
            )
        except crypto.CryptoError as exc:
            raise VerificationError(
                "bad_box_key_binding",
                f"the box key of {device.id} ({entry.id}) is not signed by its sign key",
            ) from exc
        if entry.kind == "organisation":
            owned = entry.members is None or device.owner in entry.members
        else:
            owned = device.owner == entry.id
        if not owned:
            raise VerificationError(
                "foreign_device", f"{device.id} belongs to {device.owner}, not to {entry.id}"
            )
