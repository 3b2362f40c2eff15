"""The protocol's encodings, exactly as DESIGN §2 fixes them: strict JSON reading (I-JSON,
RFC 7493), canonical JSON, canonical base64url and times.

Every rule here exists so that two honest implementations can never disagree about one value:
Python's ``json`` would otherwise guess a body's encoding, accept ``NaN``, keep the last of two
equal member names, turn ``"\\ud800"`` into a lone surrogate and read ``-0`` as ``0``. Nothing
here imports ``nacl`` or aiohttp; the models, the server, the SDK and the vectors share it.

A refusal is an ``EncodingError`` whose ``code`` is the problem code the server answers with and
whose ``field`` is a JSON Pointer (RFC 6901) to the refused value.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Final

# Problem codes (docs/protocol.md, "Encodings").
INVALID_ENCODING: Final = "invalid_encoding"
INVALID_JSON: Final = "invalid_request"
JSON_TOO_LARGE: Final = "invalid_json"
"""A document nested deeper, or holding more values, than the reader accepts."""
UNPAIRED_SURROGATE: Final = "unpaired_surrogate"
DUPLICATE_MEMBER: Final = "duplicate_member"
NON_CANONICAL: Final = "non_canonical"

MAX_SAFE_INTEGER: Final = 2**53 - 1

MAX_DEPTH: Final = 32
"""Nesting a reader accepts by default: the protocol's documents nest 5 deep at most, and
Python's parser (like every recursive walk after it) would hit its recursion limit near 1000."""


class EncodingError(ValueError):
    """A document or value that breaks one of the encoding rules.

    ``field`` is a JSON Pointer to the value ("" is the whole document), or None when the
    document could not be read at all. ``reason`` never quotes the input.
    """

    def __init__(self, code: str, reason: str, field: str | None = "") -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.field = field

    @property
    def described(self) -> str:
        return f"{self.reason} (at {self.field})" if self.field else self.reason


# --- JSON Pointers ----------------------------------------------------------------------------

# A member name goes into a pointer only when it is plainly harmless (schema names, ids): a
# refusal must not echo arbitrary input, so a pointer stops at the object holding any other name.
_SAFE_SEGMENT = re.compile(r"[A-Za-z0-9_.:-]{1,100}")


def pointer(path: tuple[str | int, ...]) -> str:
    """The JSON Pointer of ``path``, cut before the first member name that is not harmless."""
    text = ""
    for part in path:
        segment = str(part)
        if isinstance(part, str) and not _SAFE_SEGMENT.fullmatch(segment):
            break
        text += "/" + segment  # a harmless name holds neither "~" nor "/": nothing to escape
    return text


# --- reading ----------------------------------------------------------------------------------

_SURROGATE = re.compile("[\ud800-\udfff]")
# The only way a surrogate can enter text decoded strictly from UTF-8 is a \uD800-\uDFFF escape.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


class _Duplicated(dict[str, Any]):
    """An object that repeated a member name: found again by the walk that locates it."""


class _Refused:
    """A number the reader cannot keep exactly (beyond a double's range)."""


class _Suspect(Exception):
    """The fast reader met something to report: read again, slowly, to say where."""


def _strict_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise _Suspect
    return obj


def _locating_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    return _Duplicated(obj) if len(obj) != len(pairs) else obj


def _integer(text: str) -> int | float:
    # "-0" is the one integer spelling that int() loses; kept as -0.0, it reads as what it is
    # (a negative zero, which no signed object may hold).
    return -0.0 if text == "-0" else int(text)


def _strict_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise _Suspect
    return value


def _locating_float(text: str) -> float | _Refused:
    value = float(text)
    return _Refused() if math.isinf(value) else value


def _constant(name: str) -> Any:
    raise json.JSONDecodeError(f"{name} is not JSON", name, 0)


