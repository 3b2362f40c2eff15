"""The HTTP layer shared by the operator's and the device's clients: one aiohttp session,
JSON requests, and problem documents (RFC 9457) turned into ``ApiError``."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Final, Self, TypeVar
from urllib.parse import quote

import aiohttp
from pydantic import BaseModel, ValidationError

from messaging import canonical
from messaging.client.errors import (
    ApiError,
    SdkError,
    ServerUnreachable,
    StaleDevicesError,
    validation_detail,
)

TRANSIENT_STATUSES: Final = frozenset({429, 502, 503, 504})
"""HTTP statuses worth retrying later (after ``ApiError.retry_after`` when given)."""
RATE_LIMIT_RETRIES: Final = 3
"""How many times a call refused with ``rate_limited`` is made again, after its Retry-After."""
LONGEST_RETRY_WAIT: Final = 30.0
"""Seconds: a longer Retry-After is the caller's to decide on (the ApiError says how long)."""

M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], data: Any) -> M:
    """A server answer as ``model``; an answer of another shape is a ``bad_response``."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise SdkError(
            "bad_response", f"unexpected {model.__name__}: {validation_detail(exc)}"
        ) from exc


def request_body(model: type[M], data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` checked against a request model, as JSON: a bad argument fails here, with
    ``invalid_request``, before anything is sent."""
    try:
        request = model.model_validate(data)
    except ValidationError as exc:
        raise SdkError("invalid_request", validation_detail(exc)) from exc
    return request.model_dump(mode="json", exclude_none=True)


def _retry_after(value: str | None) -> float | None:
    try:
        return None if value is None else float(value)
    except ValueError:
        return None


async def api_error(response: aiohttp.ClientResponse) -> ApiError:
    problem: Any = None
    with contextlib.suppress(canonical.EncodingError, aiohttp.ClientError):
        problem = canonical.loads(await response.read())
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


def url_path(*parts: str) -> str:
    """A URL path from raw segments, each percent-encoded (``:`` kept, as in principal ids)."""
    return "/" + "/".join(quote(part, safe=":") for part in parts)


class HttpClient:
    """An aiohttp session (the caller's, or one owned and closed here) and JSON requests."""

    def __init__(self, base_url: str, session: aiohttp.ClientSession | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._session = session
        self._owns_session = session is None
        self.rate_limit_retries = RATE_LIMIT_RETRIES
        self.longest_retry_wait = LONGEST_RETRY_WAIT

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
        """Close the HTTP session if this client opened it (``async with`` does it on exit)."""
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
        """The answer's JSON; a call refused with ``rate_limited`` waits its ``Retry-After``
        and is made again, at most ``rate_limit_retries`` times (the server refuses such a
        call before doing anything, so any call may be repeated)."""
        attempt = 0
        while True:
            try:
                return await self._request_once(method, path, token=token, body=body, params=params)
            except ApiError as exc:
                wait = 1.0 if exc.retry_after is None else exc.retry_after
                if (
                    exc.code != "rate_limited"
                    or attempt >= self.rate_limit_retries
                    or wait > self.longest_retry_wait
                ):
                    raise
            attempt += 1
            await asyncio.sleep(wait)

    async def _request_once(
        self,
        method: str,
        path: str,
        *,
        token: str | None,
        body: Mapping[str, Any] | None,
        params: Mapping[str, str] | None,
    ) -> Any:
        headers = {"Accept": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = _outgoing(body)
        if params is not None:
            _outgoing(params)
        url = self.base_url + path
        try:
            async with self._http().request(
                method, url, data=data, params=params, headers=headers
            ) as response:
                if response.status >= 400:
                    raise await api_error(response)
                if response.status == 204:
                    return None
                answer = await response.read()
        except aiohttp.InvalidURL as exc:
            raise SdkError("invalid_url", f"not a usable server URL: {self.base_url}") from exc
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise ServerUnreachable(
                "server_unreachable", f"{method} {url}: {exc or type(exc).__name__}"
            ) from exc
        try:
            return canonical.loads(answer) if answer else None
        except canonical.EncodingError as exc:
            raise SdkError("bad_response", f"{method} {path} did not answer I-JSON") from exc


def _outgoing(document: Mapping[str, Any]) -> bytes:
    """What the SDK sends, in canonical JSON: a value with no canonical form (a string with an
    unpaired surrogate, a float) is refused here, before anything leaves."""
    try:
        return canonical.canonical_json(document)
    except canonical.EncodingError as exc:
        raise SdkError("invalid_request", f"cannot be sent: {exc.described}") from exc
