"""HSA-ids: the national identifiers of people, units and systems in Katalogtjänst HSA.

Shape: ``SE`` + the 10-digit organisation number of the directory owner + ``-`` +
``[A-Za-z0-9]+``, at most 31 characters (e.g. ``SE2321000131-E000000000001``). HSA-ids are
compared as strings across systems, so only the ``SE`` prefix is case-normalised; the suffix is
kept exactly as issued.
"""

from __future__ import annotations

import re

from .errors import IdentifierError, shown
from .luhn import luhn_check_digit, luhn_valid
from .organisation_number import normalise_organisation_number

MAX_HSA_ID_LENGTH = 31

_HSA_ID = re.compile(r"[Ss][Ee]([0-9]{10})-([A-Za-z0-9]+)")
_EXAMPLE = "e.g. SE2321000131-E000000000001"


def _format_problem(text: str) -> str:
    """Explain which part of a malformed HSA-id is wrong (called only on failure)."""
    if text[:2].upper() != "SE":
        return "must start with 'SE'"
    if not re.fullmatch(r"[0-9]{10}", text[2:12]):
        return "must have the 10-digit organisation number of the directory owner after 'SE'"
    if text[12:13] != "-":
        return "must have '-' right after the 10-digit organisation number"
    if len(text) == 13:
        return "has nothing after the '-'"
    return "may only contain the letters A–Z, a–z and digits 0–9 after the '-'"


def normalise_hsa_id(value: str) -> str:
    """Validate an HSA-id and return it with surrounding whitespace removed and ``SE`` upper case.

    Raises :class:`IdentifierError` with code ``hsa.format`` (shape), ``hsa.length`` (over 31
    characters) or ``hsa.orgnr`` (the embedded organisation number fails the Luhn check).
    """
    if not isinstance(value, str):
        raise IdentifierError("hsa.format", f"HSA-id must be a string, got {type(value).__name__}")
    text = value.strip()
    match = _HSA_ID.fullmatch(text)
    if not match:
        raise IdentifierError(
            "hsa.format", f"HSA-id {shown(text)} {_format_problem(text)} ({_EXAMPLE})"
        )
    if len(text) > MAX_HSA_ID_LENGTH:
        raise IdentifierError(
            "hsa.length",
            f"HSA-id {shown(text)} is {len(text)} characters; "
            f"at most {MAX_HSA_ID_LENGTH} are allowed",
        )
    orgnr = match.group(1)
    if not luhn_valid(orgnr):
        raise IdentifierError(
            "hsa.orgnr",
            f"HSA-id {shown(text)} contains organisation number {orgnr}, which fails the Luhn "
            f"check (last digit should be {luhn_check_digit(orgnr[:9])})",
        )
    return "SE" + text[2:]


def is_hsa_id(value: object) -> bool:
    """Return True if ``value`` is a well-formed HSA-id."""
    try:
        normalise_hsa_id(value)  # type: ignore[arg-type]
    except IdentifierError:
        return False
    return True


def hsa_id_prefix(orgnr: str) -> str:
    """Return ``SE<10 digits>``, the prefix of every HSA-id issued by this organisation.

    Used to decide which organisation's directory owns an HSA-id (VGR: ``SE2321000131``).
    Raises :class:`IdentifierError` (``orgnr.*``) if ``orgnr`` is not a valid number.
    """
    return "SE" + normalise_organisation_number(orgnr)


def hsa_id_organisation_number(hsa_id: str) -> str:
    """Return the 10-digit organisation number of the directory owner of ``hsa_id``."""
    return normalise_hsa_id(hsa_id)[2:12]
