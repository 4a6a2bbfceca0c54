"""The Luhn (mod 10) check digit used by personnummer and organisation numbers.

Both Swedish identifiers end in a Luhn digit, computed over the ten-digit form (for a
12-digit personnummer: the last ten digits, so the century is not covered).
"""

from __future__ import annotations

_ASCII_DIGITS = frozenset("0123456789")


def _require_digits(digits: str) -> None:
    # str.isdigit() accepts e.g. Arabic-Indic digits; identifiers are ASCII only.
    if not isinstance(digits, str) or not set(digits) <= _ASCII_DIGITS:
        raise ValueError(f"Luhn input must be a string of ASCII digits, got {digits!r}")


def _luhn_sum(digits: str, double_rightmost: bool) -> int:
    total = 0
    double = double_rightmost
    for char in reversed(digits):
        value = ord(char) - 48
        if double:
            value *= 2
            if value > 9:
                value -= 9
        total += value
        double = not double
    return total


def luhn_check_digit(digits: str) -> int:
    """Return the Luhn digit to append to ``digits`` (the payload without its check digit).

    Used to build test data and to tell a user what the last digit should have been.
    Raises ``ValueError`` if ``digits`` contains anything but ASCII digits.
    """
    _require_digits(digits)
    return (10 - _luhn_sum(digits, double_rightmost=True) % 10) % 10


def luhn_valid(digits: str) -> bool:
    """Return True if ``digits`` (payload plus check digit) passes the Luhn check.

    Returns False rather than raising for empty or non-digit input, so it can be used as a
    cheap predicate on untrusted text.
    """
    if not digits or not isinstance(digits, str) or not set(digits) <= _ASCII_DIGITS:
        return False
    return _luhn_sum(digits, double_rightmost=False) % 10 == 0