_FAST = json.JSONDecoder(
    object_pairs_hook=_strict_object,
    parse_int=_integer,
    parse_float=_strict_float,
    parse_constant=_constant,
)
_LOCATING = json.JSONDecoder(
    object_pairs_hook=_locating_object,
    parse_int=_integer,
    parse_float=_locating_float,
    parse_constant=_constant,
)


def loads(data: bytes | str, max_depth: int = MAX_DEPTH, max_values: int | None = None) -> Any:
    """Read one JSON document under I-JSON's rules (RFC 7493) or raise ``EncodingError``.

    The document's shape is checked first (``check_shape``): at most ``max_depth`` nested
    arrays and objects, at most ``max_values`` values (None: no bound), else ``invalid_json``.

    Bytes must be UTF-8 (RFC 3629, no surrogate or overlong forms) without a byte-order mark;
    member names are unique within an object; strings are Unicode scalar values (an escaped
    unpaired surrogate is refused); ``NaN``/``Infinity`` and numbers beyond a double are
    refused. ``-0`` is read as ``-0.0``. Other numbers are read as they are: whether a number
    may stand where it stands is for the reader of the document (``check_canonical``).
    """
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise EncodingError(INVALID_ENCODING, "the document is not UTF-8", None) from exc
        # Most bodies hold no backslash at all: a one-character search runs at memchr speed
        # (a two-character one, or the expression alone, costs 50-100 times more on 64 KiB).
        suspect = "\\" in text and _SURROGATE_ESCAPE.search(text) is not None
    else:
        text = data
        suspect = _SURROGATE.search(text) is not None or _SURROGATE_ESCAPE.search(text) is not None
    if text.startswith("\ufeff"):  # UTF-8's byte-order mark, once decoded
        raise EncodingError(INVALID_ENCODING, "the document starts with a byte-order mark", None)
    check_shape(text, max_depth, max_values)
    try:
        value = _FAST.decode(text)
    except _Suspect:
        # Read again with hooks that mark instead of raising, so the walk can say where.
        value = _LOCATING.decode(text)
        suspect = True
    except ValueError as exc:  # JSONDecodeError, or an integer too long for int()
        raise EncodingError(INVALID_JSON, "the document is not JSON", None) from exc
    if suspect:
        _locate(value, ())
    return value


# A string from its opening quote to its closing one, or to the end of an unterminated one: every
# match attempt starts on a quote and succeeds, so one substitution pass is linear in the text.
_STRING = re.compile(r'"[^"\\]*+(?:\\.[^"\\]*+)*+(?:"|\\?\Z)', re.DOTALL)
_NOT_STRUCTURE = re.compile(r"[^\[\]{}]+")
_JSON_SPACE = re.compile(r"[ \t\n\r]+")


def check_shape(text: str, max_depth: int, max_values: int | None) -> None:
    """Refuse (``invalid_json``) a document nested deeper than ``max_depth`` or holding more
    than ``max_values`` values (every array element, member value and the root), before any
    parser recurses into it.

    Counting characters costs a fraction of a millisecond per MiB, and bounds both from above
    (each nesting level opens a bracket; each value after the first in its container follows
    a comma): protocol documents, with a handful of brackets, stop there. Only a document with
    more brackets or commas than allowed is measured exactly, each string as one character.
    """
    opens = text.count("[") + text.count("{")
    commas = text.count(",")
    if opens <= max_depth and (max_values is None or 1 + commas + opens <= max_values):
        return
    # Each string becomes one character: its brackets and commas are text, and ["a"] is not
    # an empty array.
    bare = _STRING.sub("0", text)
    if max_values is not None:
        # Counted with str.count (memchr speed): one regular-expression match per empty
        # container took 80 ms of CPU on 1 MiB of "[],"; this takes 5.
        if any(space in bare for space in " \t\n\r"):
            bare = _JSON_SPACE.sub("", bare)
        containers = bare.count("[") + bare.count("{")
        empty = bare.count("[]") + bare.count("{}")
        if 1 + bare.count(",") + containers - empty > max_values:
            raise EncodingError(
                JSON_TOO_LARGE, f"the document holds more than {max_values} values", None
            )
    # Within the value bound, few brackets are left to walk.
    structure = _NOT_STRUCTURE.sub("", bare)
    depth = 0
    for char in structure:
        if char in "[{":
            depth += 1
            if depth > max_depth:
                raise EncodingError(
                    JSON_TOO_LARGE, f"the document nests deeper than {max_depth} levels", None
                )
        else:
            depth -= 1


