"""Each problem code as one sentence: what happened, and what to do next.

The server's ``detail`` says what was wrong with *this* request; the code alone says what kind
of failure it is, so the sentence is written once per code. Every code the server can send has
one (``tests/test_cli_commands.py`` walks the server's error classes and the dossier rules'
reason codes); the SDK's own codes that a person meets have one too.
"""

from __future__ import annotations

from typing import Final

_REQUEST: Final = {
    "bad_request": "The server could not use the request; check the command's arguments.",
    "invalid_request": (
        "The server refused the request as malformed; check the values the detail names."
    ),
    "invalid_encoding": (
        "The request was not UTF-8 text without a byte-order mark; send plain UTF-8."
    ),
    "invalid_json": (
        "The request's JSON was nested too deeply or held too many values; send less at once."
    ),
    "unpaired_surrogate": (
        "A text held half of a character (an unpaired surrogate); fix the text and send again."
    ),
    "duplicate_member": "The request's JSON repeated a member name; send each member once.",
    "non_canonical": (
        "A value was not in its one canonical form; update this client or fix the value."
    ),
    "invalid_name": (
        "A name held control, bidirectional or invisible characters; use plain printable text."
    ),
    "unsupported_version": (
        "The server does not speak this protocol version; update the client to match it."
    ),
    "bad_signature": (
        "A signature did not verify, so the key file may be damaged or not this device's;"
        " enroll the device again."
    ),
    "weak_key": "The device key was refused as weak; enroll again with freshly generated keys.",
    "unsupported_media_type": (
        "The server only accepts application/json bodies; update this client."
    ),
    "method_not_allowed": (
        "The server has no such operation at this address; check --server and the client version."
    ),
    "http_error": "The server refused the request; the detail says why.",
}

_ACCESS: Final = {
    "unauthenticated": "The server wants this device to log in; check the key file and retry.",
    "invalid_token": (
        "The session token was refused (expired, or the device was revoked); retry, and if it"
        " fails again enroll this device anew."
    ),
    "invalid_challenge": (
        "The login challenge expired or did not verify; retry, and check the key file is this"
        " device's."
    ),
    "invalid_enrollment_code": (
        "The enrollment code is unknown, expired, already used or another principal's; ask for"
        " a new one (admin enroll-code, or devices link on an enrolled device)."
    ),
    "forbidden": "The server does not allow this call for you; ask the operator if you need it.",
    "operator_only": (
        "Only the operator may do this; give the operator token with --admin-token or"
        " LIAISON_ADMIN_TOKEN."
    ),
    "sender_mismatch": (
        "The message names another sender or device than this one, or this device was revoked;"
        " send from an active device of the sender."
    ),
    "foreign_cursor": (
        "The cursor belongs to another device's queue; fetch without a cursor to start over."
    ),
    "not_found": "The server knows no such thing; check the id or address you gave.",
    "unknown_recipient": (
        "A recipient is not registered; check the id with `liaison directory search`."
    ),
    "conflict": "The request conflicts with what the server holds; look at it and retry.",
    "principal_exists": (
        "This principal is already registered; nothing to do, or choose another id."
    ),
    "similar_name": (
        "The name looks like another principal's; check it is a different person, then add"
        " --allow-similar-name."
    ),
    "stale_devices": (
        "A recipient's devices changed while sending; send again (the SDK refreshes them once"
        " itself)."
    ),
    "id_conflict": ("This message id was already used for another message; send with a new id."),
    "envelope_too_large": (
        "The message is larger than this server accepts; send smaller or fewer attachments."
    ),
    "body_too_large": (
        "The request is larger than this server accepts for this call; send less at once."
    ),
    "queue_full": (
        "A recipient device's queue is full; wait for them to read their messages and retry"
        " later (the server says when)."
    ),
    "rate_limited": "Too many requests in a short time; wait as long as the server says and retry.",
    "sender_share_exceeded": (
        "Your messages already fill your share of a recipient device's queue; wait for them to"
        " read what you sent, and retry later (the server says when)."
    ),
    "request_timeout": (
        "The request's body took too long to reach the server; check the connection and retry."
    ),
    "store_unavailable": (
        "The server cannot reach its message store right now; retry in a few seconds."
    ),
    "replicas_unavailable": (
        "The message may be queued but is not yet as durable as configured; retry with the same"
        " message id in a few seconds."
    ),
    "internal_error": "The server failed on this request and logged it; tell its operator.",
}

