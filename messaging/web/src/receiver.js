// Events for this device, checked before anyone sees them (messaging/client/receiving.py does
// the same): a message's envelope against its sender device's directory entry, then opened with
// this device's box key; receipts and notifications against the server's key.
//
// A check that fails for good gives an ``invalid`` event (shown, never trusted); a failure to
// reach the server while checking is thrown, so the event stays queued and comes again.
import {
  CryptoError,
  decryptContent,
  openSealed,
  parsePlaintext,
  verifyEnvelope,
  verifyLogCheckpoint,
} from "./crypto.js";
import { b64uDecode, b64uLength, EncodingError, isWellFormed } from "./encoding.js";
import {
  DEVICE_PATTERN,
  INS_PATTERN,
  KEY_WRAP_BYTES,
  MAX_RECIPIENTS,
  NONCE_BYTES,
  PRINCIPAL_PATTERN,
  SIGNATURE_BYTES,
  TIME_PATTERN,
  UUID_PATTERN,
} from "./protocol.js";
import { VerificationError } from "./session.js";

const ENVELOPE_FIELDS = new Set([
  "v", "id", "sender", "sender_device", "recipients", "created_at", "dossier", "nonce", "ciphertext", "signature",
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

function b64u(value, size, name) {
  if (typeof value !== "string" || (size !== null && value.length !== b64uLength(size))) {
    throw malformed(`${name} is malformed`);
  }
  try {
    return b64uDecode(value);
  } catch {
    throw malformed(`${name} is not canonical base64url`);
  }
}

function checkEnvelope(envelope) {
  if (!isObject(envelope)) throw malformed("the envelope is not an object");
  for (const name of Object.keys(envelope)) {
    if (!ENVELOPE_FIELDS.has(name)) throw malformed(`unknown envelope member ${name}`);
  }
  if (envelope.v !== 1) throw malformed("unknown envelope version");
  text(envelope.id, UUID_PATTERN, "id");
  text(envelope.sender, PRINCIPAL_PATTERN, "sender");
  text(envelope.sender_device, DEVICE_PATTERN, "sender_device");
  const { recipients } = envelope;
  if (!Array.isArray(recipients) || recipients.length < 1 || recipients.length > MAX_RECIPIENTS) {
    throw malformed("recipients are malformed");
  }
  recipients.forEach((r) => text(r, PRINCIPAL_PATTERN, "recipient"));
  text(envelope.created_at, TIME_PATTERN, "created_at");
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
  return {
    nonce: b64u(envelope.nonce, NONCE_BYTES, "nonce"),
    ciphertext: b64u(envelope.ciphertext, null, "ciphertext"),
    signature: b64u(envelope.signature, SIGNATURE_BYTES, "signature"),
  };
}

function attachmentOf(item) {
  if (!isObject(item) || typeof item.name !== "string" || typeof item.media_type !== "string") {
    throw new VerificationError("malformed_content", "an attachment is malformed");
  }
  if (typeof item.data === "string") {
    try {
      return { name: item.name, media_type: item.media_type, data: item.data, size: b64uDecode(item.data).length };
    } catch {
      throw new VerificationError("malformed_content", "an attachment's data is not base64url");
    }
  }
  if (isObject(item.blob)) {
    // A blob (DESIGN §5) is named, not carried: this client does not fetch blobs yet.
    return { name: item.name, media_type: item.media_type, blob: true, size: Number(item.blob.size) || 0 };
  }
  throw new VerificationError("malformed_content", "an attachment has neither data nor blob");
}

/** The plaintext as the client shows it; unknown members are ignored (DESIGN §5). */
export function contentOf(plaintext) {
  const { subject, body, attachments = [], in_reply_to: inReplyTo = null } = plaintext;
  const strings = [subject, body].every((v) => typeof v === "string" && isWellFormed(v));
  if (!strings || !Array.isArray(attachments) || !(inReplyTo === null || typeof inReplyTo === "string")) {
    throw new VerificationError("malformed_content", "the content is not {subject, body, attachments?}");
  }
  return { subject, body, attachments: attachments.map(attachmentOf), inReplyTo };
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
  const receivedAt = text(raw.received_at, TIME_PATTERN, "received_at");
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
  let content;
  try {
    content = contentOf(parsePlaintext(plaintext));
  } catch (error) {
    if (!(error instanceof CryptoError || error instanceof VerificationError)) throw error;
    throw new VerificationError("malformed_content", `message ${envelope.id}: ${error.message}`);
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
  text(receipt.at, TIME_PATTERN, "receipt.at");
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
