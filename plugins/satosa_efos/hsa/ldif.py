"""A small, strict LDIF reader and the mapping from LDIF entries to the HSA model.

The demo and the tests describe the HSA directory in LDIF (``simulators/hsa_directory.ldif``),
the format an LDAP test server can load too, so the same data can later back an LDAP client.
Only the RFC 2849 *content* subset is read: ``version: 1``, ``dn:``, ``attr: value``,
``attr:: base64``, folded lines (continuation starts with one space), ``#`` comments and
blank-line separated records, all UTF-8. Change records and ``:<`` URLs are refused rather than
half-understood: a typo in test data should fail loudly, with its line number.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from pathlib import Path
from typing import TypeVar

from satosa_efos.identity import IdentifierError, normalise_hsa_id

from .model import Commission, HsaDataError, Person, Right, SystemRole

__all__ = [
    "COMMISSION_ATTRIBUTES",
    "PERSON_ATTRIBUTES",
    "LdifEntry",
    "LdifError",
    "parse_ldif",
    "people_from_entries",
    "person_from_entry",
    "read_ldif",
]

#: One record: its DN and its attributes, each attribute name mapping to its values in order.
LdifEntry = tuple[str, dict[str, list[str]]]

T = TypeVar("T")

# AttributeDescription: a name or OID, then options such as ";lang-sv" or ";binary".
_ATTRIBUTE = re.compile(r"(?:[A-Za-z][A-Za-z0-9-]*|[0-9]+(?:\.[0-9]+)*)(?:;[A-Za-z0-9-]+)*")


class LdifError(HsaDataError):
    """Malformed LDIF, or an entry that does not fit the HSA model.

    ``line`` is the 1-based line number where the problem was found (None for a problem with an
    entry as a whole, then ``dn`` names it).
    """

    def __init__(
        self, message: str, *, source: str = "", line: int | None = None, dn: str | None = None
    ) -> None:
        where = source or "LDIF"
        if line is not None:
            where += f", line {line}"
        if dn is not None:
            where += f", entry {dn!r}"
        super().__init__(f"{where}: {message}")
        self.source = source
        self.line = line
        self.dn = dn


def _logical_lines(text: str, source: str) -> Iterable[tuple[int, str | None]]:
    """Yield ``(first physical line number, unfolded line)``; ``None`` marks a record break.

    Comments (which may themselves be folded) are dropped here, so the record parser only sees
    ``attr: value`` lines.
    """
    current: str | None = None
    start = 0
    in_comment = False
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw[:-1] if raw.endswith("\r") else raw
        if line.startswith(" "):
            if in_comment:
                continue
            if current is None:
                raise LdifError(
                    "continuation line (starting with a space) without a line to continue",
                    source=source,
                    line=number,
                )
            current += line[1:]
            continue
        if current is not None:
            yield start, current
            current = None
        in_comment = line.startswith("#")
        if in_comment:
            continue
        if line == "":
            yield number, None
            continue
        current, start = line, number
    if current is not None:
        yield start, current


def _value(rest: str, source: str, number: int, attribute: str) -> str:
    """Decode the part after ``attr:`` — plain UTF-8 text or, after ``::``, base64 UTF-8."""
    if rest.startswith(":"):
        encoded = rest[1:].strip(" ")
        try:
            data = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise LdifError(
                f"attribute {attribute!r}: value after '::' is not valid base64",
                source=source,
                line=number,
            )
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise LdifError(
                f"attribute {attribute!r}: base64 value is not UTF-8 text (binary values are "
                f"not supported)",
                source=source,
                line=number,
            )
    if rest.startswith("<"):
        raise LdifError(
            f"attribute {attribute!r}: ':<' URL values are not supported",
            source=source,
            line=number,
        )
    return rest.lstrip(" ")


def parse_ldif(text: str, *, source: str = "<string>") -> list[LdifEntry]:
    """Parse LDIF content records into ``[(dn, {attribute: [values]})]``, in file order.

    Attribute names are kept as written; values of a repeated attribute are collected in order.
    Raises :class:`LdifError` naming the line of the first problem: a line that is not
    ``attr: value``, a record that does not start with ``dn:``, bad base64, a change record, a
    repeated DN, or a ``version`` other than 1.
    """
    if text.startswith("\ufeff"):
        text = text[1:]
    entries: list[LdifEntry] = []
    seen_dns: dict[str, int] = {}
    dn: str | None = None
    attributes: dict[str, list[str]] = {}
    first_record = True

    def finish() -> None:
        nonlocal dn, attributes
        if dn is not None:
            entries.append((dn, attributes))
        dn, attributes = None, {}

    for number, line in _logical_lines(text, source):
        if line is None:
            finish()
            continue
        name, colon, rest = line.partition(":")
        if not colon or not _ATTRIBUTE.fullmatch(name):
            raise LdifError(
                f"expected 'attribute: value', got {line[:40]!r}", source=source, line=number
            )
        value = _value(rest, source, number, name)
        if dn is None:
            if first_record and not entries and name.lower() == "version":
                if value.strip() != "1":
                    raise LdifError(
                        f"unsupported LDIF version {value!r}", source=source, line=number
                    )
                first_record = False
                continue
            if name.lower() != "dn":
                raise LdifError(
                    f"a record must start with 'dn:', got {name!r}", source=source, line=number
                )
            first_record = False
            dn = value.strip()
            if not dn:
                raise LdifError("empty dn", source=source, line=number)
            key = dn_key(dn)
            if key in seen_dns:
                raise LdifError(
                    f"dn {dn!r} already used by the record on line {seen_dns[key]}",
                    source=source,
                    line=number,
                )
            seen_dns[key] = number
            continue
        if name.lower() in ("dn", "changetype", "control"):
            raise LdifError(
                f"{name!r} inside a record: only content records are supported",
                source=source,
                line=number,
            )
        attributes.setdefault(name, []).append(value)
    finish()
    return entries


def read_ldif(path: str | Path) -> list[LdifEntry]:
    """Read and parse an LDIF file as UTF-8 (see :func:`parse_ldif`)."""
    data = Path(path).read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise LdifError("file is not valid UTF-8", source=str(path), line=line)
    return parse_ldif(text, source=str(path))


def dn_key(dn: str) -> str:
    """Compare DNs the way LDAP mostly does: case-insensitively, ignoring spaces around , and =."""
    return re.sub(r"\s*([,=])\s*", r"\1", dn.strip()).casefold()


class _Entry:
    """Case-insensitive, strict access to one entry's attributes (LDAP names ignore case)."""

    def __init__(self, dn: str, attributes: Mapping[str, list[str]], source: str) -> None:
        self.dn = dn
        self.source = source
        self._values: dict[str, list[str]] = {}
        for name, values in attributes.items():
            self._values.setdefault(name.casefold(), []).extend(values)
        self.object_classes = {value.strip().casefold() for value in self.all("objectClass")}

    def error(self, message: str) -> LdifError:
        return LdifError(message, source=self.source, dn=self.dn)

    def has(self, name: str) -> bool:
        return name.casefold() in self._values

    def all(self, name: str) -> list[str]:
        return [value.strip() for value in self._values.get(name.casefold(), [])]

    def one(self, name: str) -> str | None:
        values = self.all(name)
        if len(values) > 1:
            raise self.error(f"{name} must have one value, has {len(values)}")
        return values[0] if values else None

    def required(self, name: str) -> str:
        value = self.one(name)
        if not value:
            raise self.error(f"{name} is required")
        return value

    def boolean(self, name: str) -> bool:
        # LDAP Boolean syntax is exactly TRUE or FALSE; anything else is a data error.
        value = self.one(name)
        if value is None:
            return False
        if value not in ("TRUE", "FALSE"):
            raise self.error(f"{name} must be TRUE or FALSE, got {value!r}")
        return value == "TRUE"


