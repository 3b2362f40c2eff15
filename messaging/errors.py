"""Domain errors. Each carries the HTTP status and the stable ``code`` of its problem document.

Domain code raises these; one middleware (``messaging.server.problems``) turns them into
``application/problem+json``. Nothing here knows about aiohttp.
"""

from __future__ import annotations

from typing import Any, ClassVar

from messaging import canonical, wire_types


class LiaisonError(Exception):
    """Root of every error Liaison reports to a caller."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    title: ClassVar[str] = "Bad request"
    retry_after: int | None = None
    """Seconds for the ``Retry-After`` header; a class's fixed value, or one error's own."""

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra

    def problem(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": f"https://liaison.invalid/problems/{self.code}",
            "status": self.status,
            "title": self.title,
            "detail": self.detail,
            "code": self.code,
        }
        body.update(self.extra)
        return body


class InvalidRequest(LiaisonError):
    status = 400
    code = "invalid_request"
    title = "The request is not valid"


class EncodingRefused(LiaisonError):
    """A value breaks an encoding rule of DESIGN §2. ``field`` (a JSON Pointer) says where;
    the value itself is never echoed."""

    def __init__(self, reason: str, field: str | None) -> None:
        where = "the body" if not field else f"the value at {field}"
        extra = {} if field is None else {"field": field}
        super().__init__(f"{where}: {reason}", **extra)


class InvalidEncoding(EncodingRefused):
    code = canonical.INVALID_ENCODING
    title = "The body is not UTF-8 without a byte-order mark"


class JsonTooLarge(EncodingRefused):
    code = canonical.JSON_TOO_LARGE
    title = "The JSON document is nested too deeply or holds too many values"


class UnpairedSurrogate(EncodingRefused):
    code = canonical.UNPAIRED_SURROGATE
    title = "A string is not a sequence of Unicode scalar values"


class DuplicateMember(EncodingRefused):
    code = canonical.DUPLICATE_MEMBER
    title = "An object repeats a member name"


class NonCanonical(EncodingRefused):
    code = canonical.NON_CANONICAL
    title = "A value is not in its canonical form"


class InvalidName(EncodingRefused):
    code = wire_types.INVALID_NAME
    title = "A name holds control, bidirectional or invisible characters"


class UnsupportedVersion(EncodingRefused):
    code = wire_types.UNSUPPORTED_VERSION
    title = "This protocol version is not supported"


_REFUSALS: dict[str, type[EncodingRefused]] = {
    kind.code: kind
    for kind in (
        InvalidEncoding,
        InvalidName,
        JsonTooLarge,
        UnpairedSurrogate,
        DuplicateMember,
        NonCanonical,
        UnsupportedVersion,
    )
}


def encoding_refused(code: str, reason: str, field: str | None) -> EncodingRefused | None:
    """The problem for a refusal coded ``code`` (by ``canonical`` or a model validator), or
    None when ``code`` is not one of the encoding rules."""
    refusal = _REFUSALS.get(code)
    return None if refusal is None else refusal(reason, field)


class BadSignature(LiaisonError):
    status = 400
    code = "bad_signature"
    title = "A signature does not verify"


class WeakBoxKey(LiaisonError):
    status = 400
    code = "weak_key"
    title = "The box key is of small order or not in its canonical encoding"


class Unauthenticated(LiaisonError):
    status = 401
    code = "unauthenticated"
    title = "Authentication required"


class InvalidToken(Unauthenticated):
    code = "invalid_token"
    title = "The bearer token is missing, unknown or expired"


class InvalidChallenge(Unauthenticated):
    code = "invalid_challenge"
    title = "The challenge is unknown, expired, already used or badly signed"


class InvalidEnrollmentCode(Unauthenticated):
    code = "invalid_enrollment_code"
    title = "The enrollment code is unknown, expired or already used"


class Forbidden(LiaisonError):
    status = 403
    code = "forbidden"
    title = "Not allowed"


class OperatorOnly(Forbidden):
    code = "operator_only"
    title = "Only the operator may call this"


class SenderMismatch(Forbidden):
    code = "sender_mismatch"
    title = "The envelope names another sender or device than the caller"


class ForeignCursor(Forbidden):
    code = "foreign_cursor"
    title = "The cursor belongs to another device's queue"


class NotFound(LiaisonError):
    status = 404
    code = "not_found"
    title = "Not found"


class UnknownRecipient(NotFound):
    code = "unknown_recipient"
    title = "A recipient is not a known principal"


class Conflict(LiaisonError):
    status = 409
    code = "conflict"
    title = "Conflict"


class PrincipalExists(Conflict):
    code = "principal_exists"
    title = "A principal with this id already exists"


class SimilarName(Conflict):
    code = "similar_name"
    title = "The display name looks like another principal's"

    def __init__(self, similar: list[str]) -> None:
        super().__init__(
            "the display name can be taken for another principal's; if this is a different "
            "person or service with a look-alike name, send allow_similar_name: true",
            similar=sorted(similar),
        )


class StaleDevices(Conflict):
    code = "stale_devices"
    title = "The key wraps do not match the recipients' active devices"

    def __init__(self, missing: list[str], extra: list[str]) -> None:
        super().__init__(
            "refresh the recipients' devices from the directory and send again",
            missing=sorted(missing),
            extra=sorted(extra),
        )


class IdConflict(Conflict):
    code = "id_conflict"
    title = "This message id was already used for a different envelope"


class PayloadTooLarge(LiaisonError):
    status = 413
    code = "envelope_too_large"
    title = "The envelope is larger than this server accepts"


class BodyTooLarge(PayloadTooLarge):
    code = "body_too_large"
    title = "The body is larger than this server accepts for this call"


class RequestTimeout(LiaisonError):
    status = 408
    code = "request_timeout"
    title = "The request body took too long to arrive"


class UnsupportedMediaType(LiaisonError):
    status = 415
    code = "unsupported_media_type"
    title = "The body must be application/json"


class QueueFull(LiaisonError):
    status = 429
    code = "queue_full"
    title = "A recipient device's queue is full"
    retry_after = 60


class SenderShareExceeded(LiaisonError):
    """The sender's messages already fill its share of a recipient device's queue
    (``LIAISON_SENDER_SHARE``): others can still write to that device."""

    status = 429
    code = "sender_share_exceeded"
    title = "Your messages fill your share of a recipient device's queue"
    retry_after = 60


class RateLimited(LiaisonError):
    """A caller spent a budget of the rate limits (``messaging.rate_limits``)."""

    status = 429
    code = "rate_limited"
    title = "Too many calls: retry after the delay given"
    retry_after = 1

    def __init__(self, detail: str, *, budget: str, scope: str, retry_after: int) -> None:
        super().__init__(detail, budget=budget)
        self.scope = scope
        self.retry_after = retry_after


class StoreUnavailable(LiaisonError):
    status = 503
    code = "store_unavailable"
    title = "The message store is unreachable"
    retry_after = 1
    """The server answers with ``LIAISON_REDIS_RECONNECT_SECONDS`` instead."""


class ReplicasUnavailable(LiaisonError):
    """``LIAISON_REDIS_WAIT_REPLICAS`` replicas did not confirm a write in time: the message may
    be queued, but is not yet as durable as configured, so it is not acknowledged."""

    status = 503
    code = "replicas_unavailable"
    title = "Too few Redis replicas confirmed the write"
    retry_after = 1


# --- blobs (docs/protocol.md, "Blobs") ---------------------------------------------------------


class BlobNotFound(NotFound):
    """Also the answer to whoever may not see the blob: its existence is not confirmed."""

    code = "blob_not_found"
    title = "No such blob, or not one the caller may see"


class BlobTooLarge(PayloadTooLarge):
    code = "blob_too_large"
    title = "The declared size is larger than this server accepts for one blob"


class UploadExceedsSize(PayloadTooLarge):
    code = "upload_exceeds_size"
    title = "The upload runs past the size declared for the blob"


class StorageQuotaExceeded(LiaisonError):
    """The uploader's blobs would hold more than its quota: space comes back as they expire."""

    status = 429
    code = "storage_quota_exceeded"
    title = "The principal's blob storage quota is used up"
    retry_after = 3600


class OffsetMismatch(Conflict):
    code = "offset_mismatch"
    title = "The upload does not start where the server's copy ends"


class UploadInterrupted(InvalidRequest):
    """The client's body stopped before its end: what arrived is kept (``held``)."""

    code = "upload_interrupted"
    title = "The upload's body ended early"


class UploadBusy(Conflict):
    code = "upload_busy"
    title = "Another request is writing this upload"


class BlobAlreadyComplete(Conflict):
    code = "blob_complete"
    title = "The blob is complete: it can no longer be written"


class BlobIncomplete(Conflict):
    code = "blob_incomplete"
    title = "The blob does not hold its declared size yet"


class DigestMismatch(Conflict):
    code = "digest_mismatch"
    title = "The blob's bytes do not have the declared digest"


class BlobUnavailable(Conflict):
    code = "blob_unavailable"
    title = "A blob the envelope names is not a complete blob of the sender's"


class RangeNotSatisfiable(LiaisonError):
    status = 416
    code = "range_not_satisfiable"
    title = "The requested range is outside the blob"