def _locate(value: Any, path: tuple[str | int, ...]) -> None:
    """Raise at the first value (in document order) that ``loads`` must refuse."""
    if isinstance(value, str):
        if _SURROGATE.search(value):
            raise EncodingError(
                UNPAIRED_SURROGATE, "a string holds an unpaired surrogate", pointer(path)
            )
    elif isinstance(value, _Refused):
        raise EncodingError(NON_CANONICAL, "a number is beyond a double's range", pointer(path))
    elif isinstance(value, dict):
        if isinstance(value, _Duplicated):
            raise EncodingError(DUPLICATE_MEMBER, "an object repeats a member name", pointer(path))
        for key, item in value.items():
            if _SURROGATE.search(key):
                raise EncodingError(
                    UNPAIRED_SURROGATE, "a member name holds an unpaired surrogate", pointer(path)
                )
            _locate(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _locate(item, (*path, index))


# --- canonical JSON ---------------------------------------------------------------------------


def check_canonical(value: Any) -> None:
    """Raise ``EncodingError`` unless ``value`` has a canonical JSON form: objects with string
    names, arrays, strings of Unicode scalar values, integers within ±(2^53−1), booleans, null.
    Floats are refused whatever their value (``1.0`` is not the token ``1``)."""
    if not _plain(value):
        _locate_canonical(value, ())


def _scalar_text(text: str) -> bool:
    # isascii() reads a flag CPython keeps on every string: a ciphertext costs nothing.
    return text.isascii() or _SURROGATE.search(text) is None


def _plain(value: Any) -> bool:
    """Whether ``value`` is canonical: the fast answer, with no path kept."""
    kind = type(value)
    if kind is str:
        return _scalar_text(value)
    if kind is dict:
        return all(
            type(key) is str and _scalar_text(key) and _plain(item) for key, item in value.items()
        )
    if kind is list or kind is tuple:
        return all(_plain(item) for item in value)
    if kind is int:
        return bool(-MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER)
    return value is None or kind is bool


def _locate_canonical(value: Any, path: tuple[str | int, ...]) -> None:
    """Raise at the first value (in document order) with no canonical form."""
    kind = type(value)
    if kind is str:
        if not _scalar_text(value):
            raise EncodingError(
                UNPAIRED_SURROGATE, "a string holds an unpaired surrogate", pointer(path)
            )
    elif kind is int:
        if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            raise EncodingError(NON_CANONICAL, "an integer is beyond ±(2^53−1)", pointer(path))
    elif kind is dict:
        for key, item in value.items():
            if type(key) is not str:
                raise EncodingError(NON_CANONICAL, "a member name is not a string", pointer(path))
            if not _scalar_text(key):
                raise EncodingError(
                    UNPAIRED_SURROGATE, "a member name holds an unpaired surrogate", pointer(path)
                )
            _locate_canonical(item, (*path, key))
    elif kind is list or kind is tuple:
        for index, item in enumerate(value):
            _locate_canonical(item, (*path, index))
    elif value is not None and kind is not bool:
        what = "a number that is not an integer" if kind is float else f"a {kind.__name__}"
        raise EncodingError(NON_CANONICAL, f"{what} has no canonical JSON form", pointer(path))


def canonical_json(value: Any) -> bytes:
    """The canonical JSON bytes of ``value`` (DESIGN §2), or ``EncodingError``.

    Python's encoder already writes the canonical form of a checked value: keys sorted by code
    point, no spaces, only ``"``, ``\\`` and U+0000–U+001F escaped (``\\b \\f \\n \\r \\t``,
    else ``\\u00xx`` in lower case), everything else raw UTF-8.
    """
    check_canonical(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


# --- base64url --------------------------------------------------------------------------------

B64U_ALPHABET: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_B64U_VALUE: Final = {char: index for index, char in enumerate(B64U_ALPHABET)}
_B64U_BYTES: Final = B64U_ALPHABET.encode()
# Unused low bits of the last character, by the text's length modulo 4.
_UNUSED_BITS: Final = {0: 0, 2: 0b1111, 3: 0b11}
_B64U_CHAR: Final = "[A-Za-z0-9_-]"


def _b64u_last(modulo: int) -> str:
    """The characters that may end a text of this length modulo 4: unused bits zero."""
    mask = _UNUSED_BITS[modulo]
    return "[" + "".join(c for c in B64U_ALPHABET if not _B64U_VALUE[c] & mask) + "]"


def b64u_pattern(size: int | None = None) -> str:
    """The regular expression of the texts ``check_b64u`` accepts: those of exactly ``size``
    bytes, or of any size. For schemas, so that a generated value is one the server takes."""
    char, two, three = _B64U_CHAR, _b64u_last(2), _b64u_last(3)
    if size is None:
        return rf"^(?:{char}{{4}})*(?:{char}{two}|{char}{{2}}{three})?$"
    groups, rest = divmod(size, 3)
    tail = ("", f"{char}{two}", rf"{char}{{2}}{three}")[rest]
    return rf"^{char}{{{4 * groups}}}{tail}$"


def check_b64u(text: str) -> str:
    """``text`` if it is canonical base64url without padding (RFC 4648 §5), else refused:
    padding, characters outside the URL-safe alphabet, an impossible length, or unused
    trailing bits that are not zero (the one spelling of given bytes is the canonical one)."""
    mask = _UNUSED_BITS.get(len(text) % 4)
    # Deleting the alphabet's bytes leaves nothing of a base64url text: a C loop, three times
    # faster than a regular expression on a 64 KiB ciphertext.
    if mask is None or not text.isascii() or text.encode().translate(None, _B64U_BYTES):
        raise EncodingError(NON_CANONICAL, "not base64url without padding")
    if mask and _B64U_VALUE[text[-1]] & mask:
        raise EncodingError(NON_CANONICAL, "base64url with unused bits set (not canonical)")
    return text


# --- times ------------------------------------------------------------------------------------

_TIME = re.compile(
    r"(?P<year>[0-9]{4})-(?P<month>[0-9]{2})-(?P<day>[0-9]{2})"
    r"T(?P<hour>[0-9]{2}):(?P<minute>[0-9]{2}):(?P<second>[0-9]{2})(?:\.[0-9]{1,6})?Z"
)
_DAYS: Final = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
TIME_RANGES_PATTERN: Final = (
    r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    r"T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?Z$"
)
"""``check_time``'s form with each field in its range, for schemas; a day past the end of its
month (02-30) matches it yet is refused."""


def _days_in(year: int, month: int) -> int:
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    return 29 if month == 2 and leap else _DAYS[month - 1]


def check_time(text: str) -> str:
    """``text`` if it is ``YYYY-MM-DDTHH:MM:SS[.f{1,6}]Z`` naming a real instant (proleptic
    Gregorian calendar, seconds 00–59: no leap second), else refused."""
    match = _TIME.fullmatch(text)
    if match is None:
        raise EncodingError(NON_CANONICAL, "not a time YYYY-MM-DDTHH:MM:SS[.ffffff]Z")
    year, month, day = int(match["year"]), int(match["month"]), int(match["day"])
    if not (
        1 <= month <= 12
        and 1 <= day <= _days_in(year, month)
        and int(match["hour"]) <= 23
        and int(match["minute"]) <= 59
        and int(match["second"]) <= 59
    ):
        raise EncodingError(NON_CANONICAL, "not a real calendar time")
    return text
