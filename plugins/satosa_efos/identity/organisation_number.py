"""Swedish organisation numbers (organisationsnummer) of legal entities.

HSA-ids embed the organisation number of the directory owner, and Sambi/SAML attributes carry
the care provider's number, so we normalise them to one canonical 10-digit form.
"""

from __future__ import annotations

import re

from .errors import IdentifierError, shown
from .luhn import luhn_check_digit, luhn_valid

_TEN_DIGITS = re.compile(r"([0-9]{6})-?([0-9]{4})")
# Some registers (Skatteverket, SIE files) write a 12-digit form with the "century" 16.
_PREFIXED = re.compile(r"16([0-9]{6})-?([0-9]{4})")
_EXPECTED = "expected NNNNNN-NNNN or 10 digits (or 12 digits starting with 16)"


def _digits_of(text: str) -> str:
    match = _PREFIXED.fullmatch(text) or _TEN_DIGITS.fullmatch(text)
    if match:
        return match.group(1) + match.group(2)
    if re.fullmatch(r"[0-9]{8}-?[0-9]{4}", text):
        raise IdentifierError(
            "orgnr.format",
            f"organisation number {shown(text)} has 12 digits but does not start with 16 "
            f"(a 12-digit personnummer is not an organisation number); {_EXPECTED}",
        )
    raise IdentifierError(
        "orgnr.format", f"organisation number {shown(text)} is malformed; {_EXPECTED}"
    )


def _check_legal_entity(digits: str) -> None:
    # Bolagsverket: the "month" digits of a legal entity's number are >= 20, so the third
    # digit is 2 or more. Anything lower is a personnummer, used by sole traders.
    if digits[2] < "2":
        raise IdentifierError(
            "orgnr.format",
            f"organisation number {digits} has third digit {digits[2]}; a legal entity's "
            f"number has a third digit of 2 or more (numbers shaped like a personnummer "
            f"belong to sole traders and are not accepted)",
        )


def _check_luhn(digits: str) -> None:
    if not luhn_valid(digits):
        raise IdentifierError(
            "orgnr.luhn",
            f"organisation number {digits} fails the Luhn check "
            f"(last digit should be {luhn_check_digit(digits[:9])})",
        )


def normalise_organisation_number(value: str) -> str:
    """Validate an organisation number and return it as 10 plain digits.

    Accepts ``NNNNNN-NNNN``, ``NNNNNNNNNN`` or the ``16``-prefixed 12-digit form, with
    surrounding whitespace. Raises :class:`IdentifierError` with code ``orgnr.format`` (shape,
    or a sole trader's personnummer) or ``orgnr.luhn`` (wrong check digit).
    """
    if not isinstance(value, str):
        raise IdentifierError(
            "orgnr.format", f"organisation number must be a string, got {type(value).__name__}"
        )
    digits = _digits_of(value.strip())
    _check_legal_entity(digits)
    _check_luhn(digits)
    return digits


def format_organisation_number(value: str) -> str:
    """Validate and return the display form ``NNNNNN-NNNN`` (e.g. ``232100-0131``)."""
    digits = normalise_organisation_number(value)
    return f"{digits[:6]}-{digits[6:]}"


def is_organisation_number(value: object) -> bool:
    """Return True if ``value`` is a valid legal-entity organisation number."""
    try:
        normalise_organisation_number(value)  # type: ignore[arg-type]
    except IdentifierError:
        return False
    return True
