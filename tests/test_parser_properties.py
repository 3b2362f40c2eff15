"""Property tests of the parsers that read what a peer sent (issue 10 item 7): the server's
body and frame reader and envelope model, the client's event models. Whatever bytes or JSON
arrive, each either yields its model or refuses with its own error (a problem document's
``LiaisonError``, pydantic's ``ValidationError``): never another exception, which the server
would answer with 500 and a client would crash on.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from messaging import crypto, models
from messaging.client import MessageContent
from messaging.client.content import SignedEnvelope, build_envelope
from messaging.errors import LiaisonError
from messaging.frames import StreamAck, StreamAuth
from messaging.server.request import json_document
from messaging.settings import Settings
from messaging.timeutil import now_ms, rfc3339

SETTINGS = Settings(json_max_depth=8, json_max_values=200)
PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=6) | st.dictionaries(st.text(max_size=12), children, max_size=6)
    ),
    max_leaves=15,
)

SIGNER = crypto.DeviceKeys.generate()
READER = crypto.DeviceKeys.generate()
DEVICE = "dev_" + "a" * 26


def _envelope(subject: str = "Compte rendu", body: str = "Vu ce jour.") -> dict[str, Any]:
    return build_envelope(
        message_id=str(uuid.uuid4()),
        sender="rpps:10000000001",
        sender_device="dev_" + "b" * 26,
        sign_key=SIGNER.sign,
        recipients=["rpps:10000000002"],
        created_at=rfc3339(now_ms()),
        content=MessageContent(subject, body),
        box_keys={DEVICE: READER.box.public},
    )


ENVELOPE = _envelope()
WIRE_MODELS: list[type[BaseModel]] = [
    models.Envelope,
    models.MessageEvent,
    models.ReceiptEvent,
    models.NotificationEvent,
    models.EventsResponse,
    SignedEnvelope,
    StreamAuth,
    StreamAck,
]


def _read(data: bytes | str) -> dict[str, Any] | None:
    """What the server makes of a body: a JSON object, or None for a refusal it answers."""
    try:
        return json_document(data, SETTINGS)
    except LiaisonError:
        return None


@PROPERTY
@given(st.binary(max_size=300))
def test_any_bytes_are_a_json_object_or_a_refusal(data: bytes) -> None:
    _read(data)


@PROPERTY
@given(json_values)
def test_any_json_value_is_an_object_or_a_refusal(value: Any) -> None:
    document = _read(json.dumps(value).encode())
    # Read as sent, or refused (a root that is no object, an integer beyond I-JSON's range).
    assert document is None or (isinstance(value, dict) and document == value)


@PROPERTY
@given(st.integers(min_value=1, max_value=5000), st.sampled_from(["[", '{"a":']))
def test_deep_nesting_is_refused_without_recursion(depth: int, opener: str) -> None:
    closer = "]" if opener == "[" else "}"
    nested = opener * depth + "0" + closer * depth
    assert (_read(nested) is not None) == (opener == '{"a":' and depth <= SETTINGS.json_max_depth)


@PROPERTY
@given(st.sampled_from(WIRE_MODELS), st.dictionaries(st.text(max_size=12), json_values, max_size=5))
def test_every_wire_model_takes_any_object_or_refuses_it(
    model: type[BaseModel], document: dict[str, Any]
) -> None:
    with contextlib.suppress(ValidationError):
        model.model_validate(document)


@PROPERTY
@given(st.sampled_from(sorted(ENVELOPE)), json_values)
def test_an_envelope_with_one_member_changed_validates_or_is_refused(
    member: str, value: Any
) -> None:
    changed = {**ENVELOPE, member: value}
    try:
        envelope = models.Envelope.model_validate(changed)
    except ValidationError:
        return
    # Accepted: only the same value may pass, or the signature no longer verifies.
    try:
        crypto.verify_envelope(changed, SIGNER.sign.public)
    except crypto.CryptoError:
        return
    assert envelope == models.Envelope.model_validate(ENVELOPE)


@PROPERTY
@given(st.text(max_size=200), st.text(max_size=2000))
def test_a_signed_envelope_survives_the_wire_and_the_parsers(subject: str, body: str) -> None:
    envelope = _envelope(subject, body)
    raw = json_document(crypto.canonical_json(envelope), SETTINGS)
    models.Envelope.model_validate(raw)
    crypto.verify_envelope(raw, SIGNER.sign.public)
    event = {
        "type": "message",
        "cursor": "1-0.AAAAAAAAAAAA",
        "envelope": {k: v for k, v in raw.items() if k != "keys"},
        "key": raw["keys"][DEVICE],
        "received_at": rfc3339(now_ms()),
    }
    parsed = models.MessageEvent.model_validate(json_document(json.dumps(event), SETTINGS))
    SignedEnvelope.model_validate(parsed.envelope)
