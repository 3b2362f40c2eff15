// The device's secrets at rest, in IndexedDB, and nowhere else.
//
// The identity record holds the device's two secret keys and a random vault key, encrypted with
// XChaCha20-Poly1305 under a key derived from the passphrase (Argon2id, crypto_pwhash); only the
// principal, the device id and the KDF parameters are readable without it. Received messages,
// receipts and notifications are vault records: each encrypted under the vault key, filed under
// an opaque keyed hash of its kind and id. Nothing is written to localStorage, the URL or logs,
// and the passphrase and the derived keys live in memory only.
import {
  aeadDecrypt,
  aeadEncrypt,
  CryptoError,
  ctx,
  deviceKeys,
  keyedHash,
  passphraseKey,
  pwhashDefaults,
  PWHASH,
  randomBytes,
} from "./crypto.js";
import { b64uDecode, b64uEncode, canonicalJson, concat, fromUtf8, utf8 } from "./encoding.js";
import { KEY_BYTES, NONCE_BYTES } from "./protocol.js";

const DB_NAME = "liaison";
const DB_VERSION = 1;
const DEVICE_STORE = "device";
const VAULT_STORE = "vault";
const IDENTITY = "identity";
const CTX_KEYSTORE = "liaison/web/keystore";
const CTX_VAULT = "liaison/web/vault";
export const MIN_PASSPHRASE = 12;

export class KeystoreError extends Error {
  constructor(code, detail) {
    super(detail);
    this.name = "KeystoreError";
    this.code = code;
  }
}

function done(requestOrTransaction) {
  return new Promise((resolve, reject) => {
    if (requestOrTransaction instanceof IDBTransaction) {
      requestOrTransaction.oncomplete = () => resolve();
      requestOrTransaction.onabort = () => reject(requestOrTransaction.error);
      requestOrTransaction.onerror = () => reject(requestOrTransaction.error);
    } else {
      requestOrTransaction.onsuccess = () => resolve(requestOrTransaction.result);
      requestOrTransaction.onerror = () => reject(requestOrTransaction.error);
    }
  });
}

function openDatabase() {
  const opening = indexedDB.open(DB_NAME, DB_VERSION);
  opening.onupgradeneeded = () => {
    const db = opening.result;
    if (!db.objectStoreNames.contains(DEVICE_STORE)) db.createObjectStore(DEVICE_STORE);
    if (!db.objectStoreNames.contains(VAULT_STORE)) db.createObjectStore(VAULT_STORE);
  };
  return done(opening);
}

async function readOne(db, store, key) {
  return done(db.transaction(store).objectStore(store).get(key));
}

function identityAad(record) {
  return concat(ctx(CTX_KEYSTORE), utf8(`${record.principal}/${record.device_id}`));
}

/** What anyone with this browser profile can read: who this device is, not its secrets. */
export async function storedDevice() {
  const db = await openDatabase();
  try {
    const record = await readOne(db, DEVICE_STORE, IDENTITY);
    return record ? { principal: record.principal, deviceId: record.device_id, name: record.name } : null;
  } finally {
    db.close();
  }
}

/** Encrypt and store a newly enrolled device's secrets; returns it unlocked. */
export async function saveDevice({ principal, deviceId, name, keys }, passphrase) {
  if (passphrase.length < MIN_PASSPHRASE) {
    throw new KeystoreError("weak_passphrase", `at least ${MIN_PASSPHRASE} characters`);
  }
  const params = pwhashDefaults();
  const salt = randomBytes(params.saltBytes);
  const vaultKey = randomBytes(KEY_BYTES);
  const record = {
    v: 1,
    principal,
    device_id: deviceId,
    name,
    kdf: { alg: PWHASH.alg, opslimit: params.opslimit, memlimit: params.memlimit, salt: b64uEncode(salt) },
  };
  const secrets = canonicalJson({
    sign_seed: b64uEncode(keys.sign.seed),
    box_secret: b64uEncode(keys.box.secretKey),
    vault_key: b64uEncode(vaultKey),
  });
  const nonce = randomBytes(NONCE_BYTES);
  const wrapping = passphraseKey(passphrase, salt, params.opslimit, params.memlimit);
  record.nonce = b64uEncode(nonce);
  record.ciphertext = b64uEncode(aeadEncrypt(secrets, identityAad(record), nonce, wrapping));
  const db = await openDatabase();
  const tx = db.transaction([DEVICE_STORE, VAULT_STORE], "readwrite");
  tx.objectStore(VAULT_STORE).clear();
  tx.objectStore(DEVICE_STORE).put(record, IDENTITY);
  await done(tx);
  return { identity: { principal, deviceId, name, keys }, vault: new Vault(db, vaultKey) };
}

