"""The hand-written conformance cases: inputs and the outcome DESIGN §2 and §5 require.

Nothing here is computed by the implementation under test: the expected canonical texts,
decoded bytes, verdicts and refusal codes are written from the rules, so that the vectors test
the Python code as much as any other implementation (``tests/test_conformance.py``).
A case is ``(name, input, outcome)``; JSON texts are Python raw strings, so ``\\u00e9`` below is
the six characters a JSON reader sees.
"""

from __future__ import annotations

from typing import Any, Final

from messaging.canonical import (
    DUPLICATE_MEMBER,
    INVALID_ENCODING,
    INVALID_JSON,
    NON_CANONICAL,
    UNPAIRED_SURROGATE,
)


def refused(code: str, field: str | None = "") -> dict[str, Any]:
    return {"code": code, "field": field}


# --- canonical JSON: (name, JSON text or raw bytes, canonical text or refusal) ----------------

CANONICAL_JSON: Final[list[tuple[str, str | bytes, str | dict[str, Any]]]] = [
    (
        "members sorted, no insignificant space",
        r' { "b" : 2 , "a" : 1 , "c" : [ 3 , { "z" : null , "y" : true } ] } ',
        '{"a":1,"b":2,"c":[3,{"y":true,"z":null}]}',
    ),
    (
        "ASCII order: upper case, then _, then lower case",
        r'{"a":1,"_":2,"B":3}',
        '{"B":3,"_":2,"a":1}',
    ),
    ("a prefix sorts first", r'{"ab":1,"b":2,"a":3,"aa":4}', '{"a":3,"aa":4,"ab":1,"b":2}'),
    (
        "names sorted by code point, not by UTF-16 unit (U+E000 < U+FF5E < U+1F600)",
        r'{"\ud83d\ude00":1,"\uff5e":2,"\ue000":3,"\u00e9":4,"z":5}',
        '{"z":5,"é":4,"\ue000":3,"～":2,"😀":1}',
    ),
    (
        "no Unicode normalisation: e + U+0301 and U+00E9 are two names",
        r'{"\u00e9":"NFC","e\u0301":"NFD"}',
        '{"e\u0301":"NFD","\u00e9":"NFC"}',
    ),
    (
        "nested objects are sorted too; arrays keep their order",
        r'{"z":[{"b":1,"a":2},[2,1]],"y":{"d":{"f":1,"e":2}}}',
        '{"y":{"d":{"e":2,"f":1}},"z":[{"a":2,"b":1},[2,1]]}',
    ),
    (
        'only " \\ and U+0000-U+001F are escaped, with the short forms where they exist',
        r'"\"\\\/\b\f\n\r\t\u0000\u0001\u001f\u0020\u007f"',
        '"\\"\\\\/\\b\\f\\n\\r\\t\\u0000\\u0001\\u001f \x7f"',
    ),
    (
        "escapes other than the required ones are written raw (UTF-8)",
        r'"\u00e9\u20ac\u2028\u2029\ufeff\ud83d\ude00"',
        '"é€\u2028\u2029\ufeff😀"',
    ),
    ("raw UTF-8 stays raw", '"Écho cardiaque – 5 µg, 🫀"', '"Écho cardiaque – 5 µg, 🫀"'),
    (
        "integers within ±(2^53−1)",
        r"[0,-1,1,9007199254740991,-9007199254740991]",
        "[0,-1,1,9007199254740991,-9007199254740991]",
    ),
    ("literals and empty containers", r'[true,false,null,{},[],""]', '[true,false,null,{},[],""]'),
    ("a top-level string", r'"x"', '"x"'),
    ('the integer 1 (as in "v")', r'{"v":1}', '{"v":1}'),
    ("a fraction is never canonical: 1.0", r'{"v":1.0}', refused(NON_CANONICAL, "/v")),
    ("an exponent is never canonical: 1e0", r'{"v":1e0}', refused(NON_CANONICAL, "/v")),
    ("an exponent is never canonical: 1E+2", r'{"n":1E+2}', refused(NON_CANONICAL, "/n")),
    ("negative zero", r'{"n":-0}', refused(NON_CANONICAL, "/n")),
    ("negative zero as a fraction", r'{"n":-0.0}', refused(NON_CANONICAL, "/n")),
    ("a fraction", r'{"n":[0.5]}', refused(NON_CANONICAL, "/n/0")),
    ("2^53 is beyond the range", r'{"n":9007199254740992}', refused(NON_CANONICAL, "/n")),
    ("-2^53 is beyond the range", r'{"n":-9007199254740992}', refused(NON_CANONICAL, "/n")),
    ("10^21 is beyond the range", r'{"n":1000000000000000000000}', refused(NON_CANONICAL, "/n")),
    ("1e16 is not an integer token", r'{"n":1e16}', refused(NON_CANONICAL, "/n")),
    ("a number beyond a double", r"[1e400]", refused(NON_CANONICAL, "/0")),
    ("true is a literal, not the integer 1", r'{"v":true}', '{"v":true}'),
    ("an unpaired high surrogate", r'{"s":"\ud83d"}', refused(UNPAIRED_SURROGATE, "/s")),
    ("an unpaired low surrogate", r'{"s":["ok","\ude00x"]}', refused(UNPAIRED_SURROGATE, "/s/1")),
    (
        "a surrogate pair in the wrong order",
        r'{"s":"\ude00\ud83d"}',
        refused(UNPAIRED_SURROGATE, "/s"),
    ),
    ("an unpaired surrogate in a member name", r'{"\ud800":1}', refused(UNPAIRED_SURROGATE, "")),
    ("a repeated member name", r'{"a":1,"a":1}', refused(DUPLICATE_MEMBER, "")),
    ("a repeated member name, nested", r'{"x":[{"b":1,"b":2}]}', refused(DUPLICATE_MEMBER, "/x/0")),
    ("NaN is not JSON", r"[NaN]", refused(INVALID_JSON, None)),
    ("Infinity is not JSON", r"[-Infinity]", refused(INVALID_JSON, None)),
    ("a raw control character in a string is not JSON", '"a\tb"', refused(INVALID_JSON, None)),
    ("a trailing comma is not JSON", r"[1,]", refused(INVALID_JSON, None)),
    ("a byte-order mark", b'\xef\xbb\xbf{"a":1}', refused(INVALID_ENCODING, None)),
    (
        "UTF-16 (little-endian, with BOM)",
        '{"a":1}'.encode("utf-16"),
        refused(INVALID_ENCODING, None),
    ),
    ("UTF-16 without BOM", '{"a":1}'.encode("utf-16-le"), refused(INVALID_JSON, None)),
    ("Latin-1 is not UTF-8", '{"a":"é"}'.encode("latin-1"), refused(INVALID_ENCODING, None)),
    (
        "a surrogate encoded in UTF-8 (CESU)",
        b'{"a":"\xed\xa0\xbd"}',
        refused(INVALID_ENCODING, None),
    ),
    ("an overlong UTF-8 form", b'{"a":"\xc0\xaf"}', refused(INVALID_ENCODING, None)),
]

