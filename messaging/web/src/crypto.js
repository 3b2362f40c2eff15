// Every cryptographic operation of the client, as messaging/crypto.py does them (DESIGN §2–§5).
// Each signature and each AEAD's associated data starts with ctx(context): a context string and
// a zero byte, so a signature made for one purpose never passes for another.
import { CTX, KEY_BYTES, NONCE_BYTES, SIGNATURE_BYTES } from "./protocol.js";
import { canonicalJson, concat, utf8 } from "./encoding.js";
import { loadSodium } from "./sodium.js";

export class CryptoError extends Error {
  constructor(detail) {
    super(detail);
    this.name = "CryptoError";
  }
}

let S = null;

/** Load libsodium; every other function of this module needs it loaded. */
export async function readyCrypto() {
  S ??= await loadSodium();
  return S;
}

function lib() {
  if (S === null) throw new CryptoError("libsodium is not loaded: await readyCrypto() first");
  return S;
}

function checkSize(name, value, size) {
  if (!(value instanceof Uint8Array) || value.length !== size) {
    throw new CryptoError(`${name} must be ${size} bytes`);
  }
  return value;
}

export function ctx(context) {
  return concat(utf8(context), new Uint8Array([0]));
}

export function randomBytes(size) {
  return lib().randombytes_buf(size);
}

/** A keyed BLAKE2b digest (opaque local record names). */
export function keyedHash(key, data, size = 32) {
  return lib().crypto_generichash(size, data, key);
}

// --- signatures ------------------------------------------------------------------------------

export function signingKeyPair(seed) {
  const pair = lib().crypto_sign_seed_keypair(checkSize("sign key seed", seed, KEY_BYTES));
  return { seed, publicKey: pair.publicKey, secretKey: pair.privateKey };
}

export function sign(pair, context, message) {
  return lib().crypto_sign_detached(concat(ctx(context), message), pair.secretKey);
}

/** Throw CryptoError unless ``signature`` is Ed25519 over ctx(context) + message. */
export function verify(publicKey, context, message, signature) {
  checkSize("signature", signature, SIGNATURE_BYTES);
  checkSize("sign key", publicKey, KEY_BYTES);
  let valid = false;
  try {
    valid = lib().crypto_sign_verify_detached(signature, concat(ctx(context), message), publicKey);
  } catch {
    valid = false;
  }
  if (!valid) throw new CryptoError("bad signature");
}

// --- device keys (DESIGN §3) -----------------------------------------------------------------

export function deviceKeys(signSeed, boxSecret) {
  checkSize("box secret key", boxSecret, KEY_BYTES);
  return {
    sign: signingKeyPair(signSeed),
    box: { secretKey: boxSecret, publicKey: lib().crypto_scalarmult_base(boxSecret) },
  };
}

export function generateDeviceKeys() {
  return deviceKeys(randomBytes(KEY_BYTES), randomBytes(KEY_BYTES));
}

export function boxKeySignature(keys) {
  return sign(keys.sign, CTX.BOX_KEY, keys.box.publicKey);
}

export function enrollmentProof(keys, code) {
  return sign(keys.sign, CTX.ENROLL, utf8(code));
}

export function authSignature(keys, challenge) {
  return sign(keys.sign, CTX.AUTH, challenge);
}

export function verifyBoxKeyBinding(signKey, boxKey, signature) {
  verify(signKey, CTX.BOX_KEY, checkSize("box key", boxKey, KEY_BYTES), signature);
}

// --- sealed boxes and AEAD -------------------------------------------------------------------

export function seal(contentKey, boxPublicKey) {
  return lib().crypto_box_seal(contentKey, checkSize("box key", boxPublicKey, KEY_BYTES));
}

export function openSealed(sealed, box) {
  let key;
  try {
    key = lib().crypto_box_seal_open(sealed, box.publicKey, box.secretKey);
  } catch {
    throw new CryptoError("sealed key does not open with this box key");
  }
  return checkSize("content key", key, KEY_BYTES);
}

export function aeadEncrypt(plaintext, aad, nonce, key) {
  checkSize("nonce", nonce, NONCE_BYTES);
  checkSize("content key", key, KEY_BYTES);
  return lib().crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, aad, null, nonce, key);
}

export function aeadDecrypt(ciphertext, aad, nonce, key) {
  checkSize("nonce", nonce, NONCE_BYTES);
  checkSize("content key", key, KEY_BYTES);
  try {
    return lib().crypto_aead_xchacha20poly1305_ietf_decrypt(null, ciphertext, aad, nonce, key);
  } catch {
    throw new CryptoError("ciphertext does not authenticate");
  }
}

// --- blob streams (docs/protocol.md, "Blobs") ------------------------------------------------

export const STREAM_HEADER_BYTES = 24;
export const STREAM_TAG_BYTES = 17;

/** libsodium's secretstream under ctx(liaison/v1/blob): each chunk's nonce follows from the last
 * one's, so chunks cannot be reordered, dropped or replayed; the final tag on the last one tells a
 * whole stream from one cut at a chunk boundary (messaging/crypto.py StreamSealer). */
export class StreamSealer {
  #state;

  constructor(key) {
    const pushed = lib().crypto_secretstream_xchacha20poly1305_init_push(checkSize("blob key", key, KEY_BYTES));
    this.#state = pushed.state;
    this.header = pushed.header;
  }