_DOSSIER: Final = {
    "dossier_not_found": (
        "No dossier exists for this INS; check the INS, or create the dossier on consent"
        " (liaison dossier create)."
    ),
    "dossier_exists": "A dossier already exists for this INS; use it (liaison dossier show).",
    "dossier_refused": "The dossier rules refuse this; the detail names the rule (docs/rules.md).",
    "dossier_busy": "The dossier changed too often during the request; retry in a second.",
    "dossier_closed": "The dossier is closed; nothing can be added or changed in it.",
    "banned": "The holder has banned you from this dossier; only the holder can lift the ban.",
    "no_grant": (
        "You have no access to this dossier; ask the holder or their médecin traitant to grant"
        " it (liaison dossier grant), or open emergency access if the situation calls for it."
    ),
    "insurer_excluded": "Insurers never access a dossier, whatever the grant (RD-11).",
    "no_professional_capacity": (
        "Only a health professional may do this; act from a professional's device."
    ),
    "express_grant_required": (
        "Your role needs an express grant from the holder (RD-6); ask the holder for one."
    ),
    "document_masked": (
        "The holder masked this document; only its author and the holder can read it now."
    ),
    "hidden_from_holder": (
        "This document is hidden from the holder until it is released; wait for its release."
    ),
    "invisible_to_representatives": (
        "This document is not shown to legal representatives; the holder alone may read it."
    ),
    "emergency_opposed": (
        "The holder opposed emergency access; ask the holder or their médecin traitant instead."
    ),
    "emergency_not_allowed": (
        "Emergency access is not open to your role; ask the holder for a grant instead."
    ),
    "consent_missing": (
        "This deployment creates dossiers on express consent; record the consent"
        " (liaison dossier create --given-by ...)."
    ),
    "minor_needs_representative": (
        "A minor's dossier needs a legal representative's consent; record it with --given-by"
        " legal_representative."
    ),
    "holder_opinion_required": (
        "The holder's opinion must be recorded for this consent (CR-4); add --holder-opinion."
    ),
    "holder_must_consent": (
        "The holder can consent themselves and must (CR-4); record the holder's own consent."
    ),
    "representative_not_allowed": (
        "A representative may not do this for the holder; the holder must act themselves."
    ),
    "objection_registered": (
        "The holder objected to a dossier; none may be created unless they withdraw it."
    ),
    "cannot_ban_medecin_traitant": (
        "The médecin traitant cannot be banned; declare another médecin traitant first."
    ),
    "insurer_cannot_be_granted": "An insurer can never be granted access (RD-11).",
    "patient_opposed": (
        "The patient opposed some recipients' access to this dossier; send the document without"
        " them, or ask the patient."
    ),
    "bad_dossier_wrap": (
        "The dossier's copy of the content key did not open; update this client and send again."
    ),
    "holder_only": "Only the holder (or a recorded representative) may do this.",
    "not_author": "Only the document's author may do this.",
    "representation_unverified": (
        "No live representation is recorded for you and this holder; ask the operator to record"
        " it (liaison admin representation add)."
    ),
    "minor_holder": "This act belongs to the minor's legal representative; they must do it.",
    "birth_date_unverified": (
        "The birth date is not the one the operator recorded; leave it out or have the operator"
        " record it."
    ),
    "operator_creates": (
        "In this deployment the operator creates dossiers (opt-out); ask the operator"
        " (liaison admin dossier create)."
    ),
    "document_not_found": (
        "No such document in this dossier; check the id (liaison dossier documents)."
    ),
    "already_hidden": "The document is already hidden from the holder; nothing to do.",
    "already_released": (
        "The document was already released to the holder; it cannot be hidden again."
    ),
    "read_by_holder": "The holder has already read this document; it cannot be hidden now.",
    "recipient_excluded": (
        "An insurer cannot receive a dossier-linked message (RD-11); send without that recipient."
    ),
    "invalid_ins": (
        "The INS is not valid (15 characters whose last 2 are the key of the first 13); check it"
        " against the patient's card."
    ),
}

