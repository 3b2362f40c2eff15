// Encodings of DESIGN §2: strict base64url without padding, UTF-8, canonical JSON.
// Pure functions, no libsodium: the conformance vectors run them directly.

export class EncodingError extends Error {
  constructor(code, detail) {
    super(detail);
    this.name = "EncodingError";
    this.code = code;
  }
}

const B64U_TEXT = /^[A-Za-z0-9_-]*$/;
const CHUNK = 0x8000;

export function b64uEncode(bytes) {
  let binary = "";
  for (let start = 0; start < bytes.length; start += CHUNK) {
    binary += String.fromCharCode(...bytes.subarray(start, start + CHUNK));
  }
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/** Base64url without padding, in its canonical form only (unused trailing bits zero). */
export function b64uDecode(text) {
  if (typeof text !== "string" || !B64U_TEXT.test(text) || text.length % 4 === 1) {
    throw new EncodingError("bad_base64url", "not base64url without padding");
  }
  const padded = text.replaceAll("-", "+").replaceAll("_", "/") + "=".repeat((4 - (text.length % 4)) % 4);
  const binary = atob(padded);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
  if (b64uEncode(bytes) !== text) {
    throw new EncodingError("non_canonical_base64url", "base64url with unused bits set");
  }
  return bytes;
}

/** Characters of ``size`` bytes in base64url without padding. */
export function b64uLength(size) {
  return Math.floor((size * 4 + 2) / 3);
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

export function utf8(text) {
  return encoder.encode(text);
}

export function fromUtf8(bytes) {
  try {
    return decoder.decode(bytes);
  } catch {
    throw new EncodingError("bad_utf8", "not UTF-8");
  }
}

export function concat(...parts) {
  const out = new Uint8Array(parts.reduce((size, part) => size + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

const LONE_SURROGATE = /\p{Surrogate}/u;

/** A string is a sequence of Unicode scalar values (I-JSON): no unpaired surrogate. */
export function isWellFormed(text) {
  return !LONE_SURROGATE.test(text);
}

// Keys are sorted by code point, which is UTF-8 byte order; JavaScript's own sort compares
// UTF-16 units, which puts U+E000..U+FFFF after the astral planes.
function byCodePoint(a, b) {
  const left = a[Symbol.iterator]();
  const right = b[Symbol.iterator]();
  for (;;) {
    const x = left.next();
    const y = right.next();
    if (x.done || y.done) return (x.done ? 0 : 1) - (y.done ? 0 : 1);
    const diff = x.value.codePointAt(0) - y.value.codePointAt(0);
    if (diff !== 0) return diff;
  }
}

function quote(text) {
  if (!isWellFormed(text)) {
    throw new EncodingError("lone_surrogate", "a string holds an unpaired surrogate");
  }
  // For a well-formed string JSON.stringify escapes exactly '"', '\' and U+0000..U+001F, with
  // \b \f \n \r \t where they exist and lower-case \u00xx otherwise: the canonical form.
  return JSON.stringify(text);
}

/** Canonical JSON (DESIGN §2) as a string; its UTF-8 bytes are what is signed or hashed. */
export function canonicalText(value) {
  if (value === null) return "null";
  switch (typeof value) {
    case "boolean":
      return value ? "true" : "false";
    case "number":
      if (!Number.isSafeInteger(value) || Object.is(value, -0)) {
        throw new EncodingError("bad_number", `not a canonical integer: ${value}`);
      }
      return String(value);
    case "string":
      return quote(value);
    case "object":
      if (Array.isArray(value)) return `[${value.map(canonicalText).join(",")}]`;
      if (Object.getPrototypeOf(value) !== Object.prototype) break;
      return `{${Object.keys(value)
        .sort(byCodePoint)
        .map((key) => {
          if (value[key] === undefined) {
            throw new EncodingError("bad_value", `member ${key} is undefined`);
          }
          return `${quote(key)}:${canonicalText(value[key])}`;
        })
        .join(",")}}`;
    default:
      break;
  }
  throw new EncodingError("bad_value", `no JSON form for a ${typeof value}`);
}

export function canonicalJson(value) {
  return utf8(canonicalText(value));
}
