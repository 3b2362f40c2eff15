"""The Liaison SDK: enroll a device, send end-to-end encrypted messages, receive verified events.

Everything the server relays is checked here before the caller sees it: directory entries (each
device's box key must be signed by its sign key), envelopes (signed by the sender's device,
content opened with this device's box key) and server events (signed by the server key).

An event that fails a check is handed to the caller as an ``InvalidEvent`` instead of being
raised or dropped: the other events of the batch stay usable, and since it is *not* acked by the
SDK, the caller decides whether to ack it (discard) or leave it queued for inspection.

Duplicates (DESIGN §6, at-least-once delivery) are dropped by ``(sender, message id)`` among the
messages this client has already acked; they are acked again, never shown twice. A message that
was handed over but not acked is shown again, because the caller never confirmed it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Literal, NamedTuple, Self, TypeVar
from urllib.parse import quote

import aiohttp
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from messaging import crypto, models
from messaging.timeutil import now_ms, rfc3339

log = logging.getLogger(__name__)

DOSSIER_KEY: Final = "dossier"
CLOSE_AUTH_FAILED: Final = 4401
CLOSE_DISPLACED: Final = 4409
ACK_BATCH: Final = 500
SEEN_LIMIT: Final = 10_000
DIRECTORY_TTL: Final = 300.0
TRANSIENT_STATUSES: Final = frozenset({429, 502, 503, 504})

M = TypeVar("M", bound=BaseModel)


# --- errors -----------------------------------------------------------------------------------


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
        return [str(d) for d in self.problem.get("missing", [])]

    @property
    def extra(self) -> list[str]:
        return [str(d) for d in self.problem.get("extra", [])]


class ServerUnreachable(SdkError):
    """No HTTP answer at all: connection refused, reset or timed out."""


class VerificationError(SdkError):
    """Something the server relayed does not verify (a key binding, a signature, a shape)."""


class IdentityFileError(SdkError):
    """The device key file is missing or unreadable."""


class StreamDisplaced(SdkError):
    """A newer WebSocket of this same device took over (close 4409): not retried on purpose."""


# --- identity ---------------------------------------------------------------------------------


class _IdentityFile(models.WireModel):
    version: Literal[1]
    server_url: str
    principal: models.PrincipalId
    device_id: models.DeviceId
    sign_seed: models.Key32
    box_secret: models.Key32


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
        temporary = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                os.fchmod(handle.fileno(), 0o600)
                handle.write(document.model_dump_json(indent=2) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                temporary.unlink()
            raise
        os.chmod(target, 0o600)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> DeviceIdentity:
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


# --- content and envelopes --------------------------------------------------------------------


class Attachment(NamedTuple):
    name: str
    media_type: str
    data: bytes


class _AttachmentWire(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    name: str
    media_type: str
    data: models.B64u


class _ContentWire(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    subject: str
    body: str
    attachments: list[_AttachmentWire] = Field(default_factory=list)
    in_reply_to: str | None = None


@dataclass(frozen=True, slots=True)
class MessageContent:
    """The plaintext of a message (DESIGN §5): only the sender and the recipients read it."""

    subject: str
    body: str
    attachments: tuple[Attachment, ...] = ()
    in_reply_to: str | None = None

    def plaintext(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "subject": self.subject,
            "body": self.body,
            "attachments": [
                {"name": a.name, "media_type": a.media_type, "data": crypto.b64u_encode(a.data)}
                for a in self.attachments
            ],
        }
        if self.in_reply_to is not None:
            document["in_reply_to"] = self.in_reply_to
        return document

    @classmethod
    def from_plaintext(cls, plaintext: Mapping[str, Any]) -> MessageContent:
        wire = _ContentWire.model_validate(plaintext)
        attachments = tuple(
            Attachment(a.name, a.media_type, crypto.b64u_decode(a.data)) for a in wire.attachments
        )
        return cls(wire.subject, wire.body, attachments, wire.in_reply_to)


class _SignedEnvelope(models.WireModel):
    """An envelope as a recipient gets it: without ``keys`` (DESIGN §5)."""

    v: Literal[1]
    id: models.MessageId
    sender: models.PrincipalId
    sender_device: models.DeviceId
    recipients: list[models.PrincipalId] = Field(min_length=1, max_length=100)
    created_at: models.Timestamp
    dossier: models.DossierHeader | None = None
    nonce: models.Nonce
    ciphertext: models.B64u
    signature: models.Signature


def build_envelope(
    *,
    message_id: str,
    sender: str,
    sender_device: str,
    sign_key: crypto.SigningKey,
    recipients: Sequence[str],
    created_at: str,
    content: MessageContent,
    box_keys: Mapping[str, bytes],
    dossier: models.DossierHeader | None = None,
    dossier_key: bytes | None = None,
) -> dict[str, Any]:
    """Encrypt ``content`` under a fresh content key, wrap that key for every device of
    ``box_keys`` (device id -> X25519 public key) and for the dossier store, and sign."""
    if (dossier is None) != (dossier_key is None):
        raise ValueError("a dossier header needs the dossier key, and only then")
    content_key = crypto.random_bytes(crypto.KEY_BYTES)
    sealed = crypto.encrypt_content(
        content.plaintext(), message_id, content_key, crypto.random_bytes(crypto.NONCE_BYTES)
    )
    envelope: dict[str, Any] = {
        "v": 1,
        "id": message_id,
        "sender": sender,
        "sender_device": sender_device,
        "recipients": list(recipients),
        "created_at": created_at,
        "dossier": None if dossier is None else dossier.model_dump(exclude_none=True),
        "nonce": crypto.b64u_encode(sealed.nonce),
        "ciphertext": crypto.b64u_encode(sealed.ciphertext),
    }
    keys = {
        device: crypto.b64u_encode(crypto.seal(content_key, box_key))
        for device, box_key in box_keys.items()
    }
    if dossier_key is not None:
        keys[DOSSIER_KEY] = crypto.b64u_encode(crypto.seal(content_key, dossier_key))
    envelope["signature"] = crypto.sign_envelope(envelope, sign_key)
    envelope["keys"] = keys
    return envelope


def open_content(envelope: Mapping[str, Any], wrap: bytes, box: crypto.BoxKey) -> MessageContent:
    """Open this device's key ``wrap`` and decrypt the envelope's content. The signature is
    not checked here: do it first with ``crypto.verify_envelope``. Raises ``crypto.CryptoError``
    or ``VerificationError``."""
    content_key = box.open(wrap)
    plaintext = crypto.decrypt_content(
        crypto.b64u_decode(str(envelope["ciphertext"])),
        str(envelope["id"]),
        content_key,
        crypto.b64u_decode(str(envelope["nonce"])),
    )
    try:
        return MessageContent.from_plaintext(plaintext)
    except ValidationError as exc:
        raise VerificationError("malformed_content", _validation_detail(exc)) from exc


# --- results ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SendResult:
    id: str
    accepted_at: str
    dossier: models.DossierOutcome | None

    def as_dict(self) -> dict[str, Any]:
        outcome = None if self.dossier is None else self.dossier.model_dump(exclude_none=True)
        return {"id": self.id, "accepted_at": self.accepted_at, "dossier": outcome}


@dataclass(frozen=True, slots=True)
class ReceivedMessage:
    cursor: str
    id: str
    sender: str
    sender_device: str
    recipients: tuple[str, ...]
    created_at: str
    received_at: str
    subject: str
    body: str
    attachments: tuple[Attachment, ...]
    in_reply_to: str | None
    dossier: models.DossierHeader | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "type": "message",
            "cursor": self.cursor,
            "id": self.id,
            "sender": self.sender,
            "sender_device": self.sender_device,
            "recipients": list(self.recipients),
            "created_at": self.created_at,
            "received_at": self.received_at,
            "subject": self.subject,
            "body": self.body,
            "attachments": [
                {"name": a.name, "media_type": a.media_type, "data": crypto.b64u_encode(a.data)}
                for a in self.attachments
            ],
            "in_reply_to": self.in_reply_to,
            "dossier": None if self.dossier is None else self.dossier.model_dump(exclude_none=True),
        }


@dataclass(frozen=True, slots=True)
class ReceivedReceipt:
    cursor: str
    message_id: str
    recipient: str
    device: str
    status: str
    at: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "type": "receipt",
            "cursor": self.cursor,
            "message_id": self.message_id,
            "recipient": self.recipient,
            "device": self.device,
            "status": self.status,
            "at": self.at,
        }


@dataclass(frozen=True, slots=True)
class ReceivedNotification:
    cursor: str
    event: str
    notification: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"type": "notification", "cursor": self.cursor, "notification": self.notification}


@dataclass(frozen=True, slots=True)
class InvalidEvent:
    """An event that failed verification. Not acked by the SDK: the caller decides."""

    cursor: str | None
    event_type: str | None
    code: str
    detail: str
    raw: dict[str, Any] = field(repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "type": "invalid",
            "cursor": self.cursor,
            "event_type": self.event_type,
            "code": self.code,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class BacklogDrained:
    """Stream marker: every event queued before the connection has been delivered."""

    def as_dict(self) -> dict[str, Any]:
        return {"type": "queue_empty"}


ReceivedEvent = ReceivedMessage | ReceivedReceipt | ReceivedNotification | InvalidEvent
StreamItem = ReceivedEvent | BacklogDrained


@dataclass(frozen=True, slots=True)
class FetchResult:
    events: list[ReceivedEvent]
    next: str | None
    """Pass as ``after`` to read on: may be past the last event (skipped entries)."""


@dataclass(frozen=True, slots=True)
class _Duplicate:
    cursor: str


@dataclass(frozen=True, slots=True)
class _CachedEntry:
    entry: models.DirectoryEntry
    devices: dict[str, models.DeviceRecord]
    expires: float


# --- HTTP -------------------------------------------------------------------------------------


def _validation_detail(exc: ValidationError) -> str:
    first = exc.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(part) for part in first["loc"]) or "value"
    return f"{where}: {first['msg']}"


def _parse(model: type[M], data: Any) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise SdkError(
            "bad_response", f"unexpected {model.__name__}: {_validation_detail(exc)}"
        ) from exc


def _retry_after(value: str | None) -> float | None:
    try:
        return None if value is None else float(value)
    except ValueError:
        return None


async def _api_error(response: aiohttp.ClientResponse) -> ApiError:
    problem: Any = None
    with contextlib.suppress(ValueError, aiohttp.ClientError):
        problem = json.loads(await response.text())
    if not isinstance(problem, dict):
        problem = {}
    code = problem.get("code")
    detail = problem.get("detail")
    error_class = StaleDevicesError if code == "stale_devices" else ApiError
    return error_class(
        response.status,
        code if isinstance(code, str) else f"http_{response.status}",
        detail if isinstance(detail, str) else (response.reason or "error"),
        problem,
        _retry_after(response.headers.get("Retry-After")),
    )


def _path(*parts: str) -> str:
    return "/" + "/".join(quote(part, safe=":") for part in parts)


class _HttpClient:
    """An aiohttp session (the caller's, or one owned and closed here) and JSON requests."""

    def __init__(self, base_url: str, session: aiohttp.ClientSession | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._session = session
        self._owns_session = session is None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            # No total timeout: a long poll waits up to 30 s and a large envelope takes its time.
            timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=75)
            self._session = aiohttp.ClientSession(timeout=timeout)
        return self._session

    async def _request(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> Any:
        headers = {"Accept": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        url = self.base_url + path
        try:
            async with self._http().request(
                method, url, json=body, params=params, headers=headers
            ) as response:
                if response.status >= 400:
                    raise await _api_error(response)
                if response.status == 204:
                    return None
                text = await response.text()
        except aiohttp.InvalidURL as exc:
            raise SdkError("invalid_url", f"not a usable server URL: {self.base_url}") from exc
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise ServerUnreachable(
                "server_unreachable", f"{method} {url}: {exc or type(exc).__name__}"
            ) from exc
        try:
            return json.loads(text) if text else None
        except ValueError as exc:
            raise SdkError("bad_response", f"{method} {path} did not answer JSON") from exc


# --- operator ---------------------------------------------------------------------------------


class AdminClient(_HttpClient):
    """The registration authority's calls, with the operator token."""

    def __init__(
        self, base_url: str, admin_token: str, *, session: aiohttp.ClientSession | None = None
    ) -> None:
        super().__init__(base_url, session)
        self._admin_token = admin_token

    async def create_principal(
        self,
        principal: str,
        kind: str,
        display_name: str,
        *,
        profession: str | None = None,
        roles: Sequence[str] = (),
        members: Sequence[str] | None = None,
    ) -> models.PrincipalSummary:
        try:
            request = models.CreatePrincipalRequest.model_validate(
                {
                    "id": principal,
                    "kind": kind,
                    "display_name": display_name,
                    "profession": profession,
                    "roles": list(roles),
                    "members": None if members is None else list(members),
                }
            )
        except ValidationError as exc:
            raise SdkError("invalid_request", _validation_detail(exc)) from exc
        answer = await self._request(
            "POST",
            "/v1/admin/principals",
            token=self._admin_token,
            body=request.model_dump(exclude_none=True),
        )
        if not isinstance(answer, dict):
            raise SdkError("bad_response", "the created principal is not a JSON object")
        summary_fields = models.PrincipalSummary.model_fields
        return _parse(
            models.PrincipalSummary, {k: v for k, v in answer.items() if k in summary_fields}
        )

    async def enrollment_code(self, principal: str) -> models.EnrollmentCodeResponse:
        answer = await self._request(
            "POST",
            _path("v1", "admin", "principals", principal, "enrollment-codes"),
            token=self._admin_token,
        )
        return _parse(models.EnrollmentCodeResponse, answer)


async def enroll(
    base_url: str,
    principal: str,
    code: str,
    name: str,
    *,
    session: aiohttp.ClientSession | None = None,
) -> DeviceIdentity:
    """Generate this device's key pairs and enroll them with a one-time code."""
    keys = crypto.DeviceKeys.generate()
    body = {
        "principal": principal,
        "enrollment_code": code,
        "name": name,
        "sign_key": crypto.b64u_encode(keys.sign.public),
        "box_key": crypto.b64u_encode(keys.box.public),
        "box_key_signature": crypto.b64u_encode(keys.box_key_signature()),
        "proof": crypto.b64u_encode(keys.enrollment_proof(code)),
    }
    async with _HttpClient(base_url, session) as http:
        answer = _parse(
            models.EnrolledDeviceResponse, await http._request("POST", "/v1/devices", body=body)
        )
    if answer.principal != principal:
        raise VerificationError("principal_mismatch", f"enrolled for {answer.principal}")
    return DeviceIdentity(base_url.rstrip("/"), principal, answer.device, keys)


# --- device -----------------------------------------------------------------------------------


class LiaisonClient(_HttpClient):
    """One enrolled device talking to one server. Not shared between event loops; at most one
    ``stream()`` at a time (the server keeps one socket per device anyway)."""

    def __init__(
        self,
        base_url: str,
        identity: DeviceIdentity,
        *,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        super().__init__(base_url, session)
        self.identity = identity
        self._token: str | None = None
        self._token_renew_at = 0.0
        self._login_lock = asyncio.Lock()
        self._server_info: models.ServerInfo | None = None
        self._entries: dict[str, _CachedEntry] = {}
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._unacked: OrderedDict[str, str] = OrderedDict()
        self._ws: aiohttp.ClientWebSocketResponse | None = None

    # authentication

    async def login(self) -> None:
        """Trade a signed challenge for a bearer token (done on demand by every other call)."""
        async with self._login_lock:
            await self._login()

    async def _login(self) -> None:
        device = self.identity.device_id
        challenge = _parse(
            models.ChallengeResponse,
            await self._request("POST", "/v1/auth/challenge", body={"device": device}),
        )
        signature = self.identity.keys.auth_signature(crypto.b64u_decode(challenge.challenge))
        answer = _parse(
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

    async def _bearer(self) -> str:
        async with self._login_lock:
            if self._token is None or time.monotonic() >= self._token_renew_at:
                await self._login()
            assert self._token is not None
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
        if self._server_info is None:
            self._server_info = _parse(models.ServerInfo, await self._request("GET", "/v1/server"))
        return self._server_info

    async def directory(self, principal: str, *, refresh: bool = False) -> models.DirectoryEntry:
        """A principal's entry, with every device's box-key binding verified (cached 5 min)."""
        return (await self._cached_entry(principal, refresh)).entry

    async def _cached_entry(self, principal: str, refresh: bool) -> _CachedEntry:
        cached = self._entries.get(principal)
        if cached is not None and not refresh and time.monotonic() < cached.expires:
            return cached
        entry = _parse(
            models.DirectoryEntry, await self._authed("GET", _path("v1", "directory", principal))
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
        params = {"q": q, "limit": str(limit)}
        if profession is not None:
            params["profession"] = profession
        answer = await self._authed("GET", "/v1/directory", params=params)
        return _parse(models.DirectorySearchResponse, answer).principals

    # devices

    async def list_devices(self) -> list[models.OwnDevice]:
        return _parse(models.OwnDevicesResponse, await self._authed("GET", "/v1/devices")).devices

    async def delete_device(self, device_id: str) -> None:
        await self._authed("DELETE", _path("v1", "devices", device_id))
        self._entries.pop(self.identity.principal, None)

    async def link_code(self) -> models.EnrollmentCodeResponse:
        """A one-time code to enroll another device of this principal."""
        answer = await self._authed("POST", "/v1/devices/enrollment-codes")
        return _parse(models.EnrollmentCodeResponse, answer)

    # sending

    async def send(
        self,
        recipients: Sequence[str],
        subject: str,
        body: str,
        attachments: Sequence[Attachment | tuple[str, str, bytes]] = (),
        *,
        in_reply_to: str | None = None,
        dossier: models.DossierHeader | None = None,
        copy_to_own_devices: bool = True,
        message_id: str | None = None,
    ) -> SendResult:
        """Encrypt and send one message; retried once, same id, if the devices were stale."""
        targets = list(dict.fromkeys(recipients))
        content = MessageContent(
            subject, body, tuple(Attachment(*a) for a in attachments), in_reply_to
        )
        message_id = message_id or str(uuid.uuid4())
        created_at = rfc3339(now_ms())
        dossier_key = None
        if dossier is not None:
            dossier_key = crypto.b64u_decode((await self.server_info()).dossier_key)

        async def attempt(refresh: bool) -> SendResult:
            envelope = build_envelope(
                message_id=message_id,
                sender=self.identity.principal,
                sender_device=self.identity.device_id,
                sign_key=self.identity.keys.sign,
                recipients=targets,
                created_at=created_at,
                content=content,
                box_keys=await self._box_keys(
                    targets, copy_to_own_devices, refresh=refresh, dossier=dossier is not None
                ),
                dossier=dossier,
                dossier_key=dossier_key,
            )
            accepted = _parse(
                models.AcceptedResponse, await self._authed("POST", "/v1/messages", body=envelope)
            )
            return SendResult(accepted.id, accepted.accepted_at, accepted.dossier)

        try:
            return await attempt(refresh=False)
        except StaleDevicesError as exc:
            log.info("stale devices (missing %s, extra %s): refreshing", exc.missing, exc.extra)
            # Nothing was accepted: a new envelope (new content key) under the same id is fine.
            return await attempt(refresh=True)

    async def _box_keys(
        self, recipients: Sequence[str], copy_to_own_devices: bool, *, refresh: bool, dossier: bool
    ) -> dict[str, bytes]:
        me = self.identity.principal
        copies = copy_to_own_devices and me not in recipients
        wanted = [*recipients, me] if copies else list(recipients)
        entries = await asyncio.gather(*(self._cached_entry(p, refresh) for p in wanted))
        box_keys: dict[str, bytes] = {}
        for cached in entries[: len(recipients)]:
            for device in cached.entry.devices:
                box_keys[device.id] = crypto.b64u_decode(device.box_key)
        if not box_keys and not dossier:
            raise SdkError("no_recipient_devices", "no recipient has an active device")
        if copies:
            for device in entries[-1].entry.devices:
                if device.id != self.identity.device_id:
                    box_keys[device.id] = crypto.b64u_decode(device.box_key)
        return box_keys

    # receiving

    async def fetch(
        self, after: str | None = None, limit: int = 100, wait: float = 0
    ) -> FetchResult:
        """Read (and verify) up to ``limit`` events after ``after``, waiting up to ``wait``
        seconds for one to arrive. Nothing is acked: call ``ack`` with the cursors handled."""
        params = {"limit": str(limit), "wait": f"{wait:g}"}
        if after is not None:
            params["after"] = after
        answer = await self._authed("GET", "/v1/messages", params=params)
        if not isinstance(answer, dict) or not isinstance(answer.get("events"), list):
            raise SdkError("bad_response", "the events answer is not {events, next}")
        events: list[ReceivedEvent] = []
        duplicates: list[str] = []
        for raw in answer["events"]:
            event = await self._verify_event(raw)
            if isinstance(event, _Duplicate):
                duplicates.append(event.cursor)
            else:
                events.append(event)
        if duplicates:
            await self.ack(duplicates)
        following = answer.get("next")
        return FetchResult(events, following if isinstance(following, str) else None)

    async def ack(self, cursors: Iterable[str]) -> None:
        """Delete handled events from this device's queue (over the stream when one is open)."""
        batch = list(dict.fromkeys(cursors))
        for start in range(0, len(batch), ACK_BATCH):
            chunk = batch[start : start + ACK_BATCH]
            if not await self._ack_over_socket(chunk):
                await self._authed("POST", "/v1/messages/ack", body={"cursors": chunk})
        for cursor in batch:
            message = self._unacked.pop(cursor, None)
            if message is not None:
                self._seen[message] = None
                self._seen.move_to_end(message)
                while len(self._seen) > SEEN_LIMIT:
                    self._seen.popitem(last=False)

    async def _ack_over_socket(self, cursors: list[str]) -> bool:
        ws = self._ws
        if ws is None or ws.closed:
            return False
        try:
            await ws.send_str(json.dumps({"type": "ack", "cursors": cursors}))
        except (aiohttp.ClientError, ConnectionError):
            return False
        return True

    async def stream(self, *, max_backoff: float = 30.0) -> AsyncIterator[StreamItem]:
        """Events over the WebSocket, forever: the backlog, a ``BacklogDrained`` marker, then
        live events. Reconnects with capped exponential backoff (unacked events come again);
        stops with ``StreamDisplaced`` when a newer socket of this device takes over."""
        delay = 0.5
        auth_failures = 0
        while True:
            close_code: int | None = None
            token = ""
            try:
                token = await self._bearer()
                async with self._http().ws_connect(
                    self.base_url + "/v1/stream",
                    headers={"Authorization": f"Bearer {token}"},
                    heartbeat=30.0,
                ) as ws:
                    self._ws = ws
                    try:
                        async for frame in ws:
                            if frame.type != aiohttp.WSMsgType.TEXT:
                                continue
                            delay, auth_failures = 0.5, 0
                            item = await self._stream_item(frame.data)
                            if item is not None:
                                yield item
                    finally:
                        self._ws = None
                    close_code = ws.close_code
            except aiohttp.WSServerHandshakeError as exc:
                if exc.status == 401:
                    close_code = CLOSE_AUTH_FAILED
                elif exc.status not in TRANSIENT_STATUSES:
                    raise ApiError(exc.status, f"http_{exc.status}", exc.message, {}) from exc
            except ApiError as exc:
                if exc.status not in TRANSIENT_STATUSES:
                    raise
            except (ServerUnreachable, aiohttp.ClientError, TimeoutError, OSError) as exc:
                log.warning("stream: %s", exc or type(exc).__name__)

            if close_code == CLOSE_DISPLACED:
                raise StreamDisplaced(
                    "displaced", "another connection of this device took over the stream"
                )
            if close_code == CLOSE_AUTH_FAILED:
                auth_failures += 1
                if auth_failures > 1:
                    raise SdkError("stream_auth_failed", "the stream refused a fresh token")
                try:
                    # A revoked device fails here, with the server's own reason.
                    await self._relogin(token)
                    continue
                except ServerUnreachable:
                    pass
                except ApiError as exc:
                    if exc.status not in TRANSIENT_STATUSES:
                        raise
            log.info("stream closed (code %s); reconnecting in %.1f s", close_code, delay)
            await asyncio.sleep(delay * (0.5 + secrets.randbelow(500) / 1000))
            delay = min(delay * 2, max_backoff)

    async def _stream_item(self, data: Any) -> StreamItem | None:
        try:
            raw = json.loads(data)
        except (TypeError, ValueError):
            raw = None
        if not isinstance(raw, dict):
            return InvalidEvent(None, None, "malformed_event", "a frame is not a JSON object", {})
        kind = raw.get("type")
        if kind == "queue_empty":
            return BacklogDrained()
        if kind == "error":
            log.warning("stream error from server: %s: %s", raw.get("code"), raw.get("detail"))
            return None
        event = await self._verify_event(raw)
        if isinstance(event, _Duplicate):
            await self.ack([event.cursor])
            return None
        return event

    # verification

    async def _verify_event(self, raw: Any) -> ReceivedEvent | _Duplicate:
        if not isinstance(raw, dict):
            return InvalidEvent(None, None, "malformed_event", "an event is not an object", {})
        cursor = raw.get("cursor") if isinstance(raw.get("cursor"), str) else None
        kind = raw.get("type") if isinstance(raw.get("type"), str) else None
        try:
            if kind == "message":
                return await self._verify_message(raw)
            if kind == "receipt":
                return await self._verify_receipt(raw)
            if kind == "notification":
                return await self._verify_notification(raw)
            raise VerificationError("unknown_event_type", f"unknown event type {kind!r}")
        except ValidationError as exc:
            return InvalidEvent(cursor, kind, "malformed_event", _validation_detail(exc), raw)
        except VerificationError as exc:
            return InvalidEvent(cursor, kind, exc.code, exc.detail, raw)

    async def _verify_message(self, raw: dict[str, Any]) -> ReceivedMessage | _Duplicate:
        event = models.MessageEvent.model_validate(raw)
        envelope = _SignedEnvelope.model_validate(event.envelope)
        seen_key = f"{envelope.sender}/{envelope.id}"
        if seen_key in self._seen:
            return _Duplicate(event.cursor)
        device = await self._sender_device(envelope.sender, envelope.sender_device)
        try:
            crypto.verify_envelope(event.envelope, crypto.b64u_decode(device.sign_key))
        except crypto.CryptoError as exc:
            raise VerificationError(
                "bad_signature", f"message {envelope.id} is not signed by {device.id}"
            ) from exc
        try:
            content = open_content(
                event.envelope, crypto.b64u_decode(event.key), self.identity.keys.box
            )
        except crypto.CryptoError as exc:
            raise VerificationError(
                "undecryptable", f"message {envelope.id} does not open: {exc}"
            ) from exc
        self._unacked[event.cursor] = seen_key
        while len(self._unacked) > SEEN_LIMIT:
            self._unacked.popitem(last=False)
        return ReceivedMessage(
            cursor=event.cursor,
            id=envelope.id,
            sender=envelope.sender,
            sender_device=envelope.sender_device,
            recipients=tuple(envelope.recipients),
            created_at=envelope.created_at,
            received_at=event.received_at,
            subject=content.subject,
            body=content.body,
            attachments=content.attachments,
            in_reply_to=content.in_reply_to,
            dossier=envelope.dossier,
        )

    async def _sender_device(self, sender: str, device_id: str) -> models.DeviceRecord:
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
        raise VerificationError(
            "unknown_sender_device", f"{device_id} is not an active device of {sender}"
        )

    async def _verify_server_signature(self, body: Any, signature: str) -> None:
        server_key = crypto.b64u_decode((await self.server_info()).sign_key)
        try:
            crypto.verify_server_event(body, signature, server_key)
        except crypto.CryptoError as exc:
            raise VerificationError(
                "bad_server_signature", "the event is not signed by the server"
            ) from exc

    async def _verify_receipt(self, raw: dict[str, Any]) -> ReceivedReceipt:
        event = models.ReceiptEvent.model_validate(raw)
        await self._verify_server_signature(raw["receipt"], event.signature)
        receipt = event.receipt
        return ReceivedReceipt(
            event.cursor,
            receipt.message_id,
            receipt.recipient,
            receipt.device,
            receipt.status,
            receipt.at,
        )

    async def _verify_notification(self, raw: dict[str, Any]) -> ReceivedNotification:
        event = models.NotificationEvent.model_validate(raw)
        await self._verify_server_signature(raw["notification"], event.signature)
        name = event.notification.get("event")
        if not isinstance(name, str):
            raise VerificationError("malformed_event", "a notification names no event")
        return ReceivedNotification(event.cursor, name, dict(event.notification))


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
