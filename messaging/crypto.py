"""Every cryptographic operation of Liaison, shared by the server and the SDK.

This is the only module that imports ``nacl``. Each signature and each AEAD's associated data
starts with a context string and a zero byte (DESIGN §2), so that a signature made for one purpose
can never be replayed as another.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import nacl.bindings
import nacl.encoding
import nacl.exceptions
import nacl.hash
import nacl.public
import nacl.signing

from messaging import canonical
from messaging.canonical import canonical_json as canonical_json

CTX_BOX_KEY: Final = "liaison/v1/box-key"
CTX_ENROLL: Final = "liaison/v1/enroll"
CTX_AUTH: Final = "liaison/v1/auth"
CTX_ENVELOPE: Final = "liaison/v1/envelope"
CTX_CONTENT: Final = "liaison/v1/content"
CTX_SERVER_EVENT: Final = "liaison/v1/server-event"
CTX_LOG_CHECKPOINT: Final = "liaison/v1/log-checkpoint"
CTX_BLOB: Final = "liaison/v1/blob"

KEY_BYTES: Final = 32
NONCE_BYTES: Final = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
SIGNATURE_BYTES: Final = 64
STREAM_HEADER_BYTES: Final = nacl.bindings.crypto_secretstream_xchacha20poly1305_HEADERBYTES
STREAM_TAG_BYTES: Final = nacl.bindings.crypto_secretstream_xchacha20poly1305_ABYTES
_TAG_MESSAGE, _TAG_FINAL = (
    nacl.bindings.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE,
    nacl.bindings.crypto_secretstream_xchacha20poly1305_TAG_FINAL,
)


class CryptoError(Exception):
    """A signature, a seal or a ciphertext failed to verify, or a key has the wrong size."""


def ctx(context: str) -> bytes:
    return context.encode() + b"\x00"


def b64u_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64u_encoded_length(size: int) -> int:
    """Characters of ``size`` bytes in base64url without padding."""
    return (size * 4 + 2) // 3


def b64u_decode(text: str) -> bytes:
    """Canonical base64url without padding only (``canonical.check_b64u``), else CryptoError."""
    try:
        canonical.check_b64u(text)
    except canonical.EncodingError as exc:
        raise CryptoError(exc.reason) from exc
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def random_bytes(size: int) -> bytes:
    return os.urandom(size)


def keyed_hash(key: bytes, data: bytes, size: int = 32) -> bytes:
    """BLAKE2b with a key: used to bind opaque values (cursors) to the server that issued them.

    hashlib's BLAKE2b is libsodium's algorithm without the binding's per-call overhead; it is
    used on every cursor the server issues or reads.
    """
    return hashlib.blake2b(data, digest_size=size, key=key).digest()


def digest(data: bytes, size: int = 32) -> bytes:
    return hashlib.blake2b(data, digest_size=size).digest()


def _check_size(name: str, value: bytes, size: int) -> bytes:
    if len(value) != size:
        raise CryptoError(f"{name} must be {size} bytes, got {len(value)}")
    return value


def verify(public_key: bytes, context: str, message: bytes, signature: bytes) -> None:
    """Raise ``CryptoError`` unless ``signature`` is Ed25519 over ``ctx(context) + message``."""
    _check_size("signature", signature, SIGNATURE_BYTES)
    try:
        nacl.signing.VerifyKey(_check_size("sign key", public_key, KEY_BYTES)).verify(
            ctx(context) + message, signature
        )
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError) as exc:
        raise CryptoError("bad signature") from exc


class WeakKey(CryptoError):
    """An X25519 public key of small order, or not in its canonical encoding."""


_X25519_P: Final = 2**255 - 19
# Any clamped scalar works: clamping makes it a multiple of the cofactor 8, so its product
# with a point of small order (order 1, 2, 4 or 8) is the neutral element, u = 0.
_PROBE_SCALAR: Final = bytes(range(1, 33))


def check_box_key(public_key: bytes) -> bytes:
    """``public_key`` if it is a usable X25519 public key, else ``WeakKey``.

    Refused: a point of small order (every shared secret with it is all zeros, which libsodium
    refuses to use, so whoever seals to it fails), and a non-canonical encoding (the unused top
    bit set, or u >= 2^255 - 19): one key with two spellings would look like two keys.
    """
    _check_size("box key", public_key, KEY_BYTES)
    if public_key[-1] & 0x80 or int.from_bytes(public_key, "little") >= _X25519_P:
        raise WeakKey("the box key is not in its canonical encoding")
    try:
        nacl.bindings.crypto_scalarmult(_PROBE_SCALAR, public_key)
    except nacl.exceptions.RuntimeError as exc:  # libsodium's answer to an all-zero result
        raise WeakKey("the box key is a point of small order") from exc
    return public_key


def seal(content_key: bytes, box_public_key: bytes) -> bytes:
    """Wrap a content key for one X25519 public key (libsodium sealed box); ``WeakKey`` for a
    key nobody can seal to safely."""
    box_key = nacl.public.PublicKey(check_box_key(box_public_key))
    return bytes(nacl.public.SealedBox(box_key).encrypt(content_key))


def seal_with_ephemeral(
    content_key: bytes, box_public_key: bytes, ephemeral_secret: bytes
) -> bytes:
    """A sealed box made with a given ephemeral secret instead of a fresh one, byte for byte
    what ``crypto_box_seal`` makes (ephemeral public key, then ``crypto_box`` under the nonce
    BLAKE2b-192(ephemeral public key || recipient key)). For the conformance vectors only, which
    must be reproducible: anywhere else use ``seal``, since an ephemeral key used twice for one
    recipient would let the two key wraps be linked."""
    box_key = check_box_key(box_public_key)
    ephemeral_public = nacl.bindings.crypto_scalarmult_base(
        _check_size("ephemeral secret", ephemeral_secret, KEY_BYTES)
    )
    nonce = nacl.bindings.crypto_generichash_blake2b_salt_personal(
        ephemeral_public + box_key, digest_size=nacl.bindings.crypto_box_NONCEBYTES
    )
    box = nacl.bindings.crypto_box(content_key, nonce, box_key, ephemeral_secret)
    return bytes(ephemeral_public + box)


def aead_encrypt(plaintext: bytes, aad: bytes, nonce: bytes, key: bytes) -> bytes:
    return bytes(
        nacl.bindings.crypto_aead_xchacha20poly1305_ietf_encrypt(
            plaintext,
            aad,
            _check_size("nonce", nonce, NONCE_BYTES),
            _check_size("content key", key, KEY_BYTES),
        )
    )


def aead_decrypt(ciphertext: bytes, aad: bytes, nonce: bytes, key: bytes) -> bytes:
    try:
        return bytes(
            nacl.bindings.crypto_aead_xchacha20poly1305_ietf_decrypt(
                ciphertext,
                aad,
                _check_size("nonce", nonce, NONCE_BYTES),
                _check_size("content key", key, KEY_BYTES),
            )
        )
    except nacl.exceptions.CryptoError as exc:
        raise CryptoError("ciphertext does not authenticate") from exc


# --- blobs: libsodium secretstream, chunk by chunk (docs/protocol.md, "Blobs") --------------


class StreamSealer:
    """Each chunk's nonce follows from the last one's, so chunks cannot be reordered, dropped or
    replayed; the final tag on the last one tells a whole stream from one cut at a boundary."""

    def __init__(self, key: bytes) -> None:
        self._state = nacl.bindings.crypto_secretstream_xchacha20poly1305_state()
        self.header = nacl.bindings.crypto_secretstream_xchacha20poly1305_init_push(
            self._state, _check_size("blob key", key, KEY_BYTES)
        )

    def seal(self, chunk: bytes, *, final: bool) -> bytes:
        tag = _TAG_FINAL if final else _TAG_MESSAGE
        push = nacl.bindings.crypto_secretstream_xchacha20poly1305_push
        return push(self._state, chunk, ctx(CTX_BLOB), tag)


class StreamOpener:
    """Opens, in order, what ``StreamSealer`` sealed: ``open`` gives (plaintext, is_final), or
    ``CryptoError`` for a chunk tampered, reordered, from another stream or with an odd tag."""

    def __init__(self, key: bytes, header: bytes) -> None:
        self._state = nacl.bindings.crypto_secretstream_xchacha20poly1305_state()
        nacl.bindings.crypto_secretstream_xchacha20poly1305_init_pull(
            self._state,
            _check_size("stream header", header, STREAM_HEADER_BYTES),
            _check_size("blob key", key, KEY_BYTES),
        )

    def open(self, sealed: bytes) -> tuple[bytes, bool]:
        pull = nacl.bindings.crypto_secretstream_xchacha20poly1305_pull
        try:
            chunk, tag = pull(self._state, sealed, ctx(CTX_BLOB))
        except nacl.exceptions.CryptoError as exc:
            raise CryptoError("a blob chunk does not authenticate") from exc
        if tag not in (_TAG_MESSAGE, _TAG_FINAL):
            raise CryptoError(f"a blob chunk carries the unexpected tag {tag}")
        return chunk, tag == _TAG_FINAL


@dataclass(frozen=True, slots=True)
class SigningKey:
    """An Ed25519 key pair: a device's or the server's."""

    seed: bytes
    # Deriving the key pair from the seed costs as much as a signature: do it once.
    _key: nacl.signing.SigningKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_size("sign key seed", self.seed, KEY_BYTES)
        object.__setattr__(self, "_key", nacl.signing.SigningKey(self.seed))

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(random_bytes(KEY_BYTES))

    @property
    def public(self) -> bytes:
        return bytes(self._key.verify_key)

    def sign(self, context: str, message: bytes) -> bytes:
        return self._key.sign(ctx(context) + message).signature


@dataclass(frozen=True, slots=True)
class BoxKey:
    """An X25519 key pair that opens sealed content keys: a device's or the dossier store's."""

    secret: bytes
    _box: nacl.public.SealedBox[nacl.public.PrivateKey] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        _check_size("box secret key", self.secret, KEY_BYTES)
        box = nacl.public.SealedBox(nacl.public.PrivateKey(self.secret))
        object.__setattr__(self, "_box", box)

    @classmethod
    def generate(cls) -> BoxKey:
        return cls(bytes(nacl.public.PrivateKey.generate()))

    @property
    def public(self) -> bytes:
        return bytes(nacl.public.PrivateKey(self.secret).public_key)

    def open(self, sealed: bytes) -> bytes:
        try:
            key = self._box.decrypt(sealed)
        except nacl.exceptions.CryptoError as exc:
            raise CryptoError("sealed key does not open with this box key") from exc
        return _check_size("content key", bytes(key), KEY_BYTES)


@dataclass(frozen=True, slots=True)
class DeviceKeys:
    """The two key pairs a device generates for itself (DESIGN §3)."""

    sign: SigningKey
    box: BoxKey

    @classmethod
    def generate(cls) -> DeviceKeys:
        return cls(SigningKey.generate(), BoxKey.generate())

    def box_key_signature(self) -> bytes:
        return self.sign.sign(CTX_BOX_KEY, self.box.public)

    def enrollment_proof(self, code: str) -> bytes:
        return self.sign.sign(CTX_ENROLL, code.encode())

    def auth_signature(self, challenge: bytes) -> bytes:
        return self.sign.sign(CTX_AUTH, challenge)


def verify_box_key_binding(sign_key: bytes, box_key: bytes, signature: bytes) -> None:
    verify(sign_key, CTX_BOX_KEY, _check_size("box key", box_key, KEY_BYTES), signature)


# --- envelopes -------------------------------------------------------------------------------

UNSIGNED_FIELDS: Final = ("keys", "signature")


def envelope_signing_bytes(envelope: Mapping[str, Any]) -> bytes:
    """What the sender's device signs: the canonical envelope without ``keys`` and ``signature``."""
    return canonical_json({k: v for k, v in envelope.items() if k not in UNSIGNED_FIELDS})