  seal(chunk, final) {
    const s = lib();
    const tag = final ? s.crypto_secretstream_xchacha20poly1305_TAG_FINAL : s.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE;
    return s.crypto_secretstream_xchacha20poly1305_push(this.#state, chunk, ctx(CTX.BLOB), tag);
  }
}

/** Opens, in order, what ``StreamSealer`` sealed: ``open`` gives {chunk, final}, or throws
 * CryptoError for a chunk tampered, reordered, from another stream or with an odd tag. */
export class StreamOpener {
  #state;

  constructor(key, header) {
    this.#state = lib().crypto_secretstream_xchacha20poly1305_init_pull(
      checkSize("stream header", header, STREAM_HEADER_BYTES), checkSize("blob key", key, KEY_BYTES));
  }

  open(sealed) {
    const s = lib();
    let pulled = false;
    try {
      pulled = s.crypto_secretstream_xchacha20poly1305_pull(this.#state, sealed, ctx(CTX.BLOB));
    } catch {
      pulled = false; // shorter than a tag
    }
    if (!pulled) throw new CryptoError("a blob chunk does not authenticate");
    const final = pulled.tag === s.crypto_secretstream_xchacha20poly1305_TAG_FINAL;
    if (!final && pulled.tag !== s.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE) {
      throw new CryptoError(`a blob chunk carries the unexpected tag ${pulled.tag}`);
    }
    return { chunk: pulled.message, final };
  }
}

/** Unkeyed BLAKE2b-256, fed in pieces: a blob's digest over its whole ciphertext. */
export class Digest {
  #state = lib().crypto_generichash_init(null, KEY_BYTES);

  update(data) {
    lib().crypto_generichash_update(this.#state, data);
  }

  digest() {
    return lib().crypto_generichash_final(this.#state, KEY_BYTES);
  }
}

// --- envelopes and server events (DESIGN §5) -------------------------------------------------

const UNSIGNED_FIELDS = new Set(["keys", "signature"]);

/** What the sender's device signs: the canonical envelope without keys and signature. */
export function envelopeSigningBytes(envelope) {
  const signed = {};
  for (const [name, value] of Object.entries(envelope)) {
    if (!UNSIGNED_FIELDS.has(name)) signed[name] = value;
  }
  return canonicalJson(signed);
}

export function contentAad(messageId) {
  return concat(ctx(CTX.CONTENT), utf8(messageId));
}

export function encryptContent(plaintext, messageId, contentKey, nonce) {
  return aeadEncrypt(canonicalJson(plaintext), contentAad(messageId), nonce, contentKey);
}

/** The decrypted plaintext object; CryptoError when it does not authenticate. */
export function decryptContent(ciphertext, messageId, contentKey, nonce) {
  return aeadDecrypt(ciphertext, contentAad(messageId), nonce, contentKey);
}

export function signEnvelope(envelope, pair) {
  return sign(pair, CTX.ENVELOPE, envelopeSigningBytes(envelope));
}

export function verifyEnvelope(envelope, signKey, signature) {
  verify(signKey, CTX.ENVELOPE, envelopeSigningBytes(envelope), signature);
}

export function verifyServerEvent(body, signature, serverKey) {
  verify(serverKey, CTX.SERVER_EVENT, canonicalJson(body), signature);
}

// --- passphrase ------------------------------------------------------------------------------

export const PWHASH = Object.freeze({ alg: "argon2id13" });

/** A 32-byte key from a passphrase (Argon2id, libsodium's crypto_pwhash). */
export function passphraseKey(passphrase, salt, opslimit, memlimit) {
  const s = lib();
  return s.crypto_pwhash(
    KEY_BYTES,
    utf8(passphrase),
    salt,
    opslimit,
    memlimit,
    s.crypto_pwhash_ALG_ARGON2ID13,
  );
}

/** Argon2id at libsodium's "interactive" level: 2 passes over 64 MiB, about 0.4 s in Chromium
 * here (OWASP's floor is 2 passes over 19 MiB). "Moderate" (256 MiB) took 1.4 s on every unlock.
 * The parameters are stored with each record, so raising them later keeps old records readable. */
export function pwhashDefaults() {
  const s = lib();
  return {
    saltBytes: s.crypto_pwhash_SALTBYTES,
    opslimit: s.crypto_pwhash_OPSLIMIT_INTERACTIVE,
    memlimit: s.crypto_pwhash_MEMLIMIT_INTERACTIVE,
  };
}

// --- access-log checkpoints (DESIGN §4) ------------------------------------------------------

const CHECKPOINT_FIELDS = ["at", "head", "ins", "seq"];

/** What the server signs: the canonical JSON of exactly {ins, seq, head, at}. */
export function checkpointSigningBytes(checkpoint) {
  const names = Object.keys(checkpoint).sort();
  if (names.join() !== CHECKPOINT_FIELDS.join()) {
    throw new CryptoError("a checkpoint has exactly the members at, head, ins, seq");
  }
  if (!Number.isSafeInteger(checkpoint.seq) || checkpoint.seq < 0) {
    throw new CryptoError("a checkpoint's seq is an integer from 0 to 2^53-1");
  }
  if (!["ins", "head", "at"].every((name) => typeof checkpoint[name] === "string")) {
    throw new CryptoError("a checkpoint's ins, head and at are strings");
  }
  return canonicalJson(checkpoint);
}

export function verifyLogCheckpoint(checkpoint, signature, serverKey) {
  verify(serverKey, CTX.LOG_CHECKPOINT, checkpointSigningBytes(checkpoint), signature);
}
