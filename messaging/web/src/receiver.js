// Events for this device, checked before anyone sees them (messaging/client/receiving.py does
// the same): a message's envelope against its sender device's directory entry, then opened with
// this device's box key; receipts and notifications against the server's key.
//
// A check that fails for good gives an ``invalid`` event (shown, never trusted); a failure to
// reach the server while checking is thrown, so the event stays queued and comes again.
import { CryptoError, decryptContent, openSealed, verifyEnvelope, verifyLogCheckpoint } from "./crypto.js";
import { b64uDecode, checkTime, EncodingError } from "./encoding.js";
import { readJson } from "./json.js";
import {
  BLOB_ID_PATTERN,
  DEVICE_PATTERN,
  KEY_BYTES,
  INS_PATTERN,
  KEY_WRAP_BYTES,
  MAX_BLOBS,
  MAX_RECIPIENTS,
  NONCE_BYTES,
  PRINCIPAL_PATTERN,
  SIGNATURE_BYTES,
  UUID_PATTERN,
} from "./protocol.js";
import { VerificationError } from "./session.js";

const ENVELOPE_FIELDS = new Set([
  "v", "id", "sender", "sender_device", "recipients", "created_at", "dossier", "blobs", "nonce", "ciphertext",
  "signature",
]);
const DOSSIER_FIELDS = new Set(["ins", "type", "title", "masked", "hidden_from_holder", "invisible_to_legal_representatives"]);
const DOSSIER_FLAGS = ["masked", "hidden_from_holder", "invisible_to_legal_representatives"];

function malformed(detail) {
  return new VerificationError("malformed_event", detail);
}