# --- base64url: (name, text, bytes or refusal) ------------------------------------------------

B64U: Final[list[tuple[str, str, bytes | dict[str, Any]]]] = [
    ("empty", "", b""),
    ("one byte", "AA", b"\x00"),
    ("two bytes", "AAE", b"\x00\x01"),
    ("three bytes", "AAEC", b"\x00\x01\x02"),
    ("the URL-safe characters", "-_-_", b"\xfb\xff\xbf"),
    ("one byte, all ones", "_w", b"\xff"),
    ("two bytes, all ones", "__8", b"\xff\xff"),
    ("unused bits set after one byte (4 unused bits)", "AB", refused(NON_CANONICAL)),
    ("unused bits set after one byte (last of them)", "_x", refused(NON_CANONICAL)),
    ("unused bits set after two bytes (2 unused bits)", "AAF", refused(NON_CANONICAL)),
    ("unused bits set after two bytes (last of them)", "__9", refused(NON_CANONICAL)),
    ("padding", "AA==", refused(NON_CANONICAL)),
    ("padding, partial", "AAE=", refused(NON_CANONICAL)),
    ("the standard alphabet's +", "+w", refused(NON_CANONICAL)),
    ("the standard alphabet's /", "AA/A", refused(NON_CANONICAL)),
    ("a length of 4n+1", "AAAAA", refused(NON_CANONICAL)),
    ("a space", "AA AA", refused(NON_CANONICAL)),
    ("a line break", "AAAA\n", refused(NON_CANONICAL)),
    ("a non-ASCII letter", "AAÀA", refused(NON_CANONICAL)),
]

