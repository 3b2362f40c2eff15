"""The Liaison SDK: enroll a device, send end-to-end encrypted messages, receive verified events,
and use the patient's dossier (DMP) through ``LiaisonClient.dossiers``. A guide, run by the test
suite: ``docs/sdk.md``.

Two things to know first: ``enroll`` returns the device's identity without writing it anywhere
(``DeviceIdentity.save`` and ``load`` keep it in a key file), and an event stays in the device's
queue, handed over again and again by ``fetch`` and ``stream``, until ``ack`` deletes it.

Everything the server relays is checked here before the caller sees it: directory entries (each
device's box key must be signed by its sign key), envelopes (signed by the sender's device,
content opened with this device's box key), server events (signed by the server key), dossier
documents (like envelopes) and dossier access logs (hash chain and signed checkpoints verified
locally, against the checkpoints this device keeps: ``checkpoints``, ``log_check``).

An event that fails a check is handed to the caller as an ``InvalidEvent`` instead of being
raised or dropped: the other events of the batch stay usable, and since it is *not* acked by the
SDK, the caller decides whether to ack it (discard) or leave it queued for inspection.

A message whose signature verifies but whose content cannot be read (``malformed_content``: the
plaintext does not decode, parse or validate; ``undecryptable``: this device's wrap does not
open) is an ``UnreadableMessage``, with its sender and id: its sender really sent it, so it is
a message like another, which the caller acks once shown; one bad message never blocks a queue.
Plaintext members this version does not know are kept (``ReceivedMessage.extra``) and ignored.

Duplicates (DESIGN §6, at-least-once delivery) are dropped by ``(sender, message id)`` among the
messages this client has already acked; they are acked again, never shown twice. A message that
was handed over but not acked is shown again, because the caller never confirmed it.

Modules: ``errors`` (the ``SdkError`` tree), ``identity`` (device keys and key file),
``content`` (plaintext and envelopes), ``events`` (results), ``http`` (requests and problem
documents), ``admin`` (operator calls, enrollment), ``session`` (login, verified directory),
``receiving`` (fetch, ack, event checks), ``device`` (``LiaisonClient``), ``dossiers``,
``log_check`` (an access log against checkpoints), ``checkpoints`` (the checkpoints kept),
``blobs`` (large attachments: sealed, uploaded and downloaded in constant memory, resumed).
"""

from messaging.client.admin import AdminClient, enroll
from messaging.client.blobs import BLOB_THRESHOLD, BlobTransfers
from messaging.client.checkpoints import CheckpointStore
from messaging.client.content import (
    Attachment,
    BlobAttachment,
    BlobReference,
    MessageContent,
    build_envelope,
    open_content,
)
from messaging.client.device import LiaisonClient
from messaging.client.dossiers import (
    DossierClient,
    DossierDocument,
    SavedLog,
    VerifiedAccessLog,
    parse_checkpoint,
)
from messaging.client.errors import (
    ApiError,
    IdentityFileError,
    SdkError,
    ServerUnreachable,
    StaleDevicesError,
    StreamDisplaced,
    UnreadableContent,
    VerificationError,
)
from messaging.client.events import (
    BacklogDrained,
    FetchResult,
    InvalidEvent,
    ReceivedEvent,
    ReceivedMessage,
    ReceivedNotification,
    ReceivedReceipt,
    SendResult,
    StreamItem,
    UnreadableMessage,
)
from messaging.client.http import TRANSIENT_STATUSES
from messaging.client.identity import DeviceIdentity
from messaging.client.log_check import LogFailure, LogVerdict, verify_entries, verify_log
from messaging.client.receiving import ACK_BATCH, SEEN_LIMIT
from messaging.client.session import DIRECTORY_TTL
from messaging.models import CLOSE_AUTH_FAILED, CLOSE_DISPLACED, DOSSIER_KEY

__all__ = [
    "ACK_BATCH",
    "BLOB_THRESHOLD",
    "CLOSE_AUTH_FAILED",
    "CLOSE_DISPLACED",
    "DIRECTORY_TTL",
    "DOSSIER_KEY",
    "SEEN_LIMIT",
    "TRANSIENT_STATUSES",
    "AdminClient",
    "ApiError",
    "Attachment",
    "BacklogDrained",
    "BlobAttachment",
    "BlobReference",
    "BlobTransfers",
    "CheckpointStore",
    "DeviceIdentity",
    "DossierClient",
    "DossierDocument",
    "FetchResult",
    "IdentityFileError",
    "InvalidEvent",
    "LiaisonClient",
    "LogFailure",
    "LogVerdict",
    "MessageContent",
    "ReceivedEvent",
    "ReceivedMessage",
    "ReceivedNotification",
    "ReceivedReceipt",
    "SavedLog",
    "SdkError",
    "SendResult",
    "ServerUnreachable",
    "StaleDevicesError",
    "StreamDisplaced",
    "StreamItem",
    "UnreadableContent",
    "UnreadableMessage",
    "VerificationError",
    "VerifiedAccessLog",
    "build_envelope",
    "enroll",
    "open_content",
    "parse_checkpoint",
    "verify_entries",
    "verify_log",
]
