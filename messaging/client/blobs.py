"""Blobs from the device's side (docs/protocol.md, "Blobs"): a file sealed and uploaded in
pieces, resumed where the server's copy ends after a cut; downloaded (resumed with Range),
checked chunk by chunk and against its digest, and written only once whole.

Memory stays constant whatever the file's size: one piece being uploaded (``PIECE_BYTES``), one
network read and one chunk being opened.
"""

from __future__ import annotations

import asyncio
import io
import os
import re
import secrets
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Final

import aiohttp

from messaging import crypto
from messaging.blob_models import UPLOAD_OFFSET, BlobStatus
from messaging.blob_stream import (
    SEALED_CHUNK_BYTES,
    BlobOpener,
    BlobRefused,
    new_digest,
    seal_file,
    sealed_size,
)
from messaging.client.content import BlobAttachment, BlobReference
from messaging.client.errors import ApiError, SdkError, ServerUnreachable, VerificationError
from messaging.client.http import api_error, parse, url_path
from messaging.client.session import DeviceSession

BLOB_THRESHOLD: Final = 256 * 1024
"""A file larger than this travels as a blob; smaller ones ride in the envelope."""
PIECE_BYTES: Final = 64 * SEALED_CHUNK_BYTES
"""Ciphertext per ``PATCH`` (4 MiB and the tags): kept until the server holds it."""
ATTEMPTS: Final = 6
"""Tries of one piece or one download before giving up (a cut connection, a 5xx)."""
_READ_BYTES: Final = 1 << 20

Progress = Callable[[int, int], None]
"""Called with (bytes done, bytes in all) as a transfer goes."""


def _pieces(sealed: Iterator[bytes]) -> Iterator[bytes]:
    piece = bytearray()
    for chunk in sealed:
        piece += chunk
        if len(piece) >= PIECE_BYTES:
            yield bytes(piece)
            piece.clear()
    if piece:
        yield bytes(piece)