# --- times: (name, text, valid or refusal) ----------------------------------------------------

VALID = "valid"
TIMES: Final[list[tuple[str, str, str | dict[str, Any]]]] = [
    ("whole seconds", "2026-11-26T08:00:00Z", VALID),
    ("milliseconds", "2026-11-26T08:00:00.123Z", VALID),
    ("one fraction digit", "2026-11-26T08:00:00.1Z", VALID),
    ("microseconds", "2026-11-26T08:00:00.000001Z", VALID),
    ("trailing zeros are another, equally valid spelling", "2026-11-26T08:00:00.000Z", VALID),
    ("the last instant of a day", "2026-12-31T23:59:59.999999Z", VALID),
    ("29 February of a leap year", "2024-02-29T12:00:00Z", VALID),
    ("29 February of a year divisible by 400", "2000-02-29T12:00:00Z", VALID),
    ("year 0000 (proleptic Gregorian, a leap year)", "0000-02-29T00:00:00Z", VALID),
    ("year 9999", "9999-12-31T23:59:59Z", VALID),
    ("30 February", "2025-02-30T03:04:05Z", refused(NON_CANONICAL)),
    ("29 February of a common year", "2025-02-29T03:04:05Z", refused(NON_CANONICAL)),
    ("29 February of a year divisible by 100 only", "1900-02-29T00:00:00Z", refused(NON_CANONICAL)),
    ("31 April", "2026-04-31T00:00:00Z", refused(NON_CANONICAL)),
    ("month 13", "2026-13-01T00:00:00Z", refused(NON_CANONICAL)),
    ("month 00", "2026-00-01T00:00:00Z", refused(NON_CANONICAL)),
    ("day 00", "2026-01-00T00:00:00Z", refused(NON_CANONICAL)),
    ("hour 24", "2026-01-01T24:00:00Z", refused(NON_CANONICAL)),
    ("minute 60", "2026-01-01T00:60:00Z", refused(NON_CANONICAL)),
    ("a leap second", "2016-12-31T23:59:60Z", refused(NON_CANONICAL)),
    ("lower-case t", "2026-11-26t08:00:00Z", refused(NON_CANONICAL)),
    ("lower-case z", "2026-11-26T08:00:00z", refused(NON_CANONICAL)),
    ("an offset instead of Z", "2026-11-26T08:00:00+00:00", refused(NON_CANONICAL)),
    ("no zone", "2026-11-26T08:00:00", refused(NON_CANONICAL)),
    ("a space instead of T", "2026-11-26 08:00:00Z", refused(NON_CANONICAL)),
    ("seven fraction digits", "2026-11-26T08:00:00.1234567Z", refused(NON_CANONICAL)),
    ("a point without digits", "2026-11-26T08:00:00.Z", refused(NON_CANONICAL)),
    ("a comma as decimal sign", "2026-11-26T08:00:00,5Z", refused(NON_CANONICAL)),
    ("no seconds", "2026-11-26T08:00Z", refused(NON_CANONICAL)),
    ("one-digit month", "2026-1-26T08:00:00Z", refused(NON_CANONICAL)),
    ("five-digit year", "12026-11-26T08:00:00Z", refused(NON_CANONICAL)),
    ("a date alone", "2026-11-26", refused(NON_CANONICAL)),
    ("non-ASCII digits", "２０２６-11-26T08:00:00Z", refused(NON_CANONICAL)),
]

