"""Swedish personal identity numbers: personnummer and samordningsnummer.

Only the 12-digit form ``YYYYMMDDNNNC`` (optionally ``YYYYMMDD-NNNC``) is accepted. The
10-digit form drops the century and marks people over 100 with ``+`` instead of ``-``, so the
same ten digits can name two different people; identifiers here travel between Efos, HSA and
SAML/OIDC relying parties, where guessing the century would be a privacy incident.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass

from .errors import IdentifierError, shown
from .luhn import luhn_check_digit, luhn_valid

#: A samordningsnummer (co-ordination number) stores the birth day plus 60.
SAMORDNING_DAY_OFFSET = 60

_TWELVE_DIGITS = re.compile(r"([0-9]{8})-?([0-9]{4})")
_TWELVE_WITH_PLUS = re.compile(r"[0-9]{8}\+[0-9]{4}")
_TEN_DIGITS = re.compile(r"[0-9]{6}[-+]?[0-9]{4}")
_EXPECTED = "expected 12 digits as YYYYMMDDNNNC or YYYYMMDD-NNNC"
# Fixed English names: calendar.month_name follows the process locale.
_MONTHS = (
    "", "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip


def birth_date_or_none(year: int, month: int, day: int) -> dt.date | None:
    """Return the birth date encoded by year/month/day digits, or None if there is none.

    ``day`` is the stored day, so 61–91 means a samordningsnummer. Shared with the log
    redactor, which must decide quickly and without exceptions.
    """
    if day > SAMORDNING_DAY_OFFSET:
        day -= SAMORDNING_DAY_OFFSET
    if not (1 <= month <= 12 and 1 <= day <= 31) or year < 1:
        return None
    if day > calendar.monthrange(year, month)[1]:
        return None
    return dt.date(year, month, day)


def _digits_of(text: str) -> str:
    match = _TWELVE_DIGITS.fullmatch(text)
    if match:
        return match.group(1) + match.group(2)
    if _TWELVE_WITH_PLUS.fullmatch(text):
        raise IdentifierError(
            "pnr.format",
            f"personnummer {shown(text)} uses '+', which only belongs to the 10-digit form; "
            f"{_EXPECTED}",
        )
    if _TEN_DIGITS.fullmatch(text):
        raise IdentifierError(
            "pnr.format",
            f"personnummer {shown(text)} has only 10 digits, so the century is ambiguous; "
            f"give all 12 digits as YYYYMMDDNNNC or YYYYMMDD-NNNC",
        )
    raise IdentifierError("pnr.format", f"personnummer {shown(text)} is malformed; {_EXPECTED}")


def _check_date(digits: str) -> None:
    year, month, day = int(digits[0:4]), int(digits[4:6]), int(digits[6:8])
    if year == 0:
        raise IdentifierError(
            "pnr.date", f"personnummer {digits} has year 0000; the year must be a real year"
        )
    if not 1 <= month <= 12:
        raise IdentifierError(
            "pnr.date", f"personnummer {digits} has month {digits[4:6]}; the month must be 01–12"
        )
    if not (1 <= day <= 31 or SAMORDNING_DAY_OFFSET < day <= SAMORDNING_DAY_OFFSET + 31):
        raise IdentifierError(
            "pnr.date",
            f"personnummer {digits} has day {digits[6:8]}; the day must be 01–31, "
            f"or 61–91 for a samordningsnummer",
        )
    if birth_date_or_none(year, month, day) is None:
        real_day = day - SAMORDNING_DAY_OFFSET if day > SAMORDNING_DAY_OFFSET else day
        kind = "samordningsnummer" if day > SAMORDNING_DAY_OFFSET else "personnummer"
        raise IdentifierError(
            "pnr.date",
            f"{kind} {digits} encodes {year:04d}-{month:02d}-{real_day:02d}, which is not a "
            f"real date ({_MONTHS[month]} {year} has "
            f"{calendar.monthrange(year, month)[1]} days)",
        )


def _check_luhn(digits: str) -> None:
    if not luhn_valid(digits[2:]):
        expected = luhn_check_digit(digits[2:11])
        raise IdentifierError(
            "pnr.luhn",
            f"personnummer {digits} fails the Luhn check (last digit should be {expected})",
        )


def normalise_personnummer(value: str) -> str:
    """Validate a personnummer or samordningsnummer and return it as 12 plain digits.

    Accepts ``YYYYMMDDNNNC`` or ``YYYYMMDD-NNNC`` with surrounding whitespace. Raises
    :class:`IdentifierError` with code ``pnr.format`` (shape, including 10-digit input),
    ``pnr.date`` (no such calendar date) or ``pnr.luhn`` (wrong check digit).
    """
    if not isinstance(value, str):
        raise IdentifierError(
            "pnr.format", f"personnummer must be a string, got {type(value).__name__}"
        )
    digits = _digits_of(value.strip())
    _check_date(digits)
    _check_luhn(digits)
    return digits


def is_personnummer(value: object) -> bool:
    """Return True if ``value`` is a valid 12-digit personnummer or samordningsnummer."""
    try:
        normalise_personnummer(value)  # type: ignore[arg-type]
    except IdentifierError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class Personnummer:
    """A validated personnummer; constructing one normalises and validates ``value``.

    Holding the value in a type (rather than a bare ``str``) means code that receives a
    ``Personnummer`` never has to re-validate it.
    """

    value: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "value", normalise_personnummer(self.value))

    @classmethod
    def parse(cls, value: str) -> Personnummer:
        """Parse and validate; raises :class:`IdentifierError` on invalid input."""
        return cls(value)

    @property
    def is_samordningsnummer(self) -> bool:
        """True for a co-ordination number (stored day is birth day + 60)."""
        return int(self.value[6:8]) > SAMORDNING_DAY_OFFSET

    @property
    def birth_date(self) -> dt.date:
        """The real birth date (for a samordningsnummer, with 60 taken off the day)."""
        date = birth_date_or_none(int(self.value[0:4]), int(self.value[4:6]), int(self.value[6:8]))
        assert date is not None  # guaranteed by __post_init__
        return date

    @property
    def formatted(self) -> str:
        """The display form ``YYYYMMDD-NNNC``."""
        return f"{self.value[:8]}-{self.value[8:]}"

    def __str__(self) -> str:
        return self.value
