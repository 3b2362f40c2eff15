// Encodings of DESIGN §2: strict base64url without padding, UTF-8, canonical JSON.
// Pure functions, no libsodium: the conformance vectors run them directly.
import { TIME_PATTERN } from "./protocol.js";

/** A value refused, with the protocol's code and, as in problem documents, ``field``: a JSON
 * Pointer to the refused value ("" the whole value, null when nothing could be read). */
export class EncodingError extends Error {
  constructor(code, detail, field = "") {
    super(detail);
    this.name = "EncodingError";
    this.code = code;
    this.field = field;
  }
}

/** A number read as written but with no canonical form (1.0, 1e0, -0, 2^53): see json.js. */
export class NonCanonicalNumber {
  constructor(text) {
    this.text = text;
  }
}

// A member name goes into a pointer only when it is plainly harmless (schema names, ids): a
// refusal never echoes arbitrary input, so a pointer stops at the object holding another name.
const SAFE_SEGMENT = /^[A-Za-z0-9_.:-]{1,100}$/;

export function pointer(path) {
  let out = "";
  for (const part of path) {
    if (typeof part === "string" && !SAFE_SEGMENT.test(part)) break;
    out += `/${part}`;
  }
  return out;
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
    throw new EncodingError("non_canonical", "not base64url without padding");
  }
  const padded = text.replaceAll("-", "+").replaceAll("_", "/") + "=".repeat((4 - (text.length % 4)) % 4);
  const binary = atob(padded);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
  if (b64uEncode(bytes) !== text) {
    throw new EncodingError("non_canonical", "base64url with unused bits set");
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

function quote(text, path) {
  if (!isWellFormed(text)) {
    throw new EncodingError("unpaired_surrogate", "a string holds an unpaired surrogate", pointer(path));
  }
  // For a well-formed string JSON.stringify escapes exactly '"', '\' and U+0000..U+001F, with
  // \b \f \n \r \t where they exist and lower-case \u00xx otherwise: the canonical form.
  return JSON.stringify(text);
}

/** Canonical JSON (DESIGN §2) as a string; its UTF-8 bytes are what is signed or hashed. */
export function canonicalText(value, path = []) {
  if (value === null) return "null";
  switch (typeof value) {
    case "boolean":
      return value ? "true" : "false";
    case "number":
      if (!Number.isSafeInteger(value) || Object.is(value, -0)) {
        throw new EncodingError("non_canonical", `not a canonical integer: ${value}`, pointer(path));
      }
      return String(value);
    case "string":
      return quote(value, path);
    case "object":
      if (value instanceof NonCanonicalNumber) {
        throw new EncodingError("non_canonical", `not a canonical integer: ${value.text}`, pointer(path));
      }
      if (Array.isArray(value)) return `[${value.map((item, i) => canonicalText(item, [...path, i])).join(",")}]`;
      if (Object.getPrototypeOf(value) !== Object.prototype) break;
      return `{${Object.keys(value)
        .sort(byCodePoint)
        .map((key) => {
          if (value[key] === undefined) {
            throw new EncodingError("bad_value", `member ${key} is undefined`, pointer(path));
          }
          return `${quote(key, path)}:${canonicalText(value[key], [...path, key])}`;
        })
        .join(",")}}`;
    default:
      break;
  }
  throw new EncodingError("bad_value", `no JSON form for a ${typeof value}`, pointer(path));
}

export function canonicalJson(value) {
  return utf8(canonicalText(value));
}

const DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** A protocol time (DESIGN §2): RFC 3339 UTC with T and Z, a real calendar date, no leap
 * second; EncodingError("non_canonical") otherwise. */
export function checkTime(text) {
  if (typeof text === "string" && TIME_PATTERN.test(text)) {
    const [year, month, day, hour, minute, second] = [0, 5, 8, 11, 14, 17].map((at) =>
      Number(text.slice(at, at === 0 ? 4 : at + 2)),
    );
    const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
    const days = month === 2 && leap ? 29 : DAYS[month - 1];
    if (month >= 1 && day >= 1 && day <= days && hour < 24 && minute < 60 && second < 60) return text;
  }
  throw new EncodingError("non_canonical", "not a protocol time");
}