function isObject(value) {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function text(value, pattern, name) {
  if (typeof value !== "string" || (pattern && !pattern.test(value))) throw malformed(`${name} is malformed`);
  return value;
}

function time(value, name) {
  try {
    return checkTime(value);
  } catch (error) {
    throw new VerificationError(error.code, `${name} is not a protocol time`);
  }
}

function b64u(value, size, name) {
  if (typeof value !== "string") throw malformed(`${name} is malformed`);
  let bytes;
  try {
    bytes = b64uDecode(value);
  } catch (error) {
    throw new VerificationError(error.code, `${name} is not canonical base64url`);
  }
  if (size !== null && bytes.length !== size) throw malformed(`${name} is not ${size} bytes`);
  return bytes;
}

function checkEnvelope(envelope) {
  if (!isObject(envelope)) throw malformed("the envelope is not an object");
  for (const name of Object.keys(envelope)) {
    if (!ENVELOPE_FIELDS.has(name)) throw malformed(`unknown envelope member ${name}`);
  }
  if (envelope.v !== 1) {
    // Only the integer token 1 is version 1: 1.0, true or "1" are refused as spellings.
    const integer = Number.isSafeInteger(envelope.v) && !Object.is(envelope.v, -0);
    throw new VerificationError(integer ? "unsupported_version" : "non_canonical", "v is not the integer 1");
  }
  text(envelope.id, UUID_PATTERN, "id");
  text(envelope.sender, PRINCIPAL_PATTERN, "sender");
  text(envelope.sender_device, DEVICE_PATTERN, "sender_device");
  const { recipients } = envelope;
  if (!Array.isArray(recipients) || recipients.length < 1 || recipients.length > MAX_RECIPIENTS) {
    throw malformed("recipients are malformed");
  }
  recipients.forEach((r) => text(r, PRINCIPAL_PATTERN, "recipient"));
  time(envelope.created_at, "created_at");
  const { dossier } = envelope;
  if (dossier !== undefined && dossier !== null) {
    if (!isObject(dossier) || Object.keys(dossier).some((k) => !DOSSIER_FIELDS.has(k))) {
      throw malformed("the dossier header is malformed");
    }
    text(dossier.ins, INS_PATTERN, "dossier.ins");
    text(dossier.type, null, "dossier.type");
    text(dossier.title, null, "dossier.title");
    for (const flag of DOSSIER_FLAGS) {
      if (dossier[flag] !== undefined && dossier[flag] !== null && typeof dossier[flag] !== "boolean") {
        throw malformed(`dossier.${flag} is malformed`);
      }
    }
  }
  const { blobs } = envelope;
  if (blobs !== undefined) {
    // The blob ids the sender declared (signed): the only ones this message's devices may read.
    if (!Array.isArray(blobs) || blobs.length < 1 || blobs.length > MAX_BLOBS) throw malformed("blobs are malformed");
    blobs.forEach((b) => text(b, BLOB_ID_PATTERN, "blob id"));
    if (new Set(blobs).size !== blobs.length) throw malformed("blobs are repeated");
  }
  return {
    nonce: b64u(envelope.nonce, NONCE_BYTES, "nonce"),
    ciphertext: b64u(envelope.ciphertext, null, "ciphertext"),
    signature: b64u(envelope.signature, SIGNATURE_BYTES, "signature"),
  };
}

function unreadable(detail) {
  return new VerificationError("malformed_content", detail);
}

function attachmentOf(item) {
  if (!isObject(item) || typeof item.name !== "string" || typeof item.media_type !== "string") {
    throw unreadable("an attachment is malformed");
  }
  if (typeof item.data === "string") {
    try {
      return { name: item.name, media_type: item.media_type, data: item.data, size: b64uDecode(item.data).length };
    } catch {
      throw unreadable("an attachment's data is not canonical base64url");
    }
  }
  if (isObject(item.blob)) {
    // A blob (docs/protocol.md, "Blobs") is named, not carried: fetched and checked on demand.
    const { id, size, digest, key } = item.blob;
    const valid = typeof id === "string" && BLOB_ID_PATTERN.test(id) && Number.isSafeInteger(size) && size >= 0
      && [digest, key].every((value) => {
        try {
          return typeof value === "string" && b64uDecode(value).length === KEY_BYTES;
        } catch {
          return false;
        }
      });
    if (!valid) throw unreadable("an attachment's blob reference is malformed");
    return { name: item.name, media_type: item.media_type, size, blob: { id, size, digest, key } };
  }
  throw unreadable("an attachment has neither data nor blob");
}

const CONTENT_MEMBERS = new Set(["subject", "body", "attachments", "in_reply_to"]);

/** Decrypted plaintext bytes as the client shows them (DESIGN §5): members this version does
 * not know are kept in ``extra`` and not interpreted; anything unreadable is
 * ``malformed_content``, which is shown and acked (one bad message never blocks a queue). */
export function readPlaintext(bytes) {
  let plaintext;
  try {
    plaintext = readJson(bytes);
  } catch (error) {
    throw unreadable(`the content is not a JSON document (${error.code})`);
  }
  if (!isObject(plaintext)) throw unreadable("the content is not a JSON object");
  const { subject, body, attachments = [], in_reply_to: inReplyTo = null } = plaintext;
  if (typeof subject !== "string" || typeof body !== "string") {
    throw unreadable("the content has no subject or body");
  }
  if (!Array.isArray(attachments) || !(inReplyTo === null || typeof inReplyTo === "string")) {
    throw unreadable("the content's attachments or in_reply_to are malformed");
  }
  const extra = Object.fromEntries(Object.entries(plaintext).filter(([name]) => !CONTENT_MEMBERS.has(name)));
  return { subject, body, attachments: attachments.map(attachmentOf), inReplyTo, extra };
}

/** A WebSocket frame's event, read strictly first: a frame that breaks the reading rules is an
 * invalid event (with its cursor when one can be found, so that it is acked, not redelivered
 * forever). */
export async function verifyFrame(session, data) {
  let raw;
  try {
    raw = readJson(data);
  } catch (error) {
    let cursor = null;
    try {
      const loose = JSON.parse(data);
      cursor = typeof loose?.cursor === "string" ? loose.cursor : null;
    } catch {
      // not even loosely JSON
    }
    return { kind: "invalid", cursor, eventType: null, code: error.code, detail: error.message, raw: {} };
  }
  return verifyEvent(session, raw);
}

/** A received event, verified: {kind: "message" | "receipt" | "notification" | "invalid", …}. */
export async function verifyEvent(session, raw) {
  const cursor = isObject(raw) && typeof raw.cursor === "string" ? raw.cursor : null;
  const type = isObject(raw) && typeof raw.type === "string" ? raw.type : null;
  try {
    if (cursor === null) throw malformed("an event has no cursor");
    if (type === "message") return await verifyMessage(session, raw, cursor);
    if (type === "receipt") return await verifyReceipt(session, raw, cursor);
    if (type === "notification") return await verifyNotification(session, raw, cursor);
    throw new VerificationError("unknown_event_type", `unknown event type ${type}`);
  } catch (error) {
    if (error instanceof VerificationError) {
      return { kind: "invalid", cursor, eventType: type, code: error.code, detail: error.message, raw };
    }
    throw error;
  }
}

async function verifyMessage(session, raw, cursor) {
  const { envelope } = raw;
  const binary = checkEnvelope(envelope);
  const wrap = b64u(raw.key, KEY_WRAP_BYTES, "key");
  const receivedAt = time(raw.received_at, "received_at");
  const device = await session.senderDevice(envelope.sender, envelope.sender_device, receivedAt);
  try {
    verifyEnvelope(envelope, b64uDecode(device.sign_key), binary.signature);
  } catch (error) {
    if (!(error instanceof CryptoError || error instanceof EncodingError)) throw error;
    throw new VerificationError("bad_signature", `message ${envelope.id} is not signed by ${device.id}`);
  }
  let plaintext;
  try {
    const contentKey = openSealed(wrap, session.identity.keys.box);
    plaintext = decryptContent(binary.ciphertext, envelope.id, contentKey, binary.nonce);
  } catch (error) {
    if (!(error instanceof CryptoError)) throw error;
    throw new VerificationError("undecryptable", `message ${envelope.id} does not open`);
  }
  const content = readPlaintext(plaintext);
  const declared = new Set(envelope.blobs ?? []);
  const unbound = content.attachments.filter((a) => a.blob && !declared.has(a.blob.id)).map((a) => a.blob.id);
  if (unbound.length) {
    // The server lets this message's devices read only the blobs its envelope names.
    throw unreadable(`the content names blobs the envelope does not: ${unbound.join(", ")}`);
  }
  return {
    kind: "message",
    cursor,
    id: envelope.id,
    sender: envelope.sender,
    senderDevice: envelope.sender_device,
    recipients: envelope.recipients,
    createdAt: envelope.created_at,
    receivedAt,
    dossier: envelope.dossier ?? null,
    ...content,
  };
}

async function verifyReceipt(session, raw, cursor) {
  const { receipt, signature } = raw;
  if (!isObject(receipt)) throw malformed("the receipt is not an object");
  text(receipt.message_id, UUID_PATTERN, "receipt.message_id");
  text(receipt.recipient, PRINCIPAL_PATTERN, "receipt.recipient");
  text(receipt.device, DEVICE_PATTERN, "receipt.device");
  text(receipt.status, null, "receipt.status");
  time(receipt.at, "receipt.at");
  b64u(signature, SIGNATURE_BYTES, "signature");
  await session.verifyServerSignature(receipt, signature);
  return {
    kind: "receipt",
    cursor,
    messageId: receipt.message_id,
    recipient: receipt.recipient,
    device: receipt.device,
    status: receipt.status,
    at: receipt.at,
  };
}

async function verifyNotification(session, raw, cursor) {
  const { notification, signature } = raw;
  if (!isObject(notification) || typeof notification.event !== "string") {
    throw malformed("a notification names no event");
  }
  b64u(signature, SIGNATURE_BYTES, "signature");
  await session.verifyServerSignature(notification, signature);
  if (notification.checkpoint !== undefined) await verifyCheckpoint(session, notification);
  return { kind: "notification", cursor, event: notification.event, notification };
}

/** A dossier notification's access-log checkpoint (the log's state after the change it reports)
 * must be the server's, for the same dossier: the holder keeps it as proof. */
async function verifyCheckpoint(session, notification) {
  const { checkpoint } = notification;
  if (!isObject(checkpoint) || checkpoint.ins !== notification.ins) {
    throw new VerificationError("bad_checkpoint", "the notification's checkpoint is for another dossier");
  }
  const { signature, ...signed } = checkpoint;
  const serverKey = b64uDecode((await session.serverInfo()).sign_key);
  try {
    verifyLogCheckpoint(signed, b64u(signature, SIGNATURE_BYTES, "checkpoint.signature"), serverKey);
  } catch (error) {
    if (error instanceof VerificationError) throw error;
    throw new VerificationError("bad_checkpoint", "the notification's checkpoint is not signed by the server");
  }
}
