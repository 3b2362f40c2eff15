// A blob's ciphertext, made and opened in constant memory (docs/protocol.md, "Blobs"), as
// messaging/blob_stream.py does it: the 24-byte secretstream header, then the file in chunks of
// CHUNK_BYTES (the last one shorter, possibly empty, and the only one with the final tag), each
// sealed with a 17-byte tag. Its digest is BLAKE2b-256 over the whole ciphertext, header included.
import { CryptoError, Digest, STREAM_HEADER_BYTES, STREAM_TAG_BYTES, StreamOpener, StreamSealer } from "./crypto.js";
import { concat } from "./encoding.js";
import { VerificationError } from "./session.js";

/** Plaintext per secretstream chunk: every implementation must use this size. */
export const CHUNK_BYTES = 64 * 1024;
export const SEALED_CHUNK_BYTES = CHUNK_BYTES + STREAM_TAG_BYTES;
// A File is read 16 chunks (1 MiB) at a time: few reads, and little held at once.
const CHUNKS_PER_READ = 16;

/** Chunks of a ``size``-byte file: an empty file still has its one (final, empty) chunk. */
export function chunkCount(size) {
  return Math.max(1, Math.ceil(size / CHUNK_BYTES));
}

/** Bytes of ciphertext for ``size`` bytes of plaintext: what the upload declares. */
export function sealedSize(size) {
  return STREAM_HEADER_BYTES + chunkCount(size) * STREAM_TAG_BYTES + size;
}

export function blobRefused(detail) {
  return new VerificationError("blob_refused", detail);
}

/** The ciphertext of ``file`` (a File or Blob), one sealed chunk at a time, the header first;
 * the file is read with ``slice()``, a few chunks at a time, never whole. */
export async function* sealFile(file, key) {
  const sealer = new StreamSealer(key);
  yield sealer.header;
  const last = chunkCount(file.size) - 1;
  for (let first = 0; first <= last; first += CHUNKS_PER_READ) {
    const start = first * CHUNK_BYTES;
    const end = Math.min(file.size, start + CHUNKS_PER_READ * CHUNK_BYTES);
    const read = new Uint8Array(await file.slice(start, end).arrayBuffer());
    if (read.length !== end - start) throw new Error("the file changed while it was read");
    for (let index = first; index <= Math.min(last, first + CHUNKS_PER_READ - 1); index += 1) {
      const at = (index - first) * CHUNK_BYTES;
      yield sealer.seal(read.subarray(at, Math.min(read.length, at + CHUNK_BYTES)), index === last);
    }
  }
}

/** Turns a blob's ciphertext, fed in pieces of any size, into its plaintext, checking each chunk
 * as it completes; ``finish`` checks that the stream ended where it should and the digest. */
export class BlobOpener {
  #key;
  #size;
  #digest;
  #opener = null;
  #pending = new Uint8Array(0);
  #hash = new Digest();
  #opened = 0;
  #final = false;

  constructor(key, size, digest) {
    this.#key = key;
    this.#size = size;
    this.#digest = digest;
    /** Ciphertext bytes taken so far: where a resumed download starts. */
    this.received = 0;
  }

  #nextChunk() {
    return Math.min(CHUNK_BYTES, this.#size - this.#opened) + STREAM_TAG_BYTES;
  }

  /** The plaintext chunks that ``data`` completes (a list, possibly empty). */
  feed(data) {
    this.received += data.length;
    if (this.received > sealedSize(this.#size)) throw blobRefused("the blob is longer than its reference says");
    this.#hash.update(data);
    let pending = this.#pending.length ? concat(this.#pending, data) : data;
    if (this.#opener === null) {
      if (pending.length < STREAM_HEADER_BYTES) {
        this.#pending = pending.slice();
        return [];
      }
      this.#opener = new StreamOpener(this.#key, pending.slice(0, STREAM_HEADER_BYTES));
      pending = pending.subarray(STREAM_HEADER_BYTES);
    }
    const out = [];
    while (!this.#final && pending.length >= this.#nextChunk()) {
      const take = this.#nextChunk();
      let opened;
      try {
        opened = this.#opener.open(pending.subarray(0, take));
      } catch (error) {
        if (!(error instanceof CryptoError)) throw error;
        throw blobRefused(`${error.message} (at plaintext offset ${this.#opened})`);
      }
      pending = pending.subarray(take);
      this.#opened += opened.chunk.length;
      this.#final = opened.final;
      if (this.#final !== (this.#opened === this.#size)) throw blobRefused("the final tag is not on the last chunk");
      out.push(opened.chunk);
    }
    // A copy: ``data`` belongs to the caller (a network buffer) and may be reused.
    this.#pending = pending.slice();
    return out;
  }

  finish() {
    if (!this.#final || this.#pending.length) {
      throw blobRefused(`the blob is cut short: ${this.#opened} of ${this.#size} bytes, no final chunk`);
    }
    const digest = this.#hash.digest();
    if (digest.length !== this.#digest.length || digest.some((b, i) => b !== this.#digest[i])) {
      throw blobRefused("the blob's digest is not the one its reference names");
    }
  }
}