def content_aad(message_id: str) -> bytes:
    return ctx(CTX_CONTENT) + message_id.encode()


@dataclass(frozen=True, slots=True)
class SealedContent:
    nonce: bytes
    ciphertext: bytes


def encrypt_content(
    plaintext: Mapping[str, Any], message_id: str, content_key: bytes, nonce: bytes
) -> SealedContent:
    ciphertext = aead_encrypt(
        canonical_json(plaintext), content_aad(message_id), nonce, content_key
    )
    return SealedContent(nonce, ciphertext)


def decrypt_content(
    ciphertext: bytes, message_id: str, content_key: bytes, nonce: bytes
) -> dict[str, Any]:
    """The plaintext object. ``CryptoError`` when the ciphertext does not authenticate;
    ``canonical.EncodingError`` when it does but is not an I-JSON object (the sender's fault,
    reported by recipients as ``malformed_content``)."""
    data = aead_decrypt(ciphertext, content_aad(message_id), nonce, content_key)
    plaintext = canonical.loads(data)
    if not isinstance(plaintext, dict):
        raise canonical.EncodingError(
            canonical.INVALID_JSON, "the plaintext is not a JSON object", None
        )
    return plaintext


def sign_envelope(envelope: Mapping[str, Any], sign_key: SigningKey) -> str:
    """Raises ``canonical.EncodingError`` for a value with no canonical form: never signed."""
    return b64u_encode(sign_key.sign(CTX_ENVELOPE, envelope_signing_bytes(envelope)))


def verifiable(message: Callable[[], bytes]) -> bytes:
    # A value with no canonical form was not signed by an honest signer: it cannot verify.
    try:
        return message()
    except canonical.EncodingError as exc:
        raise CryptoError(f"not in canonical form: {exc.reason}") from exc


def verify_envelope(envelope: Mapping[str, Any], sign_key: bytes) -> None:
    signature = envelope.get("signature")
    if not isinstance(signature, str):
        raise CryptoError("envelope has no signature")
    message = verifiable(lambda: envelope_signing_bytes(envelope))
    verify(sign_key, CTX_ENVELOPE, message, b64u_decode(signature))


# --- server events ---------------------------------------------------------------------------


def sign_server_event(body: Mapping[str, Any], server_key: SigningKey) -> str:
    return b64u_encode(server_key.sign(CTX_SERVER_EVENT, canonical_json(body)))


def verify_server_event(body: Mapping[str, Any], signature: str, server_public: bytes) -> None:
    message = verifiable(lambda: canonical_json(body))
    verify(server_public, CTX_SERVER_EVENT, message, b64u_decode(signature))
