"""The holder's birth date as the verified identity states it (ID-2, ID-4), and the instant of
majority it gives (CR-7). Pure: every function that depends on time takes ``now``.

A birth date may be partial (``YYYY`` or ``YYYY-MM``, ISO 8601's reduced precision) when the
identity does not know the day or the month. CR-7 then ends a representative's rights at the
earliest instant the holder could be of age, so an unknown part is read as its earliest value.

Time zone: majority is reached at 00:00 Europe/Paris (CR-7). ``zoneinfo`` reads the system's
tz database, or the ``tzdata`` package where the system has none (slim containers).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from messaging.identifiers import InvalidIns, check_ins_birth_date
from messaging.wire_types import (
    BIRTH_DATE_PATTERN,
)

PARIS = ZoneInfo("Europe/Paris")
ADULT_AGE = 18
MAX_AGE = 120
"""ID-4: the only century accepted for a 2-digit INS year is one giving an age of 0..120."""

_BIRTH_DATE = re.compile(BIRTH_DATE_PATTERN)


@dataclass(frozen=True, slots=True, order=True)
class BirthDate:
    year: int
    month: int | None = None
    day: int | None = None

    @classmethod
    def parse(cls, text: str) -> BirthDate:
        """``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD``, a real calendar date; else ``ValueError``."""
        if _BIRTH_DATE.fullmatch(text) is None:
            raise ValueError("a birth date is YYYY-MM-DD, or YYYY-MM / YYYY when partly unknown")
        parts = [int(p) for p in text.split("-")]
        birth = cls(*parts)
        birth.earliest()  # raises ValueError for 30 February and the like
        return birth

    @classmethod
    def of(cls, day: date) -> BirthDate:
        return cls(day.year, day.month, day.day)

    def __str__(self) -> str:
        text = f"{self.year:04d}"
        if self.month is not None:
            text += f"-{self.month:02d}"
            if self.day is not None:
                text += f"-{self.day:02d}"
        return text

    def earliest(self) -> date:
        return date(self.year, self.month or 1, self.day or 1)


def paris_date(now: datetime) -> date:
    return now.astimezone(PARIS).date()


def _anniversary(born: date, years: int) -> date:
    try:
        return born.replace(year=born.year + years)
    except ValueError:  # 29 February in a year that has none: the birthday is 1 March
        return date(born.year + years, 3, 1)


def majority_at(birth: BirthDate) -> datetime:
    """CR-7: 00:00 Europe/Paris on the 18th birthday of the earliest possible birth date."""
    return datetime.combine(_anniversary(birth.earliest(), ADULT_AGE), time(0), tzinfo=PARIS)


def is_minor(birth: BirthDate, now: datetime) -> bool:
    return now < majority_at(birth)


def age_on(born: date, today: date) -> int:
    """Whole years completed on ``today``."""
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def check_birth_date(ins: str, birth: BirthDate, now: datetime) -> None:
    """ID-2, ID-4: ``birth`` is not in the future, gives an age of 0..120, and its year and
    month agree with the INS (the month only when both know it). Raises ``InvalidIns``."""
    check_ins_birth_date(ins, birth.earliest(), month_known=birth.month is not None)
    today = paris_date(now)
    if birth.earliest() > today:
        raise InvalidIns("the birth date is in the future")
    if not 0 <= age_on(birth.earliest(), today) <= MAX_AGE:
        raise InvalidIns(f"the birth date gives an age outside 0..{MAX_AGE}")
