"""The blob API (docs/protocol.md, "Blobs"): open an upload, write it in pieces (resumable),
complete it, and download it with HTTP Range. Bodies stream through: no handler holds a blob."""

from __future__ import annotations

import re

from aiohttp import web

from messaging.blob_models import UPLOAD_OFFSET, CompleteBlobRequest, CreateBlobRequest
from messaging.blob_stream import CHUNK_BYTES
from messaging.errors import (
    BlobNotFound,
    InvalidRequest,
    RangeNotSatisfiable,
    UnsupportedMediaType,
)
from messaging.server.appkeys import BLOBS
from messaging.server.request import caller, json_response, parse
from messaging.wire_types import (
    BLOB_ID_PATTERN,
)

_BLOB_ID = re.compile(BLOB_ID_PATTERN)
OCTETS = "application/octet-stream"


def _blob_id(request: web.Request) -> str:
    blob_id = request.match_info["blob"]
    if not _BLOB_ID.match(blob_id):
        raise BlobNotFound("no such blob")
    return blob_id


async def create(request: web.Request) -> web.Response:
    who = await caller(request)
    body = await parse(request, CreateBlobRequest)
    status = await request.app[BLOBS].create(who, body.size)
    response = json_response(status, status=201)
    response.headers["Location"] = f"/v1/blobs/{status.id}"
    return response


async def status(request: web.Request) -> web.Response:
    who = await caller(request)
    return json_response(await request.app[BLOBS].status(who, _blob_id(request)))


async def upload(request: web.Request) -> web.Response:
    who = await caller(request)
    blob_id = _blob_id(request)
    if request.content_type != OCTETS:
        raise UnsupportedMediaType(f"send the bytes as {OCTETS}")
    offset = request.headers.get(UPLOAD_OFFSET, "")
    if not offset.isascii() or not offset.isdigit():
        raise InvalidRequest(f"the {UPLOAD_OFFSET} header must be a whole number of bytes")
    body = request.content.iter_chunked(CHUNK_BYTES)
    status = await request.app[BLOBS].write(who, blob_id, int(offset), body, request.content_length)
    return json_response(status)


async def complete(request: web.Request) -> web.Response:
    who = await caller(request)
    blob_id = _blob_id(request)
    body = await parse(request, CompleteBlobRequest)
    return json_response(await request.app[BLOBS].complete(who, blob_id, body.digest))


async def download(request: web.Request) -> web.FileResponse:
    who = await caller(request)
    blob = await request.app[BLOBS].readable(who, _blob_id(request))
    try:
        wanted = request.http_range
    except ValueError as exc:
        raise RangeNotSatisfiable("the Range header is not one byte range", size=blob.size) from exc
    # aiohttp would answer these with a bare 416: refused here as a problem document.
    if wanted.start is not None and wanted.start >= blob.size:
        raise RangeNotSatisfiable(f"the blob holds {blob.size} bytes", size=blob.size)
    return web.FileResponse(
        blob.path,
        chunk_size=256 * 1024,
        headers={"Content-Type": OCTETS, "Cache-Control": "private, no-store"},
    )
