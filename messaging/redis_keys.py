"""Every Redis key and channel name Liaison uses, built in one place.

Keys touched together share one cluster hash tag, so each atomic step runs on one slot and
Redis Cluster is a configuration change (DESIGN §7):

- ``{u:<principal>}``: the principal's record, its device index, its enrollment codes, the
  idempotency records (one hash per generation of the window) and the shared ciphertext
  payloads of the messages it sent;
- ``{d:<device>}``: the device's record, its queue, the queue's idempotency index, its pending
  challenges and its tokens;
- ``{p:<ins>}``: a dossier's state, its documents and its hash-chained access log, the
  holder's objection (opt-out regime) and the representations recorded for the holder (so the
  dossier's commit checks them in the same slot);
- ``{u:<principal>}:represents``: the secondary index of the representations a principal holds;
- ``{r:<id>}``: which holder a representation id belongs to;
- ``{a:<address>}``: the rate-limit budgets of one source address (unauthenticated calls).
- ``{b:<id>}``: which principal uploaded a blob (its record, readers and the uploader's storage
  total are under the uploader's ``{u:<principal>}``, so that binding blobs to a message and
  counting them against the quota are one script on the sender's slot).

No key holds a plaintext, a content key or a secret in clear: codes and tokens are stored as
digests, payloads are the ciphertext envelope without key wraps.
"""

from __future__ import annotations

from typing import Final

PREFIX: Final = "liaison:"
WAKE_PATTERN: Final = f"{PREFIX}{{d:*}}:wake"
"""Every device's wake channel, for one pattern subscription (standalone, or a 6.2 cluster)."""
INVALIDATE_CHANNEL: Final = f"{PREFIX}invalidate"
"""Tells every process to drop cached directory entries (``p:<principal>``) or tokens
(``d:<device>``)."""
DOSSIER_PURGES: Final = f"{PREFIX}dossiers:purge"
"""Sorted set of closed dossiers' INS by purge time (ms): the purge sweeps it (CR-6)."""
REPRESENTATION_ENDS: Final = f"{PREFIX}representations:ends"
"""Sorted set of ``<ins>:<id>`` by the time a representation ends (ms): a sweep logs each end."""
BLOB_EXPIRY: Final = f"{PREFIX}blobs:expiry"
"""Sorted set of blob ids by the time (ms) the sweep should look at them again: an upload
nobody bound, or a message's blob past its retention, is deleted then."""
DIRECTORY_NAMES: Final = f"{PREFIX}directory:names"
"""Sorted set of ``<lower-case word>\\0<principal>`` for prefix search (a single-key index)."""
DIRECTORY_LOOKALIKES: Final = f"{PREFIX}directory:lookalikes"
"""Sorted set of ``<digest of a display name's skeleton>\\0<principal>``: who looks like whom."""


def _principal(principal: str, name: str) -> str:
    return f"{PREFIX}{{u:{principal}}}:{name}"


def _device(device: str, name: str) -> str:
    return f"{PREFIX}{{d:{device}}}:{name}"


def principal(principal_id: str) -> str:
    return _principal(principal_id, "principal")


def principal_devices(principal_id: str) -> str:
    return _principal(principal_id, "devices")


def retired_devices(principal_id: str) -> str:
    """Public keys of the principal's revoked devices, kept to verify what they signed."""
    return _principal(principal_id, "retired")


def held_notices(principal_id: str) -> str:
    """Notifications kept until the principal enrolls a device (list of JSON)."""
    return _principal(principal_id, "held")


def enrollment_code(principal_id: str, code_digest: str) -> str:
    return _principal(principal_id, f"enroll:{code_digest}")


def sent(principal_id: str, generation: int) -> str:
    """The idempotency records of the messages the principal sent in one generation of the
    idempotency window (hash: message id -> digest, state, acceptance time)."""
    return _principal(principal_id, f"sent:{generation}")


def payload(principal_id: str, message_id: str) -> str:
    return _principal(principal_id, f"payload:{message_id}")


def device(device_id: str) -> str:
    return _device(device_id, "device")


def device_budget(device_id: str, budget: str) -> str:
    """A rate-limit budget of one device (``limit.lua``), in the device's slot."""
    return _device(device_id, f"rate:{budget}")


def address_budget(address: str, budget: str) -> str:
    """A rate-limit budget of one source address: a slot of its own."""
    return f"{PREFIX}{{a:{address}}}:rate:{budget}"


def challenges(device_id: str) -> str:
    """Sorted set of the device's outstanding challenges, by expiry (ms): a bounded number."""
    return _device(device_id, "challenges")


def token(device_id: str, token_digest: str) -> str:
    return _device(device_id, f"token:{token_digest}")


def tokens(device_id: str) -> str:
    return _device(device_id, "tokens")


def queue(device_id: str) -> str:
    return _device(device_id, "queue")


def seen(device_id: str) -> str:
    return _device(device_id, "seen")


def shares(device_id: str) -> str:
    """Hash of sender -> how many of its message events the device's queue holds."""
    return _device(device_id, "shares")


def _dossier(ins: str, name: str) -> str:
    return f"{PREFIX}{{p:{ins}}}:{name}"


def dossier(ins: str) -> str:
    return _dossier(ins, "dossier")


def dossier_log(ins: str) -> str:
    return _dossier(ins, "log")


def dossier_documents(ins: str) -> str:
    return _dossier(ins, "documents")


def dossier_document(ins: str, document_id: str) -> str:
    return _dossier(ins, f"document:{document_id}")


def dossier_tombstones(ins: str) -> str:
    """TR-7: tombstones of this INS's purged dossiers, out of the way of a new dossier's log."""
    return _dossier(ins, "tombstones")


def dossier_objection(ins: str) -> str:
    return _dossier(ins, "objection")


def representations(ins: str) -> str:
    """Hash of representation id -> record, for the holder ``ins``."""
    return _dossier(ins, "representations")


def represents(principal_id: str) -> str:
    """Hash of representation id -> holder INS, for the representative ``principal_id``."""
    return _principal(principal_id, "represents")


def blob(principal_id: str, blob_id: str) -> str:
    """Hash: declared size, bytes held, state, digest, expiry, the writer holding the upload."""
    return _principal(principal_id, f"blob:{blob_id}")


def blob_readers(principal_id: str, blob_id: str) -> str:
    """Set of the devices that received a message naming the blob."""
    return _principal(principal_id, f"blob-readers:{blob_id}")


def blob_usage(principal_id: str) -> str:
    """Bytes of blob storage the principal holds (its quota counts them)."""
    return _principal(principal_id, "blob-bytes")


def blob_owner(blob_id: str) -> str:
    return f"{PREFIX}{{b:{blob_id}}}:owner"


def representation_holder(representation_id: str) -> str:
    return f"{PREFIX}{{r:{representation_id}}}:holder"


BASELINE_PREFIX: Final = "bench:baseline:"
"""The bare baseline server of ``liaison bench`` (not Liaison, so not under ``PREFIX``)."""


def baseline_stream(device_id: str) -> str:
    """The baseline's stream, tagged by sender device like Liaison's queues: a slot a writer."""
    return f"{BASELINE_PREFIX}{{d:{device_id}}}"


def wake_channel(device_id: str) -> str:
    """The device's hash tag puts the channel on its queue's slot: ``enqueue.lua`` may publish
    to it as a sharded channel (SPUBLISH) within the slot it writes."""
    return _device(device_id, "wake")


def device_of_wake_channel(channel: str) -> str:
    return channel.removeprefix(f"{PREFIX}{{d:").removesuffix("}:wake")
