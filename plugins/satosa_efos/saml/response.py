"""The Response the proxy sends to an application: built, signed and encrypted here.

pysaml2's ``create_authn_response`` decides too much by itself for this profile (3DES when it
encrypts, an AttributeStatement only when there are attributes, no ``Address``, the NameID
from its own store), so the XML is built here and only the cryptography is left to the
pysaml2 crypto backend the frontend's ``Server`` has (``sign_statement``,
``encrypt_assertion``): the stock ``xmlsec1`` one, or the project's own
(:mod:`satosa_efos.xmlsec.backend`) when installed. What it must contain (Swedish eID
deployment profile, "profile" below):

- §6.1: the Response signed; the Assertion signed too (the proxy always signs both) and, when
  the application has an encryption key, the **whole assertion** encrypted (EncryptedAssertion,
  never EncryptedID/EncryptedAttribute);
- §6.2: exactly one AuthnStatement and exactly one AttributeStatement; the Issuer; a bearer
  SubjectConfirmation whose SubjectConfirmationData has InResponseTo, Recipient, NotOnOrAfter
  and Address; Conditions with NotBefore, NotOnOrAfter and an AudienceRestriction; the
  AuthnContextClassRef; AuthenticatingAuthority naming the IdP that authenticated the user
  (the proxy is one, "SHOULD include");
- §8: RSA-SHA256 / SHA-256 signatures; AES (CBC mandatory, GCM when the application declares
  it) with RSA-OAEP key transport; never 3DES nor RSA PKCS#1 v1.5;
- §6.4: an error Response carries no assertion, its status from :mod:`.status`.

The assertion declares every namespace it uses itself, so its decrypted bytes are a document
of their own (some SAML libraries parse them out of context).
"""

from __future__ import annotations

import base64
import datetime as dt
import secrets
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree

from satosa_efos.saml.status import SamlStatusError
from satosa_efos.xmlsec import policy as algorithms

SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
DS = algorithms.DS
XENC = algorithms.XENC
XS = "http://www.w3.org/2001/XMLSchema"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
BEARER = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
ENTITY = "urn:oasis:names:tc:SAML:2.0:nameid-format:entity"
URI_NAME_FORMAT = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"
RESPONSE_NODE = f"{SAMLP}:Response"
ASSERTION_NODE = f"{SAML}:Assertion"
#: Where the assertion waits inside ``EncryptedAssertion`` for the backend to encrypt it.
ASSERTION_XPATH = "/*[local-name()='Response']/*[local-name()='EncryptedAssertion']" \
    "/*[local-name()='Assertion']"  # fmt: skip

#: Profile §8.3: the mandatory (CBC) and optional (GCM) block encryption algorithms.
DATA_ENCRYPTION = (
    algorithms.AES256_GCM, algorithms.AES192_GCM, algorithms.AES128_GCM,
    algorithms.AES256_CBC, algorithms.AES192_CBC, algorithms.AES128_CBC,
)  # fmt: skip
#: Profile §8.3: without a declaration in the application's metadata, a mandatory algorithm.
DEFAULT_DATA_ENCRYPTION = algorithms.AES256_CBC
#: Profile §8.4: RSA-OAEP-MGF1P (SHA-1 as the OAEP digest: padding randomness, not integrity).
KEY_TRANSPORT = algorithms.RSA_OAEP_MGF1P
KEY_TRANSPORTS = frozenset({algorithms.RSA_OAEP_MGF1P, algorithms.RSA_OAEP})
_SESSION_KEYS = {alg: f"aes-{algorithms.AES_KEY_BYTES[alg] * 8}" for alg in DATA_ENCRYPTION}
_PLACEHOLDER = "satosa-efos-assertion"


class ResponseFailure(RuntimeError):
    """The response could not be made safely (signing or encryption failed): send nothing."""


@dataclass(frozen=True)
class Recipient:
    """Where the answer goes: the application, its verified ACS, the request and RelayState."""

    sp_entity_id: str
    acs_url: str
    in_response_to: str
    relay_state: str | None = None


@dataclass(frozen=True)
class NameId:
    value: str
    format: str


@dataclass(frozen=True)
class Authentication:
    class_ref: str
    instant: dt.datetime
    #: Profile §6.2: the IdP(s) that authenticated the user, the nearest last.
    authorities: tuple[str, ...]
    #: The AuthnStatement's SessionIndex, which single logout names again (docs/sso.md).
    session_index: str | None = None