_CLIENT: Final = {
    "server_unreachable": (
        "The server did not answer; check --server (or LIAISON_SERVER) and that it is running."
    ),
    "invalid_url": "The server URL is not usable; give one like http://host:8080 with --server.",
    "bad_response": (
        "The server's answer was not what this client expects; check the server's version."
    ),
    "no_admin_token": (
        "Operator commands need the operator token; give --admin-token or set LIAISON_ADMIN_TOKEN."
    ),
    "key_file_exists": (
        "That key file already holds a device and would be lost; choose another --key-file."
    ),
    "no_recipient_devices": (
        "No recipient has an enrolled device yet; they must enroll one before they can read it."
    ),
    "stream_auth_failed": (
        "The stream refused this device even after a new login; check it is not revoked"
        " (liaison devices)."
    ),
    "displaced": (
        "Another connection of this device took over the stream; run one watch per device."
    ),
    "invalid_rpps": "An RPPS number is exactly 11 digits; check it and give rpps:<11 digits>.",
    "invalid_principal": (
        "That is not a principal id; give rpps:<11 digits>, org:<slug>, app:<slug> or"
        " patient:<INS>."
    ),
}

_BLOBS: Final = {
    "blob_not_found": (
        "No such attachment, or not one you may read (only the devices the message reached);"
        " it may also have expired."
    ),
    "blob_too_large": "The file is larger than this server accepts for one attachment.",
    "upload_exceeds_size": "The upload ran past the size it declared; send the file again.",
    "storage_quota_exceeded": (
        "Your attachments use up your storage quota; space comes back as they expire (the"
        " server says when to retry)."
    ),
    "offset_mismatch": "The upload resumed at the wrong place; send again (the SDK resumes).",
    "upload_busy": "Another request is writing this upload; wait a moment and retry.",
    "upload_interrupted": "The upload was cut off; send again (the SDK resumes where it stopped).",
    "blob_complete": "This attachment is complete already; nothing more to upload.",
    "blob_incomplete": "This attachment is not fully uploaded yet; finish the upload first.",
    "digest_mismatch": "The uploaded bytes are not the file's; send the file again.",
    "blob_unavailable": (
        "The message names an attachment that is not a complete upload of yours (expired?);"
        " send the file again."
    ),
    "range_not_satisfiable": "The download asked for bytes past the attachment's end.",
    "blob_refused": (
        "The downloaded attachment is not the one the sender named (tampered, cut short or"
        " swapped); nothing was written."
    ),
    "blob_lost": "The server lost part of the upload; send the file again.",
}

SENTENCES: Final[dict[str, str]] = {**_REQUEST, **_ACCESS, **_DOSSIER, **_CLIENT, **_BLOBS}


def explain(code: str, detail: str) -> list[str]:
    """The lines to print after ``error: ``: the code and its sentence, then the server's
    detail when it says more than the code (``refused: no_grant`` does not)."""
    sentence = SENTENCES.get(code)
    if sentence is None:
        return [f"{code}: {detail}"]
    if not detail or detail.endswith(code):
        return [f"{code}: {sentence}"]
    return [f"{code}: {sentence}", f"{code}: detail: {detail}"]
