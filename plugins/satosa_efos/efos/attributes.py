"""Internal attributes from the user's Efos certificate (DOMAIN.md §2 and §4).

The completion data's ``user`` object is informative (docs/efos-rp-api.md *Completion*): the
attributes come from the validated certificate's subject. Which subject field becomes which
internal attribute is configuration per issuer (DOMAIN.md §2 [A]) — person certificates carry
the personnummer in ``serialNumber``, HSA-id certificates the HSA-id — so it is a model here,
never code.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from cryptography import x509
from cryptography.x509.oid import NameOID
from pydantic import BaseModel, ConfigDict

from satosa_efos.identity import IdentifierError, normalise_hsa_id, normalise_personnummer

from .certificates import EFOS_POLICY_ARC, oid_under
from .errors import CertificateRefused

#: This project's own URI for "logged in with the Mobilt Efos app" (no national URI exists);
#: released as ``authnMethod`` (DOMAIN.md §4).
EFOS_MOBILE_METHOD = "urn:satosa-efos:authn:efos-mobile"

#: The Efos arc is certified at LoA 3 (DOMAIN.md §5); configuration can refine per sub-policy.
DEFAULT_LOA_BY_POLICY: Mapping[str, str] = {EFOS_POLICY_ARC: "loa3"}

_NORMALISERS = {
    "personalIdentityNumber": normalise_personnummer,
    "employeeHsaId": normalise_hsa_id,
}
_DISPLAY_NAME_SOURCES = Literal["CN", "givenName surname"]


class IssuerMapping(BaseModel):
    """Subject fields to internal attribute names for one issuer; ``None`` leaves a field out."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: ``subject.serialNumber`` (2.5.4.5) is a personnummer/samordningsnummer or an HSA-id.
    serial_number_as: Literal["personalIdentityNumber", "employeeHsaId"] = "personalIdentityNumber"
    given_name: str | None = "givenName"
    surname: str | None = "surname"
    #: ``displayName`` from CN, or from given name and surname joined by a space.
    display_name_from: _DISPLAY_NAME_SOURCES | None = "CN"
    organisation: str | None = "organizationName"
    organisation_identifier: str | None = "organizationIdentifier"
    authn_method: str = EFOS_MOBILE_METHOD


def certificate_attributes(cert: x509.Certificate, mapping: IssuerMapping) -> dict[str, list[str]]:
    """Return the internal attributes the certificate proves, per ``mapping``.

    The identifier is validated (DOMAIN.md §6): a certificate whose ``serialNumber`` is not a
    valid personnummer/samordningsnummer or HSA-id is refused with ``efos.subject`` rather than
    passed on to applications.
    """
    subject = cert.subject
    attributes: dict[str, list[str]] = {
        mapping.serial_number_as: [_identifier(subject, mapping.serial_number_as)]
    }
    fields = (
        (mapping.given_name, NameOID.GIVEN_NAME),
        (mapping.surname, NameOID.SURNAME),
        (mapping.organisation, NameOID.ORGANIZATION_NAME),
        (mapping.organisation_identifier, NameOID.ORGANIZATION_IDENTIFIER),
    )
    for name, oid in fields:
        values = _values(subject, oid)
        if name and values:
            attributes[name] = values
    display_name = _display_name(subject, mapping.display_name_from)
    if display_name:
        attributes["displayName"] = display_name
    attributes["authnMethod"] = [mapping.authn_method]
    return attributes


def loa_for_policy(oid: str, mapping: Mapping[str, str] | None = None) -> str:
    """The internal LoA (DOMAIN.md §5) for a certificate policy OID.

    ``mapping`` keys are OIDs or arcs; the most specific key that ``oid`` lies under wins, so
    ``{"1.2.752.146.200.3": "loa3", "1.2.752.146.200.3.9": "loa2"}`` works as expected. An OID
    with no entry is refused: guessing a level would be a downgrade waiting to happen.
    """
    table = DEFAULT_LOA_BY_POLICY if mapping is None else mapping
    arcs = [arc for arc in table if oid_under(oid, arc)]
    if not arcs:
        raise CertificateRefused("efos.policy", f"no level of assurance is configured for {oid}")
    return table[max(arcs, key=len)]


def _identifier(subject: x509.Name, kind: str) -> str:
    """The one ``serialNumber`` in the subject, normalised; never echoed into the detail,
    which is logged (DESIGN.md §7)."""
    values = _values(subject, NameOID.SERIAL_NUMBER)
    if len(values) != 1:
        raise CertificateRefused(
            "efos.subject",
            f"the certificate subject has {len(values)} serialNumber values; exactly one is needed",
        )
    try:
        return _NORMALISERS[kind](values[0])
    except IdentifierError as exc:
        raise CertificateRefused(
            "efos.subject", f"the certificate serialNumber is not a valid {kind} ({exc.code})"
        )


def _values(subject: x509.Name, oid: x509.ObjectIdentifier) -> list[str]:
    """Non-empty text values of one subject attribute, in certificate order."""
    values = (attribute.value for attribute in subject.get_attributes_for_oid(oid))
    return [value.strip() for value in values if isinstance(value, str) and value.strip()]


def _display_name(subject: x509.Name, source: _DISPLAY_NAME_SOURCES | None) -> list[str]:
    if source == "CN":
        return _values(subject, NameOID.COMMON_NAME)[:1]
    if source == "givenName surname":
        parts = _values(subject, NameOID.GIVEN_NAME)[:1] + _values(subject, NameOID.SURNAME)[:1]
        return [" ".join(parts)] if parts else []
    return []


def mapping_for_issuer(
    cert: x509.Certificate, by_issuer: Mapping[str, IssuerMapping], default: IssuerMapping
) -> IssuerMapping:
    """The mapping configured for the certificate's issuer (RFC 4514 DN), else the default.

    Issuers differ (DOMAIN.md §2): an Efos person certificate carries the personnummer in
    serialNumber, a SITHS one the HSA-id; the mapping is chosen per issuing CA.
    """
    return by_issuer.get(cert.issuer.rfc4514_string(), default)
