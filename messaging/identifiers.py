"""Patient and professional identifiers: the INS (ID-1, ID-2) and the RPPS number (ID-3).

Pure functions, patterns and pydantic annotated types; nothing here does I/O. Both the messaging
core (principal ids, the dossier header) and ``dossier_link`` (the dossier's own rules) read
identifiers, so they live here, below both.

Interpretations:
- ID-2: the birth *year* in the INS is always compared with ``birth_date``; only the month check
  is skipped when the INS month is outside 01-12 (20 and above, or 99, mark an unknown month).
- ID-3: ``validate_rpps`` takes the bare 11 digits, not the ``rpps:`` principal; the principal's
  own pattern is checked where principals are parsed.
"""

from __future__ import annotations

import datetime
import re
from typing import Annotated, Final

from pydantic import AfterValidator, Field, StrictStr

# Unanchored, to be composed into other patterns (the ``patient:`` and ``rpps:`` principals).
INS_BODY_PATTERN = r"[0-9]{5}(?:[0-9]{2}|2[AB])[0-9]{6}"
"""The 13 first characters of an INS: sex and birth year, month, department (2A/2B for
Corsica), then commune and order; the 2-digit key follows."""
INS_PATTERN = INS_BODY_PATTERN + r"[0-9]{2}"
RPPS_PATTERN = r"[0-9]{11}"

_INS = re.compile(INS_PATTERN)
_INS_FIRST13 = re.compile(INS_BODY_PATTERN)
_RPPS = re.compile(RPPS_PATTERN)
_DIGITS = re.compile(r"[0-9]+")

# Corsica's departments are letters in the INS; the key is computed on these numeric stand-ins.
_CORSICA = {"2A": "19", "2B": "18"}


class InvalidIns(ValueError):
    """The string is not a well-formed INS, or disagrees with the declared birth date."""


class InvalidRpps(ValueError):
    """The string is not an 11-digit RPPS number."""


def ins_key(first13: str) -> int:
    """ID-1: the 2-digit control key of the 13 first characters of an INS (1..97)."""
    # fullmatch, not match with ``$``: ``$`` would let a trailing newline through.
    if _INS_FIRST13.fullmatch(first13) is None:
        raise InvalidIns(
            "the INS body must be 13 characters: 5 digits, 2 digits or 2A/2B, 6 digits"
        )
    department = first13[5:7]
    number = first13[:5] + _CORSICA.get(department, department) + first13[7:]
    return 97 - int(number) % 97


def validate_ins(ins: str) -> str:
    """ID-1: return ``ins`` unchanged if it is 13 characters and the right 2-digit key."""
    if _INS.fullmatch(ins) is None:
        raise InvalidIns(
            "an INS is 15 characters: 13 (digits, or 2A/2B for a Corsican department) "
            "followed by a 2-digit key"
        )
    if int(ins[13:]) != ins_key(ins[:13]):
        raise InvalidIns("the INS key does not match its first 13 characters")
    return ins


def check_ins_birth_date(ins: str, birth_date: datetime.date, *, month_known: bool = True) -> None:
    """ID-2: the INS's birth year (and month, when it is 01-12) must match ``birth_date``.

    ``month_known=False`` when the birth date states only a year (``dossier_link.majority``):
    then only the year is compared. The century is not judged here (ID-4 is, in ``majority``).
    """
    validate_ins(ins)
    if int(ins[1:3]) != birth_date.year % 100:
        raise InvalidIns("the birth year in the INS does not match birth_date")
    month = int(ins[3:5])
    # Months 20-42 and 99 are assigned when the real month is unknown: nothing to compare.
    if month_known and 1 <= month <= 12 and month != birth_date.month:
        raise InvalidIns("the birth month in the INS does not match birth_date")


def rpps_luhn_ok(rpps_digits: str) -> bool:
    """ID-3: whether the digits pass the Luhn check (informative only, see ``validate_rpps``)."""
    if _DIGITS.fullmatch(rpps_digits) is None:
        return False
    total = 0
    # From the right, every second digit is doubled; a two-digit product counts its digit sum.
    for position, char in enumerate(reversed(rpps_digits)):
        digit = int(char)
        if position % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def validate_rpps(value: str) -> tuple[str, list[str]]:
    """ID-3: return ``value`` and warnings; only a wrong format is rejected.

    The RPPS check digit is not officially documented, so a Luhn failure must never lock a real
    professional out: it is reported as a warning for the operator to look at.
    """
    if _RPPS.fullmatch(value) is None:
        raise InvalidRpps("an RPPS number is exactly 11 digits")
    warnings: list[str] = []
    if not rpps_luhn_ok(value):
        warnings.append(f"RPPS {value} fails the Luhn check; accepted, please verify it")
    return value, warnings


def _rpps_format(value: str) -> str:
    # A model only needs the format; the edge that reports warnings calls validate_rpps itself.
    return validate_rpps(value)[0]


INS_SCHEMA: Final = {
    "pattern": rf"^{INS_PATTERN}$",
    # The key (ID-1) is beyond a pattern: examples with a right one, for tools and readers.
    "examples": ["146026322000196", "253072A07300443"],
}
"""What a JSON schema can say of an INS."""
InsNumber = Annotated[StrictStr, AfterValidator(validate_ins), Field(json_schema_extra=INS_SCHEMA)]
RppsNumber = Annotated[
    StrictStr,
    AfterValidator(_rpps_format),
    Field(json_schema_extra={"pattern": rf"^{RPPS_PATTERN}$"}),
]
