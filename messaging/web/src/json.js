// Reading JSON under the protocol's rules (DESIGN §2, docs/protocol.md "JSON documents"):
// UTF-8 without a byte-order mark, RFC 8259 syntax, Unicode scalar values only, unique member
// names, numbers within a double. JSON.parse checks none of the last three, and forgets how a
// number was written: here an integer token within ±(2^53−1) reads as a number and any other
// number (1.0, 1e0, -0, 2^53) as a NonCanonicalNumber, which canonical JSON refuses.
import { EncodingError, NonCanonicalNumber, pointer } from "./encoding.js";

const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const NUMBER = /-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/y;
const WHITESPACE = /[ \t\n\r]*/y;
const ESCAPES = { '"': '"', "\\": "\\", "/": "/", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t" };

function invalid(detail) {
  return new EncodingError("invalid_request", detail, null);
}

function isHigh(code) {
  return code >= 0xd800 && code <= 0xdbff;
}

function isLow(code) {
  return code >= 0xdc00 && code <= 0xdfff;
}

class Reader {
  constructor(text) {
    this.text = text;
    this.at = 0;
  }

  space() {
    WHITESPACE.lastIndex = this.at;
    WHITESPACE.exec(this.text);
    this.at = WHITESPACE.lastIndex;
  }

  expect(char) {
    if (this.text[this.at] !== char) throw invalid(`expected ${char} at ${this.at}`);
    this.at += 1;
  }

  value(path) {
    this.space();
    const char = this.text[this.at];
    if (char === "{") return this.object(path);
    if (char === "[") return this.array(path);
    if (char === '"') return this.string(path);
    for (const [word, value] of [["true", true], ["false", false], ["null", null]]) {
      if (this.text.startsWith(word, this.at)) {
        this.at += word.length;
        return value;
      }
    }
    return this.number(path);
  }

  number(path) {
    NUMBER.lastIndex = this.at;
    const match = NUMBER.exec(this.text);
    if (!match) throw invalid(`no JSON value at ${this.at}`);
    this.at = NUMBER.lastIndex;
    const [text, fraction, exponent] = match;
    const value = Number(text);
    if (!Number.isFinite(value)) {
      throw new EncodingError("non_canonical", "a number is beyond a double's range", pointer(path));
    }
    const integer = fraction === undefined && exponent === undefined && text !== "-0";
    return integer && Number.isSafeInteger(value) ? value : new NonCanonicalNumber(text);
  }

  string(path) {
    this.expect('"');
    let out = "";
    for (;;) {
      const char = this.text[this.at];
      if (char === undefined) throw invalid("an unterminated string");
      this.at += 1;
      if (char === '"') return out;
      const code = char.charCodeAt(0);
      if (code < 0x20) throw invalid("a raw control character in a string");
      if (char !== "\\") {
        out += char;
        continue;
      }
      const escape = this.text[this.at];
      this.at += 1;
      if (escape in ESCAPES) {
        out += ESCAPES[escape];
      } else if (escape === "u") {
        const hex = this.text.slice(this.at, this.at + 4);
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) throw invalid("a bad \\u escape");
        this.at += 4;
        out += String.fromCharCode(Number.parseInt(hex, 16));
      } else {
        throw invalid("a bad escape");
      }
    }
  }

  checkScalars(text, path) {
    for (let i = 0; i < text.length; i += 1) {
      const code = text.charCodeAt(i);
      if (isHigh(code) && isLow(text.charCodeAt(i + 1))) {
        i += 1;
      } else if (isHigh(code) || isLow(code)) {
        throw new EncodingError("unpaired_surrogate", "a string holds an unpaired surrogate", pointer(path));
      }
    }
    return text;
  }

  object(path) {
    this.expect("{");
    const object = {};
    this.space();
    if (this.text[this.at] === "}") {
      this.at += 1;
      return object;
    }
    for (;;) {
      this.space();
      const name = this.checkScalars(this.string(path), path);
      this.space();
      this.expect(":");
      const value = this.value([...path, name]);
      if (Object.hasOwn(object, name)) {
        throw new EncodingError("duplicate_member", "an object repeats a member name", pointer(path));
      }
      // defineProperty: a member named "__proto__" stays a member.
      Object.defineProperty(object, name, { value, enumerable: true, writable: true, configurable: true });
      this.space();
      if (this.text[this.at] === ",") {
        this.at += 1;
        continue;
      }
      this.expect("}");
      return object;
    }
  }

  array(path) {
    this.expect("[");
    const array = [];
    this.space();
    if (this.text[this.at] === "]") {
      this.at += 1;
      return array;
    }
    for (;;) {
      array.push(this.value([...path, array.length]));
      this.space();
      if (this.text[this.at] === ",") {
        this.at += 1;
        continue;
      }
      this.expect("]");
      return array;
    }
  }
}

function checkStrings(reader, value, path) {
  if (typeof value === "string") {
    reader.checkScalars(value, path);
  } else if (Array.isArray(value)) {
    value.forEach((item, index) => checkStrings(reader, item, [...path, index]));
  } else if (value !== null && typeof value === "object" && !(value instanceof NonCanonicalNumber)) {
    for (const [name, item] of Object.entries(value)) checkStrings(reader, item, [...path, name]);
  }
}

/** Read one JSON document (bytes, or text already decoded as a WebSocket frame is). */
export function readJson(input) {
  let text = input;
  if (typeof input !== "string") {
    if (input[0] === 0xef && input[1] === 0xbb && input[2] === 0xbf) {
      throw new EncodingError("invalid_encoding", "a byte-order mark", null);
    }
    try {
      text = decoder.decode(input);
    } catch {
      throw new EncodingError("invalid_encoding", "not UTF-8", null);
    }
  }
  if (text.charCodeAt(0) === 0xfeff) throw new EncodingError("invalid_encoding", "a byte-order mark", null);
  const reader = new Reader(text);
  const value = reader.value([]);
  reader.space();
  if (reader.at !== text.length) throw invalid("text after the JSON value");
  // Surrogates are judged once the document is read: an escaped pair is two escapes.
  checkStrings(reader, value, []);
  return value;
}
