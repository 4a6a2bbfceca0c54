"""The HSA directory model: people, their commissions (medarbetaruppdrag) and rights.

Every directory client (in-memory test data, LDAP, the RIV web service
GetCredentialsForPersonIncludingProtectedPerson) returns these same immutable objects, so the
SATOSA micro-service and the commission choice page never see which one answered. Values are
validated on construction: a malformed HSA-id or right found in a directory is reported where it
is read, not later when it would end up in an assertion to a relying party (DOMAIN.md §6).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from satosa_efos.identity import (
    normalise_hsa_id,
    normalise_organisation_number,
    normalise_personnummer,
)
from satosa_efos.identity.errors import shown

__all__ = [
    "Commission",
    "Directory",
    "DirectoryUnavailable",
    "HsaDataError",
    "Person",
    "Right",
    "SystemRole",
    "lookup_key",
]


class HsaDataError(ValueError):
    """A directory value that does not fit the HSA model (a malformed right, an empty name…).

    Subclasses ``ValueError`` like :class:`~satosa_efos.identity.IdentifierError` (which is
    raised unchanged for bad HSA-ids and personnummer), so callers can catch both as bad data.
    """


class DirectoryUnavailable(Exception):
    """The directory could not answer (timeout, outage, TLS failure, SOAP fault).

    Raised by the LDAP and web-service clients, never by the in-memory directory. The proxy turns
    it into an error page with the stable ``code``; it is deliberately *not* a ``ValueError``:
    it says nothing about the user's data, and must never be mistaken for "person not found".
    """

    code = "hsa_unavailable"

    def __init__(self, detail: str = "") -> None:
        super().__init__(detail or self.code)
        self.detail = detail


def _text(value: object, what: str) -> str:
    """Return ``value`` stripped, refusing non-strings and empty text with a clear message."""
    if not isinstance(value, str):
        raise HsaDataError(f"{what} must be a string, got {type(value).__name__}")
    text = value.strip()
    if not text:
        raise HsaDataError(f"{what} must not be empty")
    return text


def _optional_text(value: object, what: str) -> str | None:
    if value is None:
        return None
    return _text(value, what)


def _texts(values: object, what: str) -> tuple[str, ...]:
    if isinstance(values, str) or not isinstance(values, (tuple, list)):
        raise HsaDataError(f"{what} must be a tuple of strings, got {type(values).__name__}")
    return tuple(_text(value, what) for value in values)


def _flag(value: object, what: str) -> bool:
    # A truthy string such as "FALSE" read from a directory must not silently become True.
    if not isinstance(value, bool):
        raise HsaDataError(f"{what} must be a bool, got {type(value).__name__}")
    return value


def _split(text: object, parts: int, what: str, example: str) -> list[str]:
    """Split ``a;b[;c]`` into exactly ``parts`` non-empty fields or explain why it cannot."""
    if not isinstance(text, str):
        raise HsaDataError(f"{what} must be a string, got {type(text).__name__}")
    if not text.strip():
        raise HsaDataError(f"{what} is empty (e.g. {example})")
    fields = [part.strip() for part in text.strip().split(";")]
    if len(fields) != parts:
        raise HsaDataError(
            f"{what} {shown(text)} has {len(fields)} field(s) separated by ';', "
            f"expected {parts} (e.g. {example})"
        )
    if not all(fields):
        raise HsaDataError(f"{what} {shown(text)} has an empty field (e.g. {example})")
    return fields


@dataclass(frozen=True, slots=True)
class Right:
    """One commission right (behörighet): what may be done with which information, how widely.

    HSA writes it ``activity;informationClass;scope`` (``Läsa;alla;SJF``); relying parties receive
    that same string as ``commissionRight``, so :meth:`parse` and ``str()`` are exact inverses.
    """

    activity: str
    information_class: str
    scope: str

    def __post_init__(self) -> None:
        for name in ("activity", "information_class", "scope"):
            value = _text(getattr(self, name), f"right {name}")
            if ";" in value:
                raise HsaDataError(f"right {name} {shown(value)} must not contain ';'")
            object.__setattr__(self, name, value)

    @classmethod
    def parse(cls, text: str) -> Right:
        """Parse ``activity;informationClass;scope``; raises :class:`HsaDataError` otherwise."""
        activity, information_class, scope = _split(text, 3, "commission right", "Läsa;alla;SJF")
        return cls(activity, information_class, scope)

    def __str__(self) -> str:
        return f"{self.activity};{self.information_class};{self.scope}"


@dataclass(frozen=True, slots=True)
class SystemRole:
    """A role in a named system (``hsaSystemRole``), written ``<systemId>;<role>``."""

    system_id: str
    role: str

    def __post_init__(self) -> None:
        for name in ("system_id", "role"):
            value = _text(getattr(self, name), f"system role {name}")
            if ";" in value:
                raise HsaDataError(f"system role {name} {shown(value)} must not contain ';'")
            object.__setattr__(self, name, value)

    @classmethod
    def parse(cls, text: str) -> SystemRole:
        """Parse ``<systemId>;<role>``; raises :class:`HsaDataError` otherwise."""
        system_id, role = _split(text, 2, "system role", "SE2321000131-S000000000001;Admin")
        return cls(system_id, role)

    def __str__(self) -> str:
        return f"{self.system_id};{self.role}"


@dataclass(frozen=True, slots=True)
class Commission:
    """A medarbetaruppdrag: the person acts for a care unit of a care provider, for a purpose.

    Kept structured (DOMAIN.md §4) and flattened per frontend by ``hsa.attributes``. Feigned
    (test) and archived commissions are kept here so a client reports the directory faithfully;
    ``person_attributes`` drops them.
    """

    hsa_id: str
    name: str
    purpose: str
    rights: tuple[Right, ...]
    health_care_unit_hsa_id: str
    health_care_unit_name: str
    health_care_provider_hsa_id: str
    health_care_provider_name: str
    health_care_provider_org_no: str | None = None
    feigned: bool = False
    archived: bool = False

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "hsa_id", normalise_hsa_id(self.hsa_id))
        set_(self, "name", _text(self.name, "commission name"))
        set_(self, "purpose", _text(self.purpose, "commission purpose"))
        if not isinstance(self.rights, (tuple, list)) or not all(
            isinstance(right, Right) for right in self.rights
        ):
            raise HsaDataError(f"commission {self.hsa_id}: rights must be a tuple of Right")
        set_(self, "rights", tuple(self.rights))
        set_(self, "health_care_unit_hsa_id", normalise_hsa_id(self.health_care_unit_hsa_id))
        set_(self, "health_care_unit_name", _text(self.health_care_unit_name, "unit name"))
        set_(
            self, "health_care_provider_hsa_id", normalise_hsa_id(self.health_care_provider_hsa_id)
        )
        set_(
            self,
            "health_care_provider_name",
            _text(self.health_care_provider_name, "care provider name"),
        )
        if self.health_care_provider_org_no is not None:
            set_(
                self,
                "health_care_provider_org_no",
                normalise_organisation_number(self.health_care_provider_org_no),
            )
        set_(self, "feigned", _flag(self.feigned, "commission feigned"))
        set_(self, "archived", _flag(self.archived, "commission archived"))

    @property
    def usable(self) -> bool:
        """False for feigned or archived commissions, which must never reach a relying party."""
        return not (self.feigned or self.archived)


@dataclass(frozen=True, slots=True)
class Person:
    """A person in HSA with the commissions they hold.

    ``personal_identity_number`` is optional because HSA holds people without one (and the
    project's test data may use only the published test numbers). ``protected`` (skyddad
    personuppgift) and ``feigned`` are kept as read; the release rules live in
    ``hsa.attributes``, so every client applies them identically.
    """

    hsa_id: str
    personal_identity_number: str | None
    given_name: str
    surname: str
    display_name: str | None = None
    mail: str | None = None
    title: str | None = None
    hsa_titles: tuple[str, ...] = ()
    pa_title_codes: tuple[str, ...] = ()
    system_roles: tuple[SystemRole, ...] = ()
    protected: bool = False
    feigned: bool = False
    commissions: tuple[Commission, ...] = field(default=())

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "hsa_id", normalise_hsa_id(self.hsa_id))
        if self.personal_identity_number is not None:
            set_(
                self,
                "personal_identity_number",
                normalise_personnummer(self.personal_identity_number),
            )
        set_(self, "given_name", _text(self.given_name, "given name"))
        set_(self, "surname", _text(self.surname, "surname"))
        set_(self, "display_name", _optional_text(self.display_name, "display name"))
        mail = _optional_text(self.mail, "mail")
        if mail is not None and (mail.count("@") != 1 or mail.startswith("@") or " " in mail):
            raise HsaDataError(f"mail {shown(mail)} is not an e-mail address")
        set_(self, "mail", mail)
        set_(self, "title", _optional_text(self.title, "title"))
        set_(self, "hsa_titles", _texts(self.hsa_titles, "hsaTitle"))
        set_(self, "pa_title_codes", _texts(self.pa_title_codes, "paTitleCode"))
        if not isinstance(self.system_roles, (tuple, list)) or not all(
            isinstance(role, SystemRole) for role in self.system_roles
        ):
            raise HsaDataError(f"person {self.hsa_id}: system_roles must be a tuple of SystemRole")
        set_(self, "system_roles", tuple(self.system_roles))
        if not isinstance(self.commissions, (tuple, list)) or not all(
            isinstance(commission, Commission) for commission in self.commissions
        ):
            raise HsaDataError(f"person {self.hsa_id}: commissions must be a tuple of Commission")
        set_(self, "commissions", tuple(self.commissions))
        seen: set[str] = set()
        for commission in self.commissions:
            if commission.hsa_id in seen:
                raise HsaDataError(
                    f"person {self.hsa_id} holds commission {commission.hsa_id} twice"
                )
            seen.add(commission.hsa_id)
        set_(self, "protected", _flag(self.protected, "person protected"))
        set_(self, "feigned", _flag(self.feigned, "person feigned"))

    @property
    def full_name(self) -> str:
        """``displayName`` if the directory has one, else given name and surname."""
        return self.display_name or f"{self.given_name} {self.surname}"


def lookup_key(
    *,
    hsa_id: str | None = None,
    personal_identity_number: str | None = None,
    mail: str | None = None,
) -> tuple[str, str]:
    """Check that exactly one identifier was given and return ``(kind, normalised value)``.

    Shared by every :class:`Directory` so they agree on the one-identifier rule (the RIV service
    takes exactly one of personHsaId / personalIdentityNumber) and on normalisation: HSA-id with
    upper-case ``SE``, personnummer as 12 digits (``YYYYMMDD-NNNN`` accepted), mail lower-case.
    Raises ``ValueError`` (an :class:`~satosa_efos.identity.IdentifierError` for a malformed
    HSA-id or personnummer).
    """
    given = {
        name: value
        for name, value in (
            ("hsa_id", hsa_id),
            ("personal_identity_number", personal_identity_number),
            ("mail", mail),
        )
        if value is not None
    }
    if len(given) != 1:
        raise ValueError(
            "find_person takes exactly one of hsa_id, personal_identity_number, mail; "
            f"got {', '.join(sorted(given)) or 'none'}"
        )
    ((kind, value),) = given.items()
    if kind == "hsa_id":
        return kind, normalise_hsa_id(value)
    if kind == "personal_identity_number":
        return kind, normalise_personnummer(value)
    mail_address = _text(value, "mail").lower()
    # A NUL or other control character ends the value early in some directories (slapd cuts
    # a search value at NUL): such a "mail" must find nobody anywhere, so it is no identifier.
    if any(ord(char) < 32 or ord(char) == 127 for char in mail_address):
        raise ValueError("mail contains a control character")
    return kind, mail_address


@runtime_checkable
class Directory(Protocol):
    """What the HSA micro-service needs from a directory, whatever the transport.

    Implementations: ``hsa.memory.InMemoryDirectory`` (tests, demo); later an LDAP client and a
    RIV web-service client. They return ``None`` when nobody matches, raise ``ValueError`` for a
    malformed or ambiguous query (see :func:`lookup_key`), and raise
    :class:`DirectoryUnavailable` when the directory cannot answer.
    """

    def find_person(
        self,
        *,
        hsa_id: str | None = None,
        personal_identity_number: str | None = None,
        mail: str | None = None,
    ) -> Person | None:
        """Return the person with exactly this one identifier, or None if there is none."""
        ...
