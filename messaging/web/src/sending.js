// Sending (DESIGN §5), as messaging/client/device.py does it: encrypt the content under a fresh
// key, wrap that key for every active device of the recipients (and the sender's other devices,
// and the dossier store when the message is linked to a dossier), sign, post; on 409
// stale_devices, refresh the directory and try once more under the same id.
import { ApiError } from "./api.js";
import { encryptContent, randomBytes, seal, signEnvelope } from "./crypto.js";
import { b64uDecode, b64uEncode, isWellFormed } from "./encoding.js";
import { BLOB_THRESHOLD, uploadBlob } from "./blobs.js";
import { DOSSIER_KEY, KEY_BYTES, MAX_BLOBS, NONCE_BYTES } from "./protocol.js";

// Attachments ride inside the envelope up to this many bytes in all: base64url twice (the data
// in the plaintext, then the ciphertext) makes 1.78 times as many, under the server's 1 MiB
// envelope default. Each file over BLOB_THRESHOLD (the SDK's) travels as a blob instead, and so
// does one that would take the inline ones past this limit.
export const INLINE_ATTACHMENTS_LIMIT = 512 * 1024;

export class SendError extends Error {
  constructor(code, detail) {
    super(detail);
    this.name = "SendError";
    this.code = code;
  }
}

export function newMessageId() {
  const bytes = randomBytes(16);
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** What a file becomes in the plaintext: its data inline when it is at most BLOB_THRESHOLD
 * bytes and fits what is left of the inline ``budget``, else a blob uploaded now (``progress``
 * reports the upload). */
export async function planAttachment(session, file, budget, progress) {
  if (file.size > BLOB_THRESHOLD || file.size > budget) return uploadBlob(session, file, progress);
  const data = new Uint8Array(await file.arrayBuffer());
  return { name: file.name, media_type: file.type || "application/octet-stream", data: b64uEncode(data) };
}

/** The plaintext's attachments, as the SDK orders them: the inline ones, then the blobs.
 * ``progress(file, done, total)`` reports each blob's upload. */
export async function planAttachments(session, files, progress = () => {}) {
  if (files.filter((f) => f.size > BLOB_THRESHOLD).length > MAX_BLOBS) {
    throw new SendError("too_many_blobs", `at most ${MAX_BLOBS} large files in one message`);
  }
  let budget = INLINE_ATTACHMENTS_LIMIT;
  const inline = [];
  const blobs = [];
  for (const file of files) {
    const planned = await planAttachment(session, file, budget, (done, total) => progress(file, done, total));
    if (planned.blob) {
      blobs.push(planned);
    } else {
      inline.push(planned);
      budget -= file.size;
    }
  }
  return [...inline, ...blobs];
}

function plaintextOf({ subject, body, attachments, inReplyTo }) {
  for (const value of [subject, body, ...attachments.map((a) => a.name)]) {
    if (!isWellFormed(value)) throw new SendError("unpaired_surrogate", "a text holds an unpaired surrogate");
  }
  const plaintext = { subject, body, attachments };
  if (inReplyTo) plaintext.in_reply_to = inReplyTo;
  return plaintext;
}

function dossierHeader(dossier) {
  if (!dossier) return null;
  const header = { ins: dossier.ins, type: dossier.type, title: dossier.title };
  for (const flag of ["masked", "hidden_from_holder", "invisible_to_legal_representatives"]) {
    if (dossier[flag]) header[flag] = true;
  }
  return header;
}

async function boxKeys(session, recipients, { copies, refresh, dossier }) {
  const me = session.identity.principal;
  const withCopies = copies && !recipients.includes(me);
  const wanted = withCopies ? [...recipients, me] : recipients;
  const entries = await Promise.all(wanted.map((p) => session.directory(p, { refresh })));
  const keys = new Map();
  const owners = new Map();
  for (const entry of entries.slice(0, recipients.length)) {
    for (const device of entry.devices) {
      keys.set(device.id, b64uDecode(device.box_key));
      owners.set(device.id, device.owner);
    }
  }
  if (keys.size === 0 && !dossier) {
    throw new SendError("no_recipient_devices", "no recipient has an active device");
  }
  if (withCopies) {
    for (const device of entries.at(-1).devices) {
      if (device.id !== session.identity.deviceId) keys.set(device.id, b64uDecode(device.box_key));
    }
  }
  return { keys, owners };
}

/** The signed envelope with its key wraps. ``contentKey``, ``nonce`` and ``sealer`` are fresh
 * and random unless given (the conformance vectors fix them to reproduce their bytes). */
export function buildEnvelope({
  identity, messageId, recipients, createdAt, plaintext, boxKeys: wraps, dossier, dossierKey,
  contentKey = randomBytes(KEY_BYTES), nonce = randomBytes(NONCE_BYTES), sealer = seal,
}) {
  const envelope = {
    v: 1,
    id: messageId,
    sender: identity.principal,
    sender_device: identity.deviceId,
    recipients,
    created_at: createdAt,
    nonce: b64uEncode(nonce),
    ciphertext: b64uEncode(encryptContent(plaintext, messageId, contentKey, nonce)),
  };
  // Signers sign exactly what they send: null is sent as null, undefined not at all.
  if (dossier !== undefined) envelope.dossier = dossier;
  // Signed: the server lets the message's devices read exactly these blobs.
  const blobs = (plaintext.attachments ?? []).filter((a) => a.blob).map((a) => a.blob.id);
  if (blobs.length) envelope.blobs = blobs;
  const keys = {};
  for (const [device, boxKey] of wraps) keys[device] = b64uEncode(sealer(contentKey, boxKey, device));
  if (dossier) keys[DOSSIER_KEY] = b64uEncode(sealer(contentKey, dossierKey, DOSSIER_KEY));
  envelope.signature = b64uEncode(signEnvelope(envelope, identity.keys.sign));
  envelope.keys = keys;
  return envelope;
}

/** Send one message; answers the server's {id, accepted_at, dossier} and the recipient devices
 * it was sealed for ({principal, device}: each should come back as a delivery receipt). */
export async function send(session, message) {
  const recipients = [...new Set(message.recipients)];
  const plaintext = plaintextOf({ attachments: [], inReplyTo: null, ...message });
  const dossier = dossierHeader(message.dossier);
  const dossierKey = dossier ? b64uDecode((await session.serverInfo()).dossier_key) : null;
  const messageId = message.messageId ?? newMessageId();
  const createdAt = new Date().toISOString();
  const attempt = async (refresh) => {
    const { keys, owners } = await boxKeys(session, recipients, {
      copies: message.copyToOwnDevices ?? true, refresh, dossier,
    });
    const envelope = buildEnvelope({
      identity: session.identity, messageId, recipients, createdAt, plaintext, boxKeys: keys, dossier, dossierKey,
    });
    const answer = await session.authed("POST", "/v1/messages", { body: envelope });
    const deliveries = [...owners].map(([device, principal]) => ({ principal, device }));
    return { ...answer, deliveries, dossierHeader: dossier };
  };
  try {
    return await attempt(false);
  } catch (error) {
    if (!(error instanceof ApiError && error.code === "stale_devices")) throw error;
    // Nothing was accepted: a new envelope (new content key) under the same id is fine.
    return attempt(true);
  }
}
