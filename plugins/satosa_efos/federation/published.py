"""The proxy's published IdP metadata: signed, and the same bytes for the same configuration.

A federation operator (Sambi) verifies submitted metadata by reading its checksum out over the
phone, so the document must not change between key changes: no generated IDs, no timestamps of
the moment it was made. Here the ``ID`` is derived from the unsigned content, ``validUntil`` is
present only when configured, ``cacheDuration`` is configured, the XML is written by one fixed
serialisation, and the RSA-SHA256 signature (PKCS#1 v1.5, deterministic) is made by xmlsec1.

Content (Swedish eID deployment profile §2.1 and SAML metadata schema order):

- ``Extensions/mdattr:EntityAttributes``: entity categories, ``assurance-certification``, the
  Fedkom opt-in attribute when configured, any further entity attributes; ``alg:`` declarations
  of the one digest and signature algorithm the proxy uses (SAML2MetaAlgSupport);
- ``IDPSSODescriptor``: ``mdui:UIInfo``; signing ``KeyDescriptor`` (a second one for the
  frontend's ``next_signing_cert_file`` during a key rollover: published ahead, never used to
  sign) and encryption ``KeyDescriptor``; NameID formats; one ``SingleSignOnService`` per
  binding (HTTP-Redirect and HTTP-POST);
- ``Organization`` and ``ContactPerson`` from SATOSA's ``idp_config`` (so SATOSA and the
  published document cannot disagree about them).

The input is the frontend plugin's ``config`` as SATOSA gets it, plus its SSO endpoints; the
document is built the same way by ``satosa-efos metadata publish`` and by the running proxy.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree

from satosa_efos.config.files import DS, MD
from satosa_efos.federation.settings import (
    ASSURANCE_CERTIFICATION,
    ENTITY_CATEGORY,
    URI_NAME_FORMAT,
    PublishedMetadata,
)
from satosa_efos.xmlsec.metadata import (
    DIGEST_SHA256,
    SIGNATURE_RSA_SHA256,
    sign_metadata,
    signature_template,
)

SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
MDUI = "urn:oasis:names:tc:SAML:metadata:ui"
MDATTR = "urn:oasis:names:tc:SAML:metadata:attribute"
ALG = "urn:oasis:names:tc:SAML:metadata:algsupport"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
PROTOCOL = "urn:oasis:names:tc:SAML:2.0:protocol"
NSMAP = {"md": MD, "ds": DS, "mdui": MDUI, "mdattr": MDATTR, "saml": SAML, "alg": ALG}
DEFAULT_NAME_ID_FORMATS = (
    "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
    "urn:oasis:names:tc:SAML:2.0:nameid-format:transient",
)
MEDIA_TYPE = "application/samlmetadata+xml"


class PublishError(ValueError):
    """The configuration does not give what the published metadata needs."""


@dataclass(frozen=True)
class Published:
    """A built document and the checksums an operator reads out."""

    data: bytes
    entity_id: str
    #: The signing certificates it publishes: the current one, then the next one if any.
    signing_certificates: tuple[x509.Certificate, ...] = ()

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def sha1(self) -> str:
        """Sambi's operator has asked for SHA-1 checksums on the phone (its wiki, 2024)."""
        return hashlib.sha1(self.data, usedforsecurity=False).hexdigest()


def _md(tag: str) -> str:
    return f"{{{MD}}}{tag}"


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attrs: str):
    element = etree.SubElement(parent, tag, **attrs)
    if text is not None:
        element.text = text
    return element


def _localised(value: Any, default_lang: str = "sv") -> list[tuple[str, str]]:
    """pysaml2's forms: ``"text"``, ``["text", ...]``, ``[["text", "sv"], ...]``, or a mapping."""
    if value is None:
        return []
    if isinstance(value, str):
        return [(value, default_lang)]
    if isinstance(value, dict):
        return [(str(text), str(lang)) for lang, text in value.items()]
    items = []
    for item in value:
        if isinstance(item, str):
            items.append((item, default_lang))
        elif isinstance(item, (list, tuple)) and len(item) == 2:
            items.append((str(item[0]), str(item[1])))
        else:
            raise PublishError(f"cannot read {item!r} as a text with a language")
    return items


def _certificate(cert_file: Path) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(Path(cert_file).read_bytes())
    except (OSError, ValueError) as exc:
        raise PublishError(f"cannot read certificate {cert_file}: {exc}") from None


def _certificate_text(cert: x509.Certificate) -> str:
    der = base64.b64encode(cert.public_bytes(Encoding.DER)).decode()
    return "\n" + "\n".join(der[i : i + 64] for i in range(0, len(der), 64)) + "\n"


