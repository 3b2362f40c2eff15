"""Birth dates and majority as pure functions (ID-4, CR-7): the table of the boundary."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from dossier_link.majority import BirthDate, check_birth_date, is_minor, majority_at
from messaging.identifiers import InvalidIns, ins_key

PARIS = ZoneInfo("Europe/Paris")


def _paris(
    year: int, month: int, day: int, hour: int, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=PARIS)


@pytest.mark.parametrize(
    ("birth", "now", "minor"),
    [
        pytest.param("2008-06-15", _paris(2026, 6, 14, 12), True, id="CR-7 the day before"),
        pytest.param("2008-06-15", _paris(2026, 6, 15, 12), False, id="CR-7 the day"),
        pytest.param(
            "2008-06-15", _paris(2026, 6, 14, 23, 59, 59), True, id="CR-7 a second to midnight"
        ),
        pytest.param("2008-06-15", _paris(2026, 6, 15, 0, 0), False, id="CR-7 midnight in Paris"),
        pytest.param(
            "2008-06-15",
            datetime(2026, 6, 14, 22, 30, tzinfo=UTC),
            False,
            id="CR-7 22:30 UTC is 00:30 in Paris (summer)",
        ),
        pytest.param(
            "2008-06-15",
            datetime(2026, 6, 14, 21, 59, tzinfo=UTC),
            True,
            id="CR-7 21:59 UTC is 23:59 in Paris",
        ),
        pytest.param(
            "2008-01-10",
            datetime(2026, 1, 9, 23, 0, tzinfo=UTC),
            False,
            id="CR-7 23:00 UTC is midnight in Paris (winter)",
        ),
        pytest.param("2008-06", _paris(2026, 5, 31, 23, 59), True, id="CR-7 unknown day: before"),
        pytest.param("2008-06", _paris(2026, 6, 1, 0, 0), False, id="CR-7 unknown day: the 1st"),
        pytest.param("2008", _paris(2025, 12, 31, 23, 59), True, id="CR-7 unknown month: before"),
        pytest.param("2008", _paris(2026, 1, 1, 0, 0), False, id="CR-7 unknown month: 1 January"),
        pytest.param("2008-02-29", _paris(2026, 2, 28, 23, 59), True, id="CR-7 29 Feb: 28th"),
        pytest.param("2008-02-29", _paris(2026, 3, 1, 0, 0), False, id="CR-7 29 Feb: 1 March"),
        pytest.param("2012-02-29", _paris(2030, 2, 28, 12), True, id="CR-7 29 Feb, later year"),
    ],
)
def test_majority_is_reached_at_midnight_paris_on_the_eighteenth_birthday(
    birth: str, now: datetime, minor: bool
) -> None:
    """CR-7: 00:00 Europe/Paris on the 18th birthday; 29 February comes of age on 1 March; an
    unknown day or month counts as the earliest date the holder could be of age."""
    assert is_minor(BirthDate.parse(birth), now) is minor


def test_majority_instant_is_paris_midnight() -> None:
    """CR-7: the instant itself, in UTC, for a summer and a winter birthday."""
    assert majority_at(BirthDate.parse("2008-06-15")) == datetime(2026, 6, 14, 22, tzinfo=UTC)
    assert majority_at(BirthDate.parse("2008-01-10")) == datetime(2026, 1, 9, 23, tzinfo=UTC)


def _ins(yy: int, mm: int) -> str:
    first13 = f"1{yy:02d}{mm:02d}75123456"
    return f"{first13}{ins_key(first13):02d}"


NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("ins", "birth", "error"),
    [
        pytest.param(_ins(16, 5), "2016-05-02", None, id="ID-4 a child"),
        pytest.param(_ins(16, 5), "1916-05-02", None, id="ID-4 the other century, stated"),
        pytest.param(_ins(16, 5), "2016-05", None, id="ID-4 day unknown"),
        pytest.param(_ins(16, 99), "2016", None, id="ID-2 ID-4 month unknown in both"),
        pytest.param(_ins(16, 5), "2016", None, id="ID-4 month unknown in the identity"),
        pytest.param(_ins(85, 3), "2085-03-01", "future", id="ID-4 in the future"),
        pytest.param(_ins(5, 3), "1805-03-01", "age", id="ID-4 older than 120"),
        pytest.param(_ins(16, 5), "2017-05-02", "year", id="ID-2 year"),
        pytest.param(_ins(16, 5), "2016-06-02", "month", id="ID-2 month"),
        pytest.param(_ins(26, 12), "2026-12-01", "future", id="ID-4 next month"),
    ],
)
def test_birth_date_of_the_verified_identity(ins: str, birth: str, error: str | None) -> None:
    """ID-2, ID-4: not in the future, an age of 0..120, year and month agreeing with the INS."""
    if error is None:
        check_birth_date(ins, BirthDate.parse(birth), NOW)
    else:
        with pytest.raises(InvalidIns, match=error):
            check_birth_date(ins, BirthDate.parse(birth), NOW)


@pytest.mark.parametrize("text", ["2016-02-30", "2016-13", "16-05-02", "2016-5-2", " 2016"])
def test_a_birth_date_is_a_real_date_in_reduced_iso_form(text: str) -> None:
    """ID-4: ``YYYY-MM-DD``, ``YYYY-MM`` or ``YYYY`` and a real calendar date."""
    with pytest.raises(ValueError, match=r"birth date|day is out of range|month"):
        BirthDate.parse(text)
