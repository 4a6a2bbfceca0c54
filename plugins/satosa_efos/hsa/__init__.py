"""HSA attribute lookup (Katalogtjänst HSA): the directory model, test data and attribute mapping.

Pure Python with no SATOSA import. Directory clients (in-memory, LDAP and the RIV web
service) implement :class:`Directory` and return :class:`Person` objects;
:func:`person_attributes` and :func:`commission_attributes` turn those into the proxy's internal
attributes, applying the release rules of DOMAIN.md §6 in one place.
"""

from .attributes import (
    COMMISSION_ATTRIBUTE_NAMES,
    PERSON_ATTRIBUTE_NAMES,
    commission_attributes,
    person_attributes,
    usable_commissions,
)
from .ldap import LdapDirectory
from .ldif import LdifError, parse_ldif, people_from_entries, person_from_entry, read_ldif
from .memory import DEMO_LDIF, InMemoryDirectory
from .model import (
    Commission,
    Directory,
    DirectoryUnavailable,
    HsaDataError,
    Person,
    Right,
    SystemRole,
    lookup_key,
)
from .riv import RivDirectory

__all__ = [
    "COMMISSION_ATTRIBUTE_NAMES",
    "DEMO_LDIF",
    "PERSON_ATTRIBUTE_NAMES",
    "Commission",
    "Directory",
    "DirectoryUnavailable",
    "HsaDataError",
    "InMemoryDirectory",
    "LdapDirectory",
    "LdifError",
    "Person",
    "Right",
    "RivDirectory",
    "SystemRole",
    "commission_attributes",
    "lookup_key",
    "parse_ldif",
    "people_from_entries",
    "person_attributes",
    "person_from_entry",
    "read_ldif",
    "usable_commissions",
]
