// Blobs from the browser's side (docs/protocol.md, "Blobs"), as messaging/client/blobs.py does
// them: a File sealed and uploaded in pieces, each kept until the server holds it and resumed
// from where the server's copy ends after a failure; a download (resumed with Range) checked
// chunk by chunk and against its digest, and handed over only once whole.
import { ApiError, urlPath } from "./api.js";
import { BlobOpener, sealedSize, sealFile, SEALED_CHUNK_BYTES } from "./blob-stream.js";
import { Digest, randomBytes } from "./crypto.js";
import { b64uDecode, b64uEncode, concat } from "./encoding.js";
import { KEY_BYTES } from "./protocol.js";

/** A file larger than this travels as a blob; smaller ones ride in the envelope (the SDK's). */
export const BLOB_THRESHOLD = 256 * 1024;
/** Ciphertext per PATCH (64 sealed chunks, 4 MiB and the tags): kept until the server holds it. */
const PIECE_BYTES = 64 * SEALED_CHUNK_BYTES;
/** Tries of one piece or one download before giving up (a cut connection, a 5xx). */
const ATTEMPTS = 6;
const RESUMABLE = new Set(["upload_interrupted", "upload_busy", "store_unavailable", "offset_mismatch"]);
// Downloaded plaintext is handed to a Blob this often, which the browser may keep on disk.
const FOLD_BYTES = 16 * 1024 * 1024;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const backoff = (attempt) => Math.min(8000, 250 * 2 ** attempt);

function resumable(error) {
  return error instanceof ApiError && (error.transient || RESUMABLE.has(error.code));
}

async function* pieces(sealed) {
  let parts = [];
  let size = 0;
  for await (const chunk of sealed) {
    parts.push(chunk);
    size += chunk.length;
    if (size >= PIECE_BYTES) {
      yield concat(...parts);
      parts = [];
      size = 0;
    }
  }
  if (size) yield concat(...parts);
}

async function blobStatus(session, id) {
  return session.authed("GET", urlPath("v1", "blobs", id));
}

async function patch(session, id, offset, data) {
  const response = await session.authedRaw("PATCH", urlPath("v1", "blobs", id), {
    headers: { "Upload-Offset": String(offset), "Content-Type": "application/octet-stream" },
    body: data,
  });
  // Read to the end, so that the connection is free for the next piece.
  await response.arrayBuffer();
}

/** Until the server holds the whole piece: after a failure, ask where its copy ends and send
 * the rest from there. */
async function sendPiece(session, id, offset, piece) {
  let held = offset;
  let failure = null;
  for (let attempt = 0; attempt < ATTEMPTS; attempt += 1) {
    try {
      await patch(session, id, held, piece.subarray(held - offset));
      return;
    } catch (error) {
      if (!resumable(error)) throw error;
      failure = error;
    }
    await sleep(backoff(attempt));
    try {
      held = (await blobStatus(session, id)).held;
    } catch (error) {
      if (!resumable(error)) throw error;
      failure = error;
      continue;
    }
    if (held >= offset + piece.length) return;
    if (held < offset) throw new ApiError(0, "blob_lost", `the server lost bytes of ${id}: upload again`);
  }
  throw failure;
}

/** Seal ``file``, upload it and complete it: its plaintext attachment
 * {name, media_type, blob: {id, size, digest, key}}. ``progress(done, total)`` as it goes. */
export async function uploadBlob(session, file, progress = () => {}) {
  const key = randomBytes(KEY_BYTES);
  const total = sealedSize(file.size);
  const { id } = await session.authed("POST", "/v1/blobs", { body: { size: total } });
  const digest = new Digest();
  let offset = 0;
  progress(0, total);
  for await (const piece of pieces(sealFile(file, key))) {
    digest.update(piece);
    await sendPiece(session, id, offset, piece);
    offset += piece.length;
    progress(offset, total);
  }
  const sum = b64uEncode(digest.digest());
  await session.authed("POST", urlPath("v1", "blobs", id, "complete"), { body: { digest: sum } });
  return {
    name: file.name,
    media_type: file.type || "application/octet-stream",
    blob: { id, size: file.size, digest: sum, key: b64uEncode(key) },
  };
}

/** Plaintext gathered into a Blob as it comes, so that the page holds little of it at once. */
class Gathered {
  #blob = new Blob([]);
  #parts = [];
  #size = 0;

  add(chunks) {
    for (const chunk of chunks) {
      this.#parts.push(chunk);
      this.#size += chunk.length;
    }
    if (this.#size >= FOLD_BYTES) this.#fold();
  }

  #fold() {
    this.#blob = new Blob([this.#blob, ...this.#parts]);
    this.#parts = [];
    this.#size = 0;
  }

  blob(type) {
    return new Blob([this.#blob, ...this.#parts], { type });
  }
}

/** The attachment's file as a Blob, once every chunk authenticated, the stream ended on its
 * final tag and the digest matched; VerificationError ``blob_refused`` otherwise. */
export async function downloadBlob(session, attachment, progress = () => {}) {
  const ref = attachment.blob;
  const opener = new BlobOpener(b64uDecode(ref.key), ref.size, b64uDecode(ref.digest));
  const total = sealedSize(ref.size);
  const gathered = new Gathered();
  const path = urlPath("v1", "blobs", ref.id, "content");
  progress(0, total);
  for (let attempt = 0; ; attempt += 1) {
    const start = opener.received;
    try {
      const headers = start ? { Range: `bytes=${start}-` } : {};
      const response = await session.authedRaw("GET", path, { headers });
      if (start && response.status !== 206) {
        throw new ApiError(response.status, "bad_response", "the server ignored the Range of a resume");
      }
      const reader = response.body.getReader();
      for (;;) {
        let read;
        try {
          read = await reader.read();
        } catch {
          throw new ApiError(0, "server_unreachable", `GET ${path}: the connection was cut`);
        }
        if (read.done) break;
        gathered.add(opener.feed(read.value));
        progress(opener.received, total);
      }
      break; // the answer ended: whether the blob did is for ``finish`` to say
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 0) || attempt === ATTEMPTS - 1) throw error;
    }
    await sleep(backoff(attempt));
  }
  opener.finish();
  return gathered.blob(attachment.media_type);
}