/** The stored device, unlocked; KeystoreError("wrong_passphrase") when it does not open. */
export async function unlock(passphrase) {
  const db = await openDatabase();
  const record = await readOne(db, DEVICE_STORE, IDENTITY);
  if (!record) {
    db.close();
    throw new KeystoreError("no_device", "no device is stored in this browser");
  }
  let secrets;
  try {
    const { kdf } = record;
    if (kdf.alg !== PWHASH.alg) throw new CryptoError(`unknown KDF ${kdf.alg}`);
    const wrapping = passphraseKey(passphrase, b64uDecode(kdf.salt), kdf.opslimit, kdf.memlimit);
    const plaintext = aeadDecrypt(b64uDecode(record.ciphertext), identityAad(record), b64uDecode(record.nonce), wrapping);
    secrets = JSON.parse(fromUtf8(plaintext));
  } catch {
    db.close();
    throw new KeystoreError("wrong_passphrase", "the passphrase does not open this device's keys");
  }
  const keys = deviceKeys(b64uDecode(secrets.sign_seed), b64uDecode(secrets.box_secret));
  const identity = { principal: record.principal, deviceId: record.device_id, name: record.name, keys };
  return { identity, vault: new Vault(db, b64uDecode(secrets.vault_key)) };
}

/** Delete everything this client stored in the browser. */
export async function forget() {
  await done(indexedDB.deleteDatabase(DB_NAME));
}

/** Encrypted records of the unlocked device: messages, receipts, notifications. */
export class Vault {
  #db;
  #key;

  constructor(db, key) {
    this.#db = db;
    this.#key = key;
  }

  #name(kind, id) {
    return b64uEncode(keyedHash(this.#key, utf8(`${kind}\u0000${id}`)));
  }

  #aad(name) {
    return concat(ctx(CTX_VAULT), utf8(name));
  }

  async put(kind, id, value) {
    const name = this.#name(kind, id);
    const nonce = randomBytes(NONCE_BYTES);
    const sealed = aeadEncrypt(utf8(JSON.stringify(value)), this.#aad(name), nonce, this.#key);
    const tx = this.#db.transaction(VAULT_STORE, "readwrite");
    tx.objectStore(VAULT_STORE).put({ kind, nonce, sealed }, name);
    await done(tx);
  }

  #open(name, record) {
    return JSON.parse(fromUtf8(aeadDecrypt(record.sealed, this.#aad(name), record.nonce, this.#key)));
  }

  async get(kind, id) {
    const name = this.#name(kind, id);
    const record = await readOne(this.#db, VAULT_STORE, name);
    return record ? this.#open(name, record) : null;
  }

  async has(kind, id) {
    const name = this.#name(kind, id);
    return (await done(this.#db.transaction(VAULT_STORE).objectStore(VAULT_STORE).count(name))) > 0;
  }

  /** Every record of ``kind``, decrypted. */
  async all(kind) {
    const store = this.#db.transaction(VAULT_STORE).objectStore(VAULT_STORE);
    const [names, records] = await Promise.all([done(store.getAllKeys()), done(store.getAll())]);
    const values = [];
    records.forEach((record, index) => {
      if (record.kind === kind) values.push(this.#open(names[index], record));
    });
    return values;
  }

  close() {
    this.#db.close();
  }
}