def _is_commission(entry: _Entry) -> bool:
    return "hsacommission" in entry.object_classes


def _is_person(entry: _Entry) -> bool:
    if _is_commission(entry):
        return False
    if "hsaperson" in entry.object_classes:
        return True
    return entry.has("hsaIdentity") and (
        entry.has("personalIdentityNumber") or entry.has("givenName")
    )


def _identity(entry: _Entry) -> str:
    return normalise_hsa_id(entry.required("hsaIdentity"))


#: The attributes :func:`person_from_entry` reads from a person entry and from a commission entry
#: (``hsaCommissionMember`` is only needed to link members, which an LDAP server does for the
#: client). The LDAP client requests exactly these, so the mapping and the request cannot drift.
PERSON_ATTRIBUTES: tuple[str, ...] = (
    "objectClass",
    "hsaIdentity",
    "personalIdentityNumber",
    "givenName",
    "sn",
    "displayName",
    "mail",
    "title",
    "hsaTitle",
    "paTitleCode",
    "hsaSystemRole",
)
COMMISSION_ATTRIBUTES: tuple[str, ...] = (
    "objectClass",
    "cn",
    "hsaIdentity",
    "hsaCommissionPurpose",
    "hsaCommissionRight",
    "hsaHealthCareUnitHsaId",
    "hsaHealthCareUnitName",
    "hsaHealthCareProviderHsaId",
    "hsaHealthCareProviderName",
    "hsaHealthCareProviderOrgNo",
    "hsaArchived",
)


