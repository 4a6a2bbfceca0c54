"""Swedish identifiers used by the proxy: personnummer, organisation numbers and HSA-ids.

Pure Python with no SATOSA dependency, so it can be used by config validation, simulators,
the log formatter and tests alike. Every validation failure raises :class:`IdentifierError`
with a stable ``code``.
"""

from .errors import ERROR_CODES, IdentifierError
from .hsa_id import (
    MAX_HSA_ID_LENGTH,
    hsa_id_organisation_number,
    hsa_id_prefix,
    is_hsa_id,
    normalise_hsa_id,
)
from .luhn import luhn_check_digit, luhn_valid
from .organisation_number import (
    format_organisation_number,
    is_organisation_number,
    normalise_organisation_number,
)
from .personnummer import Personnummer, is_personnummer, normalise_personnummer
from .redact import redact_personnummer

__all__ = [
    "ERROR_CODES",
    "MAX_HSA_ID_LENGTH",
    "IdentifierError",
    "Personnummer",
    "format_organisation_number",
    "hsa_id_organisation_number",
    "hsa_id_prefix",
    "is_hsa_id",
    "is_organisation_number",
    "is_personnummer",
    "luhn_check_digit",
    "luhn_valid",
    "normalise_hsa_id",
    "normalise_organisation_number",
    "normalise_personnummer",
    "redact_personnummer",
]
