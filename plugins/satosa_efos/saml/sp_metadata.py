"""What an application's SAML metadata says, read once per worker from its file.

The frontend answers only at addresses in this metadata, verifies signatures only with keys in
it, and encrypts only to its encryption key (Swedish eID deployment profile §2.1.1.2, §5.4.2,
§6.1). The file is the one ``applications.yaml`` names; check-config has already refused a DTD,
another entityID or an expired certificate (:func:`satosa_efos.config.files.check_metadata`).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from lxml import etree

from satosa_efos.xmlsec import policy as xml

MD = "urn:oasis:names:tc:SAML:2.0:metadata"
DS = "http://www.w3.org/2000/09/xmldsig#"
HTTP_POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"


class MetadataProblem(ValueError):
    """The metadata cannot serve as an application's (the message says why)."""


@dataclass(frozen=True)
class Endpoint:
    binding: str
    location: str
    index: int | None
    is_default: bool


@dataclass(frozen=True)
class EncryptionKey:
    certificate: x509.Certificate
    #: ``<md:EncryptionMethod Algorithm>`` values, in the application's order of preference.
    methods: tuple[str, ...]


@dataclass(frozen=True)
class AttributeConsumingService:
    index: int
    is_default: bool
    #: ``Name`` of each ``<md:RequestedAttribute>``.
    requested: tuple[str, ...]


@dataclass(frozen=True)
class SpMetadata:
    entity_id: str
    assertion_consumer_services: tuple[Endpoint, ...]
    signing_certificates: tuple[x509.Certificate, ...]
    encryption_keys: tuple[EncryptionKey, ...]
    authn_requests_signed: bool
    name_id_formats: tuple[str, ...]
    attribute_consuming_services: tuple[AttributeConsumingService, ...] = field(default=())

    @property
    def post_acs(self) -> tuple[Endpoint, ...]:
        """The HTTP-POST AssertionConsumerServices: the only ones answered (profile §5.4.2)."""
        return tuple(e for e in self.assertion_consumer_services if e.binding == HTTP_POST)

    def default_post_acs(self) -> Endpoint | None:
        """Profile §5.4.2: the one marked ``isDefault``, else the lowest index, else the first
        (SAML metadata §2.4.4.1)."""
        endpoints = self.post_acs
        if not endpoints:
            return None
        for endpoint in endpoints:
            if endpoint.is_default:
                return endpoint
        indexed = [e for e in endpoints if e.index is not None]
        return min(indexed, key=lambda e: e.index) if indexed else endpoints[0]

    def attribute_consuming_service(self, index: int | None) -> AttributeConsumingService | None:
        """The service an AuthnRequest names by index, else the default one (SAML metadata
        §2.4.4.1: ``isDefault``, else the first); None when the metadata has none."""
        services = self.attribute_consuming_services
        if index is not None:
            return next((s for s in services if s.index == index), None)
        return next((s for s in services if s.is_default), services[0] if services else None)


def _bool(value: str | None) -> bool:
    return (value or "").strip() in ("true", "1")


def _index(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _certificates(descriptor: etree._Element) -> list[x509.Certificate]:
    found = []
    for element in descriptor.iter(f"{{{DS}}}X509Certificate"):
        der = base64.b64decode("".join((element.text or "").split()))
        found.append(x509.load_der_x509_certificate(der))
    return found


def parse_sp_metadata(data: bytes, entity_id: str) -> SpMetadata:
    """The SP description of ``entity_id`` in a metadata document (EntityDescriptor or
    EntitiesDescriptor); MetadataProblem when it is not there or unreadable."""
    try:
        root = xml.parse(data)
    except xml.SignatureRefused as exc:  # the safe parser's refusal: not XML, or a DTD
        raise MetadataProblem(exc.detail) from None
    entities = [root] if root.tag == f"{{{MD}}}EntityDescriptor" else []
    entities += root.findall(f".//{{{MD}}}EntityDescriptor")
    entity = next((e for e in entities if e.get("entityID") == entity_id), None)
    if entity is None:
        raise MetadataProblem(f"does not describe {entity_id}")
    descriptor = entity.find(f"{{{MD}}}SPSSODescriptor")
    if descriptor is None:
        raise MetadataProblem(f"has no SPSSODescriptor for {entity_id}")
    acs = tuple(
        Endpoint(e.get("Binding", ""), e.get("Location", ""), _index(e.get("index")),
                 _bool(e.get("isDefault")))
        for e in descriptor.findall(f"{{{MD}}}AssertionConsumerService")
    )  # fmt: skip
    signing: list[x509.Certificate] = []
    encryption: list[EncryptionKey] = []
    try:
        for key in descriptor.findall(f"{{{MD}}}KeyDescriptor"):
            use = key.get("use")
            certificates = _certificates(key)
            if use in (None, "", "signing"):
                signing += certificates
            if use in (None, "", "encryption"):
                methods = tuple(m.get("Algorithm", "")
                                for m in key.findall(f"{{{MD}}}EncryptionMethod"))  # fmt: skip
                encryption += [EncryptionKey(c, methods) for c in certificates]
    except ValueError as exc:
        raise MetadataProblem(f"has an unreadable certificate ({exc})") from None
    services = tuple(
        AttributeConsumingService(
            _index(s.get("index")) or 0,
            _bool(s.get("isDefault")),
            tuple(r.get("Name", "") for r in s.findall(f"{{{MD}}}RequestedAttribute")),
        )
        for s in descriptor.findall(f"{{{MD}}}AttributeConsumingService")
    )
    return SpMetadata(
        entity_id=entity_id,
        assertion_consumer_services=acs,
        signing_certificates=tuple(signing),
        encryption_keys=tuple(encryption),
        authn_requests_signed=_bool(descriptor.get("AuthnRequestsSigned")),
        name_id_formats=tuple(
            (e.text or "").strip() for e in descriptor.findall(f"{{{MD}}}NameIDFormat")
        ),  # fmt: skip
        attribute_consuming_services=services,
    )


def read_sp_metadata(path: str | Path, entity_id: str) -> SpMetadata:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise MetadataProblem(f"cannot be read: {exc.strerror}") from None
    return parse_sp_metadata(data, entity_id)