def _commission(entry: _Entry) -> Commission:
    return Commission(
        hsa_id=entry.required("hsaIdentity"),
        name=entry.required("cn"),
        purpose=entry.required("hsaCommissionPurpose"),
        rights=tuple(Right.parse(text) for text in entry.all("hsaCommissionRight")),
        health_care_unit_hsa_id=entry.required("hsaHealthCareUnitHsaId"),
        health_care_unit_name=entry.required("hsaHealthCareUnitName"),
        health_care_provider_hsa_id=entry.required("hsaHealthCareProviderHsaId"),
        health_care_provider_name=entry.required("hsaHealthCareProviderName"),
        health_care_provider_org_no=entry.one("hsaHealthCareProviderOrgNo"),
        feigned="hsafeigneddataobject" in entry.object_classes,
        archived=entry.boolean("hsaArchived"),
    )


def _person(entry: _Entry, commissions: tuple[Commission, ...]) -> Person:
    return Person(
        hsa_id=entry.required("hsaIdentity"),
        personal_identity_number=entry.one("personalIdentityNumber"),
        given_name=entry.required("givenName"),
        surname=entry.required("sn"),
        display_name=entry.one("displayName"),
        mail=entry.one("mail"),
        title=entry.one("title"),
        hsa_titles=tuple(entry.all("hsaTitle")),
        pa_title_codes=tuple(entry.all("paTitleCode")),
        system_roles=tuple(SystemRole.parse(text) for text in entry.all("hsaSystemRole")),
        protected="hsaconfidentialperson" in entry.object_classes,
        feigned="hsafeigneddataobject" in entry.object_classes,
        commissions=commissions,
    )


def _checked(entry: _Entry, build: Callable[[], T]) -> T:
    """Build a model object, naming the entry in any validation error."""
    try:
        return build()
    except LdifError:
        raise
    except (HsaDataError, IdentifierError) as error:
        raise entry.error(str(error)) from error


def person_from_entry(
    person: LdifEntry, commissions: Iterable[LdifEntry] = (), *, source: str = ""
) -> Person:
    """Build one :class:`Person` holding exactly ``commissions``, in the order given.

    For a client whose server already found the person's commission entries (an LDAP search on
    ``hsaCommissionMember``), so membership is not checked again here; the entry-to-model
    mapping and its error messages are the ones :func:`people_from_entries` uses.
    """
    entry = _Entry(*person, source)
    held = tuple(
        _checked(commission, partial(_commission, commission))
        for commission in (_Entry(dn, attributes, source) for dn, attributes in commissions)
    )
    return _checked(entry, partial(_person, entry, held))


def people_from_entries(entries: Iterable[LdifEntry], *, source: str = "") -> list[Person]:
    """Build :class:`Person` objects, each with the commissions whose members name them.

    Person entries have objectClass ``hsaPerson`` (or ``hsaIdentity`` with
    ``personalIdentityNumber``/``givenName``); commission entries have objectClass
    ``hsaCommission`` and name their members in ``hsaCommissionMember`` by DN or HSA-id, so one
    commission may be shared by several people. Other entries (organisations, units) are
    skipped. A member that names nobody, or two people with one HSA-id, is an error: silently
    dropping a commission would hide a mistake in the test data.
    """
    wrapped = [_Entry(dn, attributes, source) for dn, attributes in entries]
    person_entries = [entry for entry in wrapped if _is_person(entry)]
    by_dn: dict[str, str] = {}
    by_hsa_id: dict[str, _Entry] = {}
    for entry in person_entries:
        hsa_id = _checked(entry, partial(_identity, entry))
        if hsa_id in by_hsa_id:
            raise entry.error(f"hsaIdentity {hsa_id} is also used by {by_hsa_id[hsa_id].dn!r}")
        by_hsa_id[hsa_id] = entry
        by_dn[dn_key(entry.dn)] = hsa_id

    held: dict[str, list[Commission]] = {hsa_id: [] for hsa_id in by_hsa_id}
    for entry in wrapped:
        if not _is_commission(entry):
            continue
        commission = _checked(entry, partial(_commission, entry))
        members = entry.all("hsaCommissionMember")
        if not members:
            raise entry.error("hsaCommissionMember is required")
        for member in members:
            hsa_id = by_dn.get(dn_key(member))
            if hsa_id is None:
                try:
                    candidate = normalise_hsa_id(member)
                except IdentifierError:
                    candidate = None
                hsa_id = candidate if candidate in held else None
            if hsa_id is None:
                raise entry.error(f"hsaCommissionMember {member!r} names no person in the data")
            held[hsa_id].append(commission)

    return [
        _checked(entry, partial(_person, entry, tuple(held[hsa_id])))
        for hsa_id, entry in by_hsa_id.items()
    ]