class BlobTransfers:
    """Blob calls made as one device (``LiaisonClient.blobs``)."""

    def __init__(self, session: DeviceSession) -> None:
        self._session = session

    async def upload(
        self, path: Path, media_type: str, progress: Progress | None = None
    ) -> BlobAttachment:
        """Seal ``path`` under a fresh key, upload it in pieces (each resumed after a cut from
        what the server holds) and complete it: the attachment to name in a message."""
        size = (await asyncio.to_thread(path.stat)).st_size
        key = crypto.random_bytes(crypto.KEY_BYTES)
        total = sealed_size(size)
        answer = await self._session._authed("POST", "/v1/blobs", body={"size": total})
        blob_id = parse(BlobStatus, answer).id
        digest = new_digest()
        offset = 0
        with path.open("rb") as source:
            for piece in _pieces(seal_file(source, size, key)):
                digest.update(piece)
                await self._send_piece(blob_id, offset, piece)
                offset += len(piece)
                if progress is not None:
                    progress(offset, total)
        body = {"digest": crypto.b64u_encode(digest.digest())}
        await self._session._authed("POST", url_path("v1", "blobs", blob_id, "complete"), body=body)
        return BlobAttachment(
            path.name, media_type, BlobReference(blob_id, size, digest.digest(), key)
        )

    async def status(self, blob_id: str) -> BlobStatus:
        """The server's view of a blob: its size, the bytes held, whether it is complete."""
        return parse(
            BlobStatus, await self._session._authed("GET", url_path("v1", "blobs", blob_id))
        )

    async def _send_piece(self, blob_id: str, offset: int, piece: bytes) -> None:
        """Until the server holds the whole piece: after a failure, ask where its copy ends
        and send the rest from there."""
        held = offset
        for attempt in range(ATTEMPTS):
            try:
                await self._patch(blob_id, held, piece[held - offset :])
                return
            except (ServerUnreachable, ApiError) as exc:
                if isinstance(exc, ApiError) and exc.code not in _RESUMABLE:
                    raise
                failure: SdkError = exc
            await asyncio.sleep(min(8.0, 0.25 * 2**attempt))
            try:
                held = (await self.status(blob_id)).held
            except ServerUnreachable as exc:
                failure = exc
                continue
            if held >= offset + len(piece):
                return
            if held < offset:
                raise SdkError("blob_lost", f"the server lost bytes of {blob_id}: upload again")
        raise failure

    async def _patch(self, blob_id: str, offset: int, data: bytes) -> None:
        headers = {UPLOAD_OFFSET: str(offset), "Content-Type": "application/octet-stream"}
        # A file object: aiohttp sends it in pieces instead of one write that holds the loop.
        body = io.BytesIO(data)
        async with await self._raw("PATCH", url_path("v1", "blobs", blob_id), headers, body):
            pass

    async def _raw(
        self, method: str, path: str, headers: Mapping[str, str], data: io.BytesIO | None = None
    ) -> aiohttp.ClientResponse:
        """An authenticated request whose body or answer is bytes; an error answer raised as
        ``ApiError`` (after one fresh login for an expired token), a cut as
        ``ServerUnreachable``."""
        session = self._session
        for fresh in (False, True):
            token = await session._bearer()
            try:
                response = await session._http().request(
                    method,
                    session.base_url + path,
                    data=data,
                    headers={**headers, "Authorization": f"Bearer {token}"},
                )
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                raise ServerUnreachable("server_unreachable", f"{method} {path}: {exc!r}") from exc
            if response.status < 400:
                return response
            error = await api_error(response)
            response.release()
            if error.code != "invalid_token" or fresh:
                raise error
            await session._relogin(token)
        raise AssertionError("unreachable")  # the loop returns or raises

    async def download(
        self,
        attachment: BlobAttachment,
        directory: Path,
        progress: Progress | None = None,
        *,
        name: str | None = None,
    ) -> Path:
        """The attachment, checked and written into ``directory`` under ``name`` (by default
        its own), made safe and never over an existing file (``name (2).ext`` instead):
        ``VerificationError`` (``blob_refused``) and nothing written when it is not the blob its
        reference names."""
        ref = attachment.blob
        await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)
        partial = directory / f".{secrets.token_hex(8)}.part"
        opener = BlobOpener(ref.key, ref.size, ref.digest)
        try:
            with partial.open("xb") as out:
                await self._fetch(ref.id, opener, out.write, sealed_size(ref.size), progress)
                opener.finish()
            return await asyncio.to_thread(place, partial, directory, name or attachment.name)
        except BlobRefused as exc:
            raise VerificationError("blob_refused", f"{attachment.name}: {exc}") from exc
        finally:
            partial.unlink(missing_ok=True)

    async def _fetch(
        self,
        blob_id: str,
        opener: BlobOpener,
        write: Callable[[bytes], object],
        total: int,
        progress: Progress | None,
    ) -> None:
        path = url_path("v1", "blobs", blob_id, "content")
        for attempt in range(ATTEMPTS):
            start = opener.received
            headers = {"Range": f"bytes={start}-"} if start else {}
            try:
                async with await self._raw("GET", path, headers) as response:
                    if start and response.status != 206:
                        raise SdkError("bad_response", "the server ignored the Range of a resume")
                    async for data in response.content.iter_chunked(_READ_BYTES):
                        write(opener.feed(data))
                        if progress is not None:
                            progress(opener.received, total)
                return  # the answer ended: whether the blob did is for ``finish`` to say
            except (
                ServerUnreachable,
                aiohttp.ClientPayloadError,
                aiohttp.ClientConnectionError,
            ) as exc:
                if attempt == ATTEMPTS - 1:
                    raise ServerUnreachable("server_unreachable", f"GET {path}: {exc}") from exc
            await asyncio.sleep(min(8.0, 0.25 * 2**attempt))


_RESUMABLE = frozenset(
    {"upload_interrupted", "upload_busy", "store_unavailable", "offset_mismatch"}
)
_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\:]")


def place(partial: Path, directory: Path, name: str) -> Path:
    """``partial`` linked into ``directory`` under ``name`` made safe: its last component only,
    without control or path characters, never a dot file, ``name (2).ext`` and on when taken.
    A link never replaces an existing file, even one created meanwhile."""
    base = _UNSAFE.sub("_", name.replace("\\", "/").rsplit("/", 1)[-1]).lstrip(".")
    base = base or "attachment"
    stem, suffix = Path(base).stem, Path(base).suffix
    for copy in range(1, 1000):
        target = directory / (base if copy == 1 else f"{stem} ({copy}){suffix}")
        try:
            os.link(partial, target)
        except FileExistsError:
            continue
        return target
    raise FileExistsError(f"{directory}: too many files named like {base}")
