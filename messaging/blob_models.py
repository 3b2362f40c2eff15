"""Wire models of the blob API (docs/protocol.md, "Blobs"), shared by the server and the SDK."""

from __future__ import annotations

from typing import Annotated, Final

from pydantic import Field, StrictInt

from messaging import models, wire_types

BlobId = wire_types.BlobId
Digest = wire_types.Key32
"""BLAKE2b-256 of the whole ciphertext, b64u."""
UPLOAD_OFFSET: Final = "Upload-Offset"
"""The request header saying where a ``PATCH`` body starts in the blob."""


class CreateBlobRequest(models.WireModel):
    size: Annotated[StrictInt, Field(ge=0)]
    """Bytes of ciphertext the upload will hold, exactly."""


class CompleteBlobRequest(models.WireModel):
    digest: Digest


class BlobStatus(models.WireModel):
    id: BlobId
    size: int
    held: int
    """Bytes the server holds: a resumed upload continues from here."""
    complete: bool
    digest: Digest | None = None
    expires_at: wire_types.Timestamp | None = None
    """When the server deletes it unless a message names it; null while a dossier keeps it."""
