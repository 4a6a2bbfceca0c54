"""pysaml2's XML Schema check of signed messages, done by libxml2 instead of pure Python.

Before verifying a signed Response, Assertion, AuthnRequest or LogoutRequest, pysaml2 7.5
(``saml2.sigver.SecurityContext._check_signature``) validates the element against the SAML
schemas with the ``xmlschema`` package: pure Python, about 10 ms of the proxy's CPU per brokered
login (docs/performance.md). This module does the same validation with the same XSD files
(``saml2.data.schemas``, the same namespace-to-file map as ``saml2.xml.schema``) compiled once
per process by libxml2 (lxml's ``XMLSchema``), and raises pysaml2's own ``XMLSchemaError``, so
the caller refuses the message exactly as before.

The schema files are pysaml2's own (trusted, local): their internal DTD entities are expanded,
nothing is fetched, every ``schemaLocation`` resolves to the file of that name in pysaml2's schema
folder. Documents are parsed without DTDs, entities or network.

:func:`install` puts :func:`validate` in place of ``saml2.sigver.validate_doc_with_schema`` (the
name pysaml2 calls); it is called by :func:`satosa_efos.xmlsec.backend.install` for both crypto
backends.
"""

from __future__ import annotations

import threading
from importlib.resources import files
from pathlib import Path

import saml2.data.schemas
import saml2.sigver
from lxml import etree
from saml2.xml.schema import XMLSchemaError

_SCHEMAS = Path(str(files(saml2.data.schemas)))

# The namespaces pysaml2's validator knows (saml2.xml.schema._create_xml_schema_validator), with
# protocol first: a document's root may be any global element of any of them.
NAMESPACES = {
    "urn:oasis:names:tc:SAML:2.0:protocol": "saml-schema-protocol-2.0.xsd",
    "urn:oasis:names:tc:SAML:2.0:assertion": "saml-schema-assertion-2.0.xsd",
    "urn:oasis:names:tc:SAML:2.0:metadata": "saml-schema-metadata-2.0.xsd",
    "http://www.w3.org/2000/09/xmldsig#": "xmldsig-core-schema.xsd",
    "http://www.w3.org/2001/04/xmlenc#": "xenc-schema.xsd",
    "http://www.w3.org/2009/xmlenc11#": "xenc-schema-11.xsd",
    "http://www.w3.org/XML/1998/namespace": "xml.xsd",
    "http://schemas.xmlsoap.org/soap/envelope/": "envelope.xsd",
    "http://eidas.europa.eu/metadata/servicelist": "eidas-schema-metadata-servicelist.xsd",
    "http://eidas.europa.eu/saml-extensions": "eidas-schema-saml-extensions.xsd",
    "http://eidas.europa.eu/attributes/naturalperson": "eidas-schema-attribute-naturalperson.xsd",
    "http://eidas.europa.eu/attributes/legalperson": "eidas-schema-attribute-legalperson.xsd",
}


class _LocalSchemas(etree.Resolver):
    """Every schemaLocation (``http://www.w3.org/TR/.../xmldsig-core-schema.xsd``, a relative
    name, the XMLSchema DTD) is the file of that name in pysaml2's folder, or nothing."""

    def resolve(self, url, pubid, context):
        name = (url or "").rstrip("/").rsplit("/", 1)[-1]
        if url and url.rstrip("/") == "http://schemas.xmlsoap.org/soap/envelope":
            name = "envelope.xsd"
        local = _SCHEMAS / name
        if name.endswith(".xsd") and local.is_file():
            return self.resolve_filename(str(local), context)
        return self.resolve_string("", context)


def _compile() -> etree.XMLSchema:
    imports = "".join(f'<xs:import namespace="{ns}" schemaLocation="{(_SCHEMAS / f).as_uri()}"/>'
                      for ns, f in NAMESPACES.items())  # fmt: skip
    wrapper = ('<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" '
               'targetNamespace="urn:x-satosa-efos:schema-wrapper">'
               f"{imports}</xs:schema>")  # fmt: skip
    parser = etree.XMLParser(no_network=True, load_dtd=False, resolve_entities=True)
    parser.resolvers.add(_LocalSchemas())
    return etree.XMLSchema(etree.fromstring(wrapper.encode(), parser, base_url=str(_SCHEMAS) + "/"))


_DOCUMENTS = etree.XMLParser(no_network=True, load_dtd=False, resolve_entities=False,
                             huge_tree=False, remove_blank_text=False)  # fmt: skip
_local = threading.local()


def _schema() -> etree.XMLSchema:
    """The compiled schema of this thread (lxml's validators are not to be shared between
    threads; a gunicorn worker compiles it once per thread, about 40 ms)."""
    schema = getattr(_local, "schema", None)
    if schema is None:
        schema = _local.schema = _compile()
    return schema


def validate(doc: str | bytes) -> None:
    """Raise pysaml2's ``XMLSchemaError`` unless ``doc`` is valid against the SAML schemas."""
    try:
        root = etree.fromstring(doc.encode() if isinstance(doc, str) else doc, _DOCUMENTS)
    except etree.XMLSyntaxError as exc:
        raise XMLSchemaError({"doc": doc, "error": str(exc)}) from exc
    if root.getroottree().docinfo.doctype:
        raise XMLSchemaError({"doc": doc, "error": "a DOCTYPE is not allowed"})
    schema = _schema()
    if not schema.validate(root):
        raise XMLSchemaError({"doc": doc, "error": str(schema.error_log.last_error)})


def install() -> None:
    """Use :func:`validate` wherever pysaml2 checks a signed element against the schema."""
    saml2.sigver.validate_doc_with_schema = validate