def _key_descriptor(parent: etree._Element, use: str, cert: x509.Certificate) -> None:
    descriptor = _sub(parent, _md("KeyDescriptor"), use=use)
    key_info = _sub(descriptor, f"{{{DS}}}KeyInfo")
    _sub(_sub(key_info, f"{{{DS}}}X509Data"), f"{{{DS}}}X509Certificate", _certificate_text(cert))


def _attribute(parent: etree._Element, name: str, values: Iterable[str], name_format: str):
    attribute = _sub(parent, f"{{{SAML}}}Attribute", Name=name, NameFormat=name_format)
    for value in values:
        _sub(attribute, f"{{{SAML}}}AttributeValue", value)


def _entity_attributes(settings: PublishedMetadata) -> list[tuple[str, list[str], str]]:
    attributes: list[tuple[str, list[str], str]] = []
    if settings.entity_categories:
        attributes.append((ENTITY_CATEGORY, list(settings.entity_categories), URI_NAME_FORMAT))
    attributes.append(
        (ASSURANCE_CERTIFICATION, list(settings.assurance_certification), URI_NAME_FORMAT)
    )
    if settings.fedkom_opt_in is not None:
        opt_in = settings.fedkom_opt_in
        attributes.append((opt_in.name, [opt_in.value], URI_NAME_FORMAT))
    attributes += [(a.name, list(a.values), a.name_format) for a in settings.entity_attributes]
    return attributes


def _ui_info(parent: etree._Element, settings: PublishedMetadata | None, organization) -> None:
    ui = _sub(parent, f"{{{MDUI}}}UIInfo")
    if settings is None:  # no published_metadata section: the organisation's display names
        names = _localised(organization.get("display_name") or organization.get("name"))
        for text, lang in names:
            _sub(ui, f"{{{MDUI}}}DisplayName", text, **{XML_LANG: lang})
        return
    info = settings.ui_info
    for tag, texts in (
        ("DisplayName", info.display_name),
        ("Description", info.description),
        ("InformationURL", info.information_url),
        ("PrivacyStatementURL", info.privacy_statement_url),
    ):
        for lang, text in texts.items():
            _sub(ui, f"{{{MDUI}}}{tag}", text, **{XML_LANG: lang})
    for logo in info.logos:
        attrs = {"height": str(logo.height), "width": str(logo.width)}
        if logo.lang:
            attrs[XML_LANG] = logo.lang
        _sub(ui, f"{{{MDUI}}}Logo", logo.url, **attrs)


def _organization(parent: etree._Element, organization: dict) -> None:
    names = _localised(organization.get("name"))
    if not names:
        return
    element = _sub(parent, _md("Organization"))
    display = _localised(organization.get("display_name")) or names
    urls = _localised(organization.get("url"))
    if not urls:
        raise PublishError("idp_config.organization needs a url (SAML metadata requires one)")
    for tag, texts in (("OrganizationName", names), ("OrganizationDisplayName", display),
                       ("OrganizationURL", urls)):  # fmt: skip
        for text, lang in texts:
            _sub(element, _md(tag), text, **{XML_LANG: lang})


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else [str(v) for v in value]


def _contacts(parent: etree._Element, contacts: Sequence[dict]) -> None:
    for contact in contacts:
        element = _sub(
            parent, _md("ContactPerson"), contactType=contact.get("contact_type", "technical")
        )
        if contact.get("company"):
            _sub(element, _md("Company"), str(contact["company"]))
        if contact.get("given_name"):
            _sub(element, _md("GivenName"), str(contact["given_name"]))
        if contact.get("sur_name"):
            _sub(element, _md("SurName"), str(contact["sur_name"]))
        for address in _as_list(contact.get("email_address")):
            _sub(element, _md("EmailAddress"),
                 address if address.startswith("mailto:") else f"mailto:{address}")  # fmt: skip
        for number in _as_list(contact.get("telephone_number")):
            _sub(element, _md("TelephoneNumber"), number)


