"""Test service providers for the SAML frontend: metadata written exactly as a test needs it,
and a pysaml2 client to build (and decrypt the answers to) their AuthnRequests."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree
from saml2 import BINDING_HTTP_POST
from saml2.client import Saml2Client
from saml2.config import SPConfig
from saml2.sigver import get_xmlsec_binary
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256

from satosa_efos import attributemaps

MD = "urn:oasis:names:tc:SAML:2.0:metadata"
DS = "http://www.w3.org/2000/09/xmldsig#"
PROTOCOL = "urn:oasis:names:tc:SAML:2.0:protocol"
URI = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"
SAMBI_GIVEN_NAME = "http://sambi.se/attributes/1/givenName"


@dataclass(frozen=True)
class Acs:
    location: str
    index: int
    is_default: bool = False
    binding: str = BINDING_HTTP_POST


def _certificate_element(parent: etree._Element, cert_file: Path) -> None:
    cert = x509.load_pem_x509_certificate(Path(cert_file).read_bytes())
    data = base64.b64encode(cert.public_bytes(Encoding.DER)).decode()
    key_info = etree.SubElement(parent, f"{{{DS}}}KeyInfo")
    x509_data = etree.SubElement(key_info, f"{{{DS}}}X509Data")
    etree.SubElement(x509_data, f"{{{DS}}}X509Certificate").text = data


def write_sp_metadata(
    path: Path,
    entity_id: str,
    acs: Sequence[Acs],
    signing_cert: Path | None,
    *,
    encryption_cert: Path | None = None,
    encryption_methods: Sequence[str] = (),
    authn_requests_signed: bool = False,
    requested_attributes: Sequence[str] | None = None,
    name_id_formats: Sequence[str] = (),
) -> Path:
    root = etree.Element(f"{{{MD}}}EntityDescriptor", nsmap={"md": MD, "ds": DS},
                         entityID=entity_id)  # fmt: skip
    sp = etree.SubElement(root, f"{{{MD}}}SPSSODescriptor", protocolSupportEnumeration=PROTOCOL)
    if authn_requests_signed:
        sp.set("AuthnRequestsSigned", "true")
    if signing_cert:
        _certificate_element(etree.SubElement(sp, f"{{{MD}}}KeyDescriptor", use="signing"),
                             signing_cert)  # fmt: skip
    if encryption_cert:
        key = etree.SubElement(sp, f"{{{MD}}}KeyDescriptor", use="encryption")
        _certificate_element(key, encryption_cert)
        for method in encryption_methods:
            etree.SubElement(key, f"{{{MD}}}EncryptionMethod", Algorithm=method)
    for name_id_format in name_id_formats:
        etree.SubElement(sp, f"{{{MD}}}NameIDFormat").text = name_id_format
    for endpoint in acs:
        element = etree.SubElement(sp, f"{{{MD}}}AssertionConsumerService",
                                   Binding=endpoint.binding, Location=endpoint.location,
                                   index=str(endpoint.index))  # fmt: skip
        if endpoint.is_default:
            element.set("isDefault", "true")
    if requested_attributes is not None:
        service = etree.SubElement(sp, f"{{{MD}}}AttributeConsumingService", index="1",
                                   isDefault="true")  # fmt: skip
        etree.SubElement(service, f"{{{MD}}}ServiceName", {
            "{http://www.w3.org/XML/1998/namespace}lang": "sv"}).text = "Test"  # fmt: skip
        for name in requested_attributes:
            etree.SubElement(service, f"{{{MD}}}RequestedAttribute", Name=name, NameFormat=URI)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))
    return path


def sp_client(
    entity_id: str, acs_url: str, key: Path, cert: Path, idp_metadata: Sequence[Path]
) -> Saml2Client:
    """A pysaml2 SP with this key (for signing and for decrypting), trusting the proxy."""
    config = {
        "entityid": entity_id,
        "key_file": str(key),
        "cert_file": str(cert),
        "encryption_keypairs": [{"key_file": str(key), "cert_file": str(cert)}],
        "xmlsec_binary": get_xmlsec_binary(["/usr/bin", "/usr/local/bin"]),
        "metadata": {"local": [str(p) for p in idp_metadata]},
        "attribute_map_dir": attributemaps.INCOMING,
        "allow_unknown_attributes": True,
        "accepted_time_diff": 60,
        "signing_algorithm": SIG_RSA_SHA256,
        "digest_algorithm": DIGEST_SHA256,
        "service": {
            "sp": {
                "signing_algorithm": SIG_RSA_SHA256,
                "digest_algorithm": DIGEST_SHA256,
                "endpoints": {"assertion_consumer_service": [(acs_url, BINDING_HTTP_POST)]},
                "want_response_signed": True,
                "want_assertions_signed": True,
                "allow_unsolicited": False,
            }
        },
    }
    return Saml2Client(SPConfig().load(config))