# --- plaintexts, as a recipient reads them: (name, bytes, content or refusal) ----------------

MALFORMED = "malformed_content"


def content(
    subject: str,
    body: str,
    attachments: list[dict[str, str]] | None = None,
    in_reply_to: str | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """What a recipient must read: attachments' ``data`` as hex of the decoded bytes."""
    return {
        "subject": subject,
        "body": body,
        "attachments": attachments or [],
        "in_reply_to": in_reply_to,
        "extra": extra or {},
    }


REPLY_TO = "5f0c2b53-6f3c-4d58-9a5e-1d2b1b7c7e10"
PLAINTEXTS: Final[list[tuple[str, bytes, dict[str, Any]]]] = [
    (
        "canonical, every member",
        (
            '{"attachments":[{"data":"JVBERi0","media_type":"application/pdf","name":"cr.pdf"}],'
            '"body":"Bonjour,\\nvoir pièce jointe.","in_reply_to":"' + REPLY_TO + '",'
            '"subject":"Compte rendu — écho"}'
        ).encode(),
        content(
            "Compte rendu — écho",
            "Bonjour,\nvoir pièce jointe.",
            [{"name": "cr.pdf", "media_type": "application/pdf", "data_hex": "255044462d"}],
            REPLY_TO,
        ),
    ),
    (
        "attachments and in_reply_to may be absent",
        b'{"body":"","subject":"x"}',
        content("x", ""),
    ),
    (
        "a plaintext need not be canonical to be read",
        b'{ "subject" : "caf\\u00e9" , "body" : "x" , "attachments" : [ ] }',
        content("café", "x"),
    ),
    (
        "members this version does not know are kept and ignored",
        b'{"body":"x","priority":"high","subject":"s","thread":{"depth":2}}',
        content("s", "x", extra={"priority": "high", "thread": {"depth": 2}}),
    ),
    (
        "an attachment's unknown members are ignored",
        b'{"attachments":[{"data":"","media_type":"text/plain","name":"a","sha256":"00"}],'
        b'"body":"x","subject":"s"}',
        content("s", "x", [{"name": "a", "media_type": "text/plain", "data_hex": ""}]),
    ),
    (
        "an emoji cut in half (unpaired surrogate)",
        b'{"body":"x","subject":"\\ud83d"}',
        {"error": MALFORMED},
    ),
    ("not UTF-8", b'{"body":"x","subject":"\xe9"}', {"error": MALFORMED}),
    ("a byte-order mark", b'\xef\xbb\xbf{"body":"x","subject":"s"}', {"error": MALFORMED}),
    ("UTF-16", '{"body":"x","subject":"s"}'.encode("utf-16"), {"error": MALFORMED}),
    ("a repeated member", b'{"body":"x","subject":"s","subject":"t"}', {"error": MALFORMED}),
    ("not JSON", b'{"body":"x",', {"error": MALFORMED}),
    ("not an object", b'["s","x"]', {"error": MALFORMED}),
    ("no subject", b'{"body":"x"}', {"error": MALFORMED}),
    ("a subject that is not a string", b'{"body":"x","subject":1}', {"error": MALFORMED}),
    (
        "attachment data in non-canonical base64url",
        b'{"attachments":[{"data":"AB","media_type":"text/plain","name":"a"}],'
        b'"body":"x","subject":"s"}',
        {"error": MALFORMED},
    ),
    (
        "attachment data with padding",
        b'{"attachments":[{"data":"AA==","media_type":"text/plain","name":"a"}],'
        b'"body":"x","subject":"s"}',
        {"error": MALFORMED},
    ),
    (
        "an attachment without data",
        b'{"attachments":[{"media_type":"text/plain","name":"a"}],"body":"x","subject":"s"}',
        {"error": MALFORMED},
    ),
]