def first_per_binding(endpoints: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """(binding, location) pairs, keeping the first location of each binding.

    SATOSA's frontend answers on ``<backend>/sso/...`` for every backend and the routing
    micro-service chooses the backend anyway, so one address per binding is all a peer needs.
    """
    seen: dict[str, str] = {}
    for binding, location in endpoints:
        seen.setdefault(binding, location)
    return list(seen.items())


def sso_endpoints(frontend_config: dict, base_url: str, backend_names: Sequence[str]):
    """The SSO addresses SATOSA's SAMLFrontend registers (``{BASE}/{backend}/{path}``)."""
    services = (frontend_config.get("endpoints") or {}).get("single_sign_on_service") or {}
    return first_per_binding(
        (binding, f"{base_url.rstrip('/')}/{backend}/{path}")
        for binding, path in services.items()
        for backend in backend_names
    )


def build_published_metadata(
    frontend_config: dict, sso: Sequence[tuple[str, str]], base_dir: Path = Path(".")
) -> Published:
    """The signed document for one SAML IdP frontend (see the module docstring)."""
    idp = frontend_config.get("idp_config") or {}
    raw = frontend_config.get("published_metadata")
    settings = PublishedMetadata.model_validate(raw) if raw is not None else None
    entity_id = idp.get("entityid")
    if not entity_id:
        raise PublishError("idp_config.entityid is missing")
    if not sso:
        raise PublishError("the frontend has no single_sign_on_service endpoints")
    base_dir = Path(base_dir)

    def path(value: str | None, what: str) -> Path:
        if not value:
            raise PublishError(f"{what} is missing")
        return base_dir / value

    cert_file = path(idp.get("cert_file"), "idp_config.cert_file")
    next_file = frontend_config.get("next_signing_cert_file")
    signing_key = path((settings and settings.signing_key_file) or idp.get("key_file"),
                       "idp_config.key_file")  # fmt: skip
    signing_cert = path((settings and settings.signing_cert_file) or idp.get("cert_file"),
                        "idp_config.cert_file")  # fmt: skip
    keypairs = idp.get("encryption_keypairs") or [{}]
    encryption = (settings and settings.encryption_cert_file) or keypairs[0].get("cert_file")
    encryption_cert = path(encryption or idp.get("cert_file"), "idp_config.cert_file")
    service = (idp.get("service") or {}).get("idp") or {}
    organization = idp.get("organization") or {}

    root = etree.Element(_md("EntityDescriptor"), nsmap=NSMAP, entityID=entity_id)
    if settings and settings.cache_duration:
        root.set("cacheDuration", settings.cache_duration)
    if settings and settings.valid_until:
        root.set("validUntil", settings.valid_until.strftime("%Y-%m-%dT%H:%M:%SZ"))
    extensions = _sub(root, _md("Extensions"))
    if settings is not None:
        entity_attributes = _sub(extensions, f"{{{MDATTR}}}EntityAttributes")
        for name, values, name_format in _entity_attributes(settings):
            _attribute(entity_attributes, name, values, name_format)
    # The key the frontend signs responses with (not necessarily the document's signer), and
    # the next one, published ahead of a key rollover (docs/operations.md).
    signing = [_certificate(path) for path in (cert_file, next_file and base_dir / next_file)
               if path]  # fmt: skip
    _sub(extensions, f"{{{ALG}}}DigestMethod", Algorithm=DIGEST_SHA256)
    method = _sub(extensions, f"{{{ALG}}}SigningMethod", Algorithm=SIGNATURE_RSA_SHA256)
    keys = [c.public_key() for c in signing]
    sizes = [key.key_size for key in keys if isinstance(key, rsa.RSAPublicKey)]
    if sizes:
        method.set("MinKeySize", str(min(sizes)))

    want_signed = service.get("want_authn_requests_signed", False)
    descriptor = _sub(root, _md("IDPSSODescriptor"), protocolSupportEnumeration=PROTOCOL,
                      WantAuthnRequestsSigned="true" if want_signed else "false")  # fmt: skip
    _ui_info(_sub(descriptor, _md("Extensions")), settings, organization)
    for certificate in signing:
        _key_descriptor(descriptor, "signing", certificate)
    _key_descriptor(descriptor, "encryption", _certificate(encryption_cert))
    # Single logout (docs/sso.md): pysaml2's own setting, absolute URLs; before NameIDFormat.
    for location, binding in (service.get("endpoints") or {}).get("single_logout_service") or []:
        _sub(descriptor, _md("SingleLogoutService"), Binding=binding, Location=location)
    for name_id_format in _as_list(service.get("name_id_format")) or DEFAULT_NAME_ID_FORMATS:
        _sub(descriptor, _md("NameIDFormat"), name_id_format)
    for binding, location in sso:
        _sub(descriptor, _md("SingleSignOnService"), Binding=binding, Location=location)
    _organization(root, organization)
    _contacts(root, idp.get("contact_person") or [])

    # The ID names the content: same content, same ID; any change, another ID.
    etree.indent(root, space="  ")
    unsigned = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    root.set("ID", "_" + hashlib.sha256(unsigned).hexdigest()[:40])
    template = signature_template(root.get("ID"))
    root.insert(0, template)
    etree.indent(root, space="  ")
    document = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    return Published(sign_metadata(document, signing_key, signing_cert), entity_id, tuple(signing))
