"""INS and RPPS identifiers (ID-1, ID-2, ID-3)."""

from __future__ import annotations

from datetime import date

import pytest
from pydantic import BaseModel, ValidationError

from messaging.identifiers import (
    InsNumber,
    InvalidIns,
    InvalidRpps,
    RppsNumber,
    check_ins_birth_date,
    ins_key,
    rpps_luhn_ok,
    validate_ins,
    validate_rpps,
)

INS_MAINLAND = "146026322000196"
INS_CORSICA_2A = "253072A07300443"
ARABIC_INDIC_RPPS = "".join(chr(0x0660 + int(d)) for d in "79927398713")


@pytest.mark.parametrize(
    ("first13", "key"),
    [
        ("1460263220001", 96),  # ID-1: the RULES.md vector
        ("253072A073004", 43),  # ID-1: 2A read as 19
        ("253072B073004", 97 - 2530718073004 % 97),  # ID-1: 2B read as 18
        ("2530719073004", 43),  # ID-1: same number as the 2A body, same key
    ],
)
def test_ins_key_vectors(first13: str, key: int) -> None:
    """ID-1: key = 97 - (N mod 97), Corsican departments replaced before reading N."""
    assert ins_key(first13) == key


@pytest.mark.parametrize(
    "first13",
    ["146026322000", "14602632200011", "146026322000A", "253072C073004", "1460263220001\n"],
)
def test_ins_key_rejects_a_malformed_body(first13: str) -> None:
    """ID-1: only 13 characters of the INS shape have a key."""
    with pytest.raises(InvalidIns):
        ins_key(first13)


@pytest.mark.parametrize("ins", [INS_MAINLAND, INS_CORSICA_2A])
def test_valid_ins_is_returned_unchanged(ins: str) -> None:
    """ID-1: a well-formed INS with its right key is accepted as is."""
    assert validate_ins(ins) == ins


@pytest.mark.parametrize(
    ("ins", "message"),
    [
        ("146026322000197", "key"),  # ID-1: wrong key
        ("253072A07300442", "key"),  # ID-1: wrong key, Corsica
        ("25307219073004" + "3", "key"),  # ID-1: 19 written out is another number's key
        ("14602632200019", "15 characters"),  # ID-1: too short
        ("1460263220001960", "15 characters"),  # ID-1: too long
        ("253072a07300443", "15 characters"),  # ID-1: lower-case Corsican letter
        ("253072C07300443", "15 characters"),  # ID-1: not a Corsican department
        ("14602632200019A", "15 characters"),  # ID-1: letter in the key
        ("146026322000196\n", "15 characters"),  # ID-1: trailing newline
        ("", "15 characters"),
    ],
)
def test_invalid_ins_is_rejected_with_a_clear_message(ins: str, message: str) -> None:
    """ID-1: bad format or bad key raise InvalidIns, a ValueError, saying which."""
    with pytest.raises(InvalidIns, match=message) as caught:
        validate_ins(ins)
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    ("ins", "birth_date"),
    [
        (INS_MAINLAND, date(1946, 2, 1)),  # ID-2: year 46, month 02
        (INS_MAINLAND, date(2046, 2, 28)),  # ID-2: only the last two digits of the year
        (INS_CORSICA_2A, date(1953, 7, 14)),  # ID-2
    ],
)
def test_ins_agrees_with_birth_date(ins: str, birth_date: date) -> None:
    """ID-2: year and month of the INS match the declared birth date."""
    check_ins_birth_date(ins, birth_date)


def _with_key(first13: str) -> str:
    return f"{first13}{ins_key(first13):02d}"


@pytest.mark.parametrize(
    ("ins", "birth_date", "message"),
    [
        (INS_MAINLAND, date(1947, 2, 1), "year"),  # ID-2
        (INS_MAINLAND, date(1946, 3, 1), "month"),  # ID-2
        (_with_key("1469963220001"), date(1947, 5, 1), "year"),  # ID-2: unknown month, year kept
    ],
)
def test_ins_disagreeing_with_birth_date_is_rejected(
    ins: str, birth_date: date, message: str
) -> None:
    """ID-2: a year, or a real month, that contradicts birth_date raises InvalidIns."""
    with pytest.raises(InvalidIns, match=message):
        check_ins_birth_date(ins, birth_date)


@pytest.mark.parametrize("month", ["20", "30", "42", "99"])
def test_ins_month_outside_calendar_skips_the_month_check(month: str) -> None:
    """ID-2: months outside 01-12 (unknown month) are not compared; the year still is."""
    ins = _with_key(f"146{month}63220001")
    check_ins_birth_date(ins, date(1946, 11, 30))


def test_ins_birth_date_check_rejects_a_bad_key_first() -> None:
    """ID-1, ID-2: the birth-date check does not accept an INS with a wrong key."""
    with pytest.raises(InvalidIns, match="key"):
        check_ins_birth_date("146026322000197", date(1946, 2, 1))


@pytest.mark.parametrize(
    ("digits", "ok"),
    [
        ("79927398713", True),  # ID-3: the classic Luhn vector, 11 digits
        ("79927398710", False),  # ID-3
        ("10000000009", True),  # ID-3: the leading 1 sits at an undoubled position
        ("10000000008", False),  # ID-3
        ("", False),
        ("7992739871a", False),
    ],
)
def test_rpps_luhn(digits: str, ok: bool) -> None:
    """ID-3: the Luhn check itself."""
    assert rpps_luhn_ok(digits) is ok


def test_rpps_passing_luhn_has_no_warning() -> None:
    """ID-3: 11 digits passing Luhn: accepted silently."""
    assert validate_rpps("79927398713") == ("79927398713", [])


def test_rpps_failing_luhn_is_a_warning_not_a_rejection() -> None:
    """ID-3: a Luhn failure is reported, never refused."""
    value, warnings = validate_rpps("79927398710")
    assert value == "79927398710"
    assert len(warnings) == 1
    assert "Luhn" in warnings[0]


@pytest.mark.parametrize(
    "value",
    [
        "7992739871",
        "799273987130",
        "7992739871a",
        "rpps:79927398713",
        " 79927398713",
        ARABIC_INDIC_RPPS,  # str.isdigit() would accept these
    ],
)
def test_rpps_not_eleven_ascii_digits_is_rejected(value: str) -> None:
    """ID-3: RPPS numbers are exactly 11 digits."""
    with pytest.raises(InvalidRpps, match="11 digits"):
        validate_rpps(value)


class _Patient(BaseModel):
    ins: InsNumber
    rpps: RppsNumber | None = None


def test_ins_number_type_validates_in_models() -> None:
    """ID-1, ID-3: the annotated types accept good values in a pydantic model."""
    patient = _Patient(ins=INS_CORSICA_2A, rpps="79927398710")
    assert patient.ins == INS_CORSICA_2A
    assert patient.rpps == "79927398710"  # ID-3: Luhn failure still accepted


@pytest.mark.parametrize(
    "payload",
    [
        {"ins": "146026322000197"},  # ID-1: wrong key
        {"ins": 146026322000196},  # strict: no number coerced into a string
        {"ins": INS_MAINLAND, "rpps": "123"},  # ID-3
    ],
)
def test_ins_number_type_rejects_bad_values(payload: dict[str, object]) -> None:
    """ID-1, ID-3: bad identifiers fail model validation."""
    with pytest.raises(ValidationError):
        _Patient.model_validate(payload)
