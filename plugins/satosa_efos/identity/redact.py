"""Remove personnummer from free text before it reaches a log.

The log formatter calls this on every record, so it does one pass with a compiled regex and
only runs the date and Luhn checks on digit runs of exactly the right shape. A candidate is
replaced only if it is a real date with a valid Luhn digit, so organisation numbers (month
digits >= 20), most timestamps and other numbers survive; digit runs longer than 12 are never
partly redacted, and HSA-ids are skipped as a whole.
"""

from __future__ import annotations

import re

from .luhn import luhn_valid
from .personnummer import birth_date_or_none

REDACTED = "[pnr]"

_CANDIDATES = re.compile(
    # An HSA-id is matched first and left alone, so digits in its suffix are never touched.
    r"(?P<hsa>(?<![A-Za-z0-9])[Ss][Ee][0-9]{10}-[A-Za-z0-9]+)"
    # Otherwise a run of exactly 12 digits (YYYYMMDDNNNC, YYYYMMDD-NNNC, YYYYMMDD+NNNC) ...
    r"|(?<![0-9])(?:(?P<long>[0-9]{8})[-+]?(?P<long_tail>[0-9]{4})"
    # ... or the 10-digit form with its separator (YYMMDD-NNNC, YYMMDD+NNNC).
    r"|(?P<short>[0-9]{6})[-+](?P<short_tail>[0-9]{4}))(?![0-9])"
)


def _is_long_personnummer(digits: str) -> bool:
    return luhn_valid(digits[2:]) and (
        birth_date_or_none(int(digits[0:4]), int(digits[4:6]), int(digits[6:8])) is not None
    )


def _is_short_personnummer(digits: str) -> bool:
    if not luhn_valid(digits):
        return False
    # The century is unknown; 29 February is a real date in at least one of them if
    # the two-digit year is a leap year in either.
    yy, month, day = int(digits[0:2]), int(digits[2:4]), int(digits[4:6])
    return any(birth_date_or_none(century + yy, month, day) for century in (1900, 2000))


def _replace(match: re.Match[str]) -> str:
    if match.group("hsa") is not None:
        return match.group(0)
    long = match.group("long")
    if long is not None:
        hit = _is_long_personnummer(long + match.group("long_tail"))
    else:
        hit = _is_short_personnummer(match.group("short") + match.group("short_tail"))
    return REDACTED if hit else match.group(0)


def redact_personnummer(text: str) -> str:
    """Return ``text`` with every Luhn-valid personnummer or samordningsnummer replaced by
    ``[pnr]``.

    Recognises ``YYYYMMDDNNNC``, ``YYYYMMDD-NNNC`` and ``YYMMDD-NNNC`` (also with ``+``).
    A bare 10-digit run is not redacted: without a separator it is indistinguishable from
    phone numbers and other counters.
    """
    return _CANDIDATES.sub(_replace, text)