@dataclass(frozen=True)
class WireAttribute:
    name: str
    friendly_name: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class EncryptionTarget:
    certificate: x509.Certificate
    algorithm: str


def choose_data_encryption(declared: Sequence[str]) -> str:
    """Profile §6.1 / §8.3: the application's first declared algorithm we allow, else AES-CBC."""
    return next((a for a in declared if a in DATA_ENCRYPTION), DEFAULT_DATA_ENCRYPTION)


def instant(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_id() -> str:
    """An xs:ID (must not start with a digit) with 160 random bits (SAML core §1.3.4)."""
    return "_" + secrets.token_hex(20)


def _el(parent: etree._Element | None, ns: str, tag: str, text: str | None = None, **attrs):
    name = f"{{{ns}}}{tag}"
    element = (
        etree.Element(name, **attrs) if parent is None else etree.SubElement(parent, name, **attrs)
    )
    if text is not None:
        element.text = text
    return element


def certificate_text(certificate: x509.Certificate) -> str:
    return base64.b64encode(certificate.public_bytes(Encoding.DER)).decode()


def signature_template(reference_id: str, certificate: str, signature_algorithm: str,
                       digest_algorithm: str) -> etree._Element:  # fmt: skip
    """An enveloped signature over ``#reference_id`` for the backend to fill (SAML core §5.4)."""
    signature = etree.Element(f"{{{DS}}}Signature", nsmap={"ds": DS})
    info = _el(signature, DS, "SignedInfo")
    _el(info, DS, "CanonicalizationMethod", Algorithm=algorithms.EXC_C14N)
    _el(info, DS, "SignatureMethod", Algorithm=signature_algorithm)
    reference = _el(info, DS, "Reference", URI=f"#{reference_id}")
    transforms = _el(reference, DS, "Transforms")
    _el(transforms, DS, "Transform", Algorithm=algorithms.ENVELOPED)
    _el(transforms, DS, "Transform", Algorithm=algorithms.EXC_C14N)
    _el(reference, DS, "DigestMethod", Algorithm=digest_algorithm)
    _el(reference, DS, "DigestValue")
    _el(signature, DS, "SignatureValue")
    x509_data = _el(_el(signature, DS, "KeyInfo"), DS, "X509Data")
    _el(x509_data, DS, "X509Certificate", certificate)
    return signature


def encryption_template(target: EncryptionTarget) -> str:
    """XML Encryption template: the algorithms are chosen here, never the library's default."""
    data = etree.Element(f"{{{XENC}}}EncryptedData", nsmap={"xenc": XENC, "ds": DS},
                         Id=new_id(), Type=algorithms.ENCRYPTED_ELEMENT)  # fmt: skip
    _el(data, XENC, "EncryptionMethod", Algorithm=target.algorithm)
    key = _el(_el(data, DS, "KeyInfo"), XENC, "EncryptedKey", Id=new_id())
    _el(key, XENC, "EncryptionMethod", Algorithm=KEY_TRANSPORT)
    _el(_el(_el(key, DS, "KeyInfo"), DS, "X509Data"), DS, "X509Certificate",
        certificate_text(target.certificate))  # fmt: skip
    _el(_el(key, XENC, "CipherData"), XENC, "CipherValue")
    _el(_el(data, XENC, "CipherData"), XENC, "CipherValue")
    return etree.tostring(data, encoding="unicode")


class ResponseBuilder:
    """Makes the proxy's signed (and encrypted) Responses with a pysaml2 crypto backend."""

    def __init__(
        self,
        security,
        issuer: str,
        key_file: str | Path,
        certificate: x509.Certificate,
        signature_algorithm: str = algorithms.RSA_SHA256,
        digest_algorithm: str = algorithms.SHA256,
    ) -> None:
        if signature_algorithm not in algorithms.AlgorithmPolicy().signature_algorithms:
            raise ValueError(f"signing algorithm {signature_algorithm} is not allowed (§8.2)")
        if digest_algorithm not in algorithms.AlgorithmPolicy().digest_algorithms:
            raise ValueError(f"digest algorithm {digest_algorithm} is not allowed (§8.1)")
        #: pysaml2's SecurityContext: its ``crypto`` is read per use, so that a backend installed
        #: after start (satosa_efos.xmlsec.backend.install) is the one that is used.
        self.security = security
        self.issuer = issuer
        self.key_file = str(key_file)
        self.certificate = certificate_text(certificate)
        self.signature_algorithm = signature_algorithm
        self.digest_algorithm = digest_algorithm

    # -- the two kinds of answer --------------------------------------------------------------

    def success(
        self,
        recipient: Recipient,
        name_id: NameId,
        authentication: Authentication,
        attributes: Sequence[WireAttribute],
        address: str | None,
        *,
        now: dt.datetime,
        lifetime: dt.timedelta,
        encrypt_to: EncryptionTarget | None,
    ) -> str:
        """The signed Response with one signed (and, given ``encrypt_to``, encrypted) assertion."""
        assertion_id = new_id()
        assertion = self._assertion(assertion_id, recipient, name_id, authentication,
                                    attributes, address, now, lifetime)  # fmt: skip
        response_id = new_id()
        root = self._response(response_id, recipient, now, None, None)
        holder = root
        if encrypt_to is not None:
            holder = _el(root, SAML, "EncryptedAssertion", nsmap={"saml2": SAML})
        etree.SubElement(holder, _PLACEHOLDER)
        # Spliced in as text: lxml would drop the assertion's own namespace declarations when
        # they repeat an ancestor's, and the assertion must stand alone once decrypted.
        document = etree.tostring(root, encoding="unicode").replace(
            f"<{_PLACEHOLDER}/>", etree.tostring(assertion, encoding="unicode")
        )
        document = self._sign(document, ASSERTION_NODE, assertion_id)
        if encrypt_to is not None:
            document = self._encrypt(document, encrypt_to)
        return self._sign(document, RESPONSE_NODE, response_id)

    def error(self, recipient: Recipient, error: SamlStatusError, *, now: dt.datetime) -> str:
        """A signed error Response without any assertion (profile §6.1, §6.4)."""
        response_id = new_id()
        root = self._response(response_id, recipient, now, error, error.message)
        return self._sign(etree.tostring(root, encoding="unicode"), RESPONSE_NODE, response_id)

    # -- XML ----------------------------------------------------------------------------------

    def _response(self, response_id, recipient, now, error, message) -> etree._Element:
        root = etree.Element(f"{{{SAMLP}}}Response", nsmap={"samlp": SAMLP}, ID=response_id,
                             Version="2.0", IssueInstant=instant(now),
                             Destination=recipient.acs_url,
                             InResponseTo=recipient.in_response_to)  # fmt: skip
        _el(root, SAML, "Issuer", self.issuer, nsmap={"saml": SAML}, Format=ENTITY)
        root.append(signature_template(response_id, self.certificate, self.signature_algorithm,
                                       self.digest_algorithm))  # fmt: skip
        status = _el(root, SAMLP, "Status")
        if error is None:
            _el(status, SAMLP, "StatusCode", Value="urn:oasis:names:tc:SAML:2.0:status:Success")
        else:
            code = _el(status, SAMLP, "StatusCode", Value=error.status)
            if error.sub_status:
                _el(code, SAMLP, "StatusCode", Value=error.sub_status)
            if message:
                _el(status, SAMLP, "StatusMessage", message)
        return root

    def _assertion(self, assertion_id, recipient, name_id, authentication, attributes,
                   address, now, lifetime) -> etree._Element:  # fmt: skip
        until = instant(now + lifetime)
        assertion = etree.Element(f"{{{SAML}}}Assertion",
                                  nsmap={"saml": SAML, "xs": XS, "xsi": XSI},
                                  ID=assertion_id, Version="2.0",
                                  IssueInstant=instant(now))  # fmt: skip
        _el(assertion, SAML, "Issuer", self.issuer, Format=ENTITY)
        assertion.append(signature_template(assertion_id, self.certificate,
                                            self.signature_algorithm,
                                            self.digest_algorithm))  # fmt: skip
        subject = _el(assertion, SAML, "Subject")
        _el(subject, SAML, "NameID", name_id.value, Format=name_id.format,
            NameQualifier=self.issuer, SPNameQualifier=recipient.sp_entity_id)  # fmt: skip
        confirmation = _el(subject, SAML, "SubjectConfirmation", Method=BEARER)
        data = {"NotOnOrAfter": until, "Recipient": recipient.acs_url,
                "InResponseTo": recipient.in_response_to}  # fmt: skip
        if address:
            data["Address"] = address
        _el(confirmation, SAML, "SubjectConfirmationData", **data)
        conditions = _el(assertion, SAML, "Conditions", NotBefore=instant(now),
                         NotOnOrAfter=until)  # fmt: skip
        _el(_el(conditions, SAML, "AudienceRestriction"), SAML, "Audience",
            recipient.sp_entity_id)  # fmt: skip
        statement = _el(assertion, SAML, "AuthnStatement",
                        AuthnInstant=instant(authentication.instant),
                        SessionIndex=authentication.session_index or new_id())  # fmt: skip
        context = _el(statement, SAML, "AuthnContext")
        _el(context, SAML, "AuthnContextClassRef", authentication.class_ref)
        for authority in authentication.authorities:
            _el(context, SAML, "AuthenticatingAuthority", authority)
        attribute_statement = _el(assertion, SAML, "AttributeStatement")
        for attribute in attributes:
            element = _el(attribute_statement, SAML, "Attribute", Name=attribute.name,
                          NameFormat=URI_NAME_FORMAT,
                          FriendlyName=attribute.friendly_name)  # fmt: skip
            for value in attribute.values:
                _el(element, SAML, "AttributeValue", value,
                    **{f"{{{XSI}}}type": "xs:string"})  # fmt: skip
        return assertion

    # -- cryptography -------------------------------------------------------------------------

    def _sign(self, document: str, node_name: str, node_id: str) -> str:
        try:
            signed = self.security.crypto.sign_statement(
                document, node_name, self.key_file, node_id
            )
        except Exception as exc:  # every backend has its own error types for one fact
            raise ResponseFailure(f"cannot sign {node_name} {node_id}: {exc}") from exc
        return signed.decode() if isinstance(signed, bytes) else signed

    def _encrypt(self, document: str, target: EncryptionTarget) -> str:
        pem = target.certificate.public_bytes(Encoding.PEM)
        with tempfile.NamedTemporaryFile(suffix=".pem") as handle:
            handle.write(pem)
            handle.flush()
            try:
                encrypted = self.security.crypto.encrypt_assertion(
                    document, handle.name, encryption_template(target),
                    _SESSION_KEYS[target.algorithm], ASSERTION_XPATH,
                )  # fmt: skip
            except Exception as exc:
                raise ResponseFailure(f"cannot encrypt the assertion: {exc}") from exc
        encrypted = encrypted.decode() if isinstance(encrypted, bytes) else encrypted
        check_encrypted(encrypted)
        return encrypted


def check_encrypted(document: str) -> None:
    """Fail closed unless the assertion is now encrypted with allowed algorithms only (whatever
    backend did it: pysaml2's own would use 3DES if given its default template)."""
    try:
        root = algorithms.parse(document)
    except algorithms.SignatureRefused as exc:
        raise ResponseFailure(f"the encrypted response does not parse: {exc}") from exc
    data = root.findall(f"{{{SAML}}}EncryptedAssertion/{{{XENC}}}EncryptedData")
    if len(data) != 1 or root.find(f".//{{{SAML}}}Assertion") is not None:
        raise ResponseFailure("the assertion is not (only) present encrypted")
    method = data[0].find(f"{{{XENC}}}EncryptionMethod")
    if method is None or method.get("Algorithm") not in DATA_ENCRYPTION:
        raise ResponseFailure("the assertion was encrypted with a refused algorithm")
    for key_method in data[0].iter(f"{{{XENC}}}EncryptedKey"):
        found = key_method.find(f"{{{XENC}}}EncryptionMethod")
        if found is None or found.get("Algorithm") not in KEY_TRANSPORTS:
            raise ResponseFailure("the session key was encrypted with a refused algorithm")


def post_form_fields(document: str, relay_state: str | None) -> dict[str, str]:
    """The HTTP-POST binding's form fields (SAML bindings §3.5.4)."""
    fields = {"SAMLResponse": base64.b64encode(document.encode("utf-8")).decode()}
    if relay_state:
        fields["RelayState"] = relay_state
    return fields
