"""What a SAML signature or encryption must look like before any XML security library sees it.

Both crypto backends (:mod:`.inprocess`, the python ``xmlsec`` bindings; :mod:`.xmlsec1`, the
``xmlsec1`` program) run every document through these checks first, so the security properties
are the project's own and do not depend on which library does the arithmetic:

- The input parses without a DTD, entities or network access (DESIGN.md §7).
- The signature covers the element that will be used (SAML core §5.4.1–5.4.2): exactly one
  element carries the ID, it is the named SAML element, its one ``ds:Signature`` is a direct child
  and the first signature inside it, with exactly one ``ds:Reference`` whose URI is ``#<its ID>``;
  only the enveloped-signature and exclusive-canonicalisation transforms (§5.4.4); no
  ``ds:Object`` (§5.4.3 "SHOULD reject"). Together these refuse signature wrapping: a signed
  element moved elsewhere, a second unsigned element, a reference to another element.
- Only the configured algorithms: RSA (PKCS#1 v1.5) or ECDSA with SHA-256/384/512 and SHA-2
  digests by default, never SHA-1 or MD5 (Swedish eID deployment profile §8 / Sambi).
- The signature's own ``ds:KeyInfo`` is removed before verification: the key is the one the
  caller took from metadata, whatever the message says about itself.
- Encrypted input uses AES (CBC or GCM) and RSA-OAEP key transport only, never 3DES or
  RSA PKCS#1 v1.5 (the Bleichenbacher-style oracle of XML Encryption 1.0).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree
from saml2.sigver import DecryptError, EncryptError, SignatureError

DS = "http://www.w3.org/2000/09/xmldsig#"
XENC = "http://www.w3.org/2001/04/xmlenc#"
XENC11 = "http://www.w3.org/2009/xmlenc11#"
XML_NS = "http://www.w3.org/XML/1998/namespace"

RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
RSA_SHA384 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384"
RSA_SHA512 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512"
ECDSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
ECDSA_SHA384 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384"
ECDSA_SHA512 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
SHA384 = "http://www.w3.org/2001/04/xmldsig-more#sha384"
SHA512 = "http://www.w3.org/2001/04/xmlenc#sha512"
SHA1 = "http://www.w3.org/2000/09/xmldsig#sha1"
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
EXC_C14N_COMMENTS = "http://www.w3.org/2001/10/xml-exc-c14n#WithComments"

AES128_CBC = f"{XENC}aes128-cbc"
AES192_CBC = f"{XENC}aes192-cbc"
AES256_CBC = f"{XENC}aes256-cbc"
AES128_GCM = f"{XENC11}aes128-gcm"
AES192_GCM = f"{XENC11}aes192-gcm"
AES256_GCM = f"{XENC11}aes256-gcm"
RSA_OAEP_MGF1P = f"{XENC}rsa-oaep-mgf1p"
RSA_OAEP = f"{XENC11}rsa-oaep"
TRIPLEDES_CBC = f"{XENC}tripledes-cbc"
RSA_1_5 = f"{XENC}rsa-1_5"
ENCRYPTED_ELEMENT = f"{XENC}Element"
ENCRYPTED_KEY_TYPE = f"{XENC}EncryptedKey"

#: AES key length in bytes per data-encryption algorithm.
AES_KEY_BYTES = {
    AES128_CBC: 16,
    AES192_CBC: 24,
    AES256_CBC: 32,
    AES128_GCM: 16,
    AES192_GCM: 24,
    AES256_GCM: 32,
}
#: SAML core §5.4.4: exclusive canonicalisation, with or without comments.
CANONICALISATIONS = frozenset({EXC_C14N, EXC_C14N_COMMENTS})
REFERENCE_TRANSFORMS = frozenset({ENVELOPED, EXC_C14N, EXC_C14N_COMMENTS})
#: The digest inside RSA-OAEP: SHA-1 there is a mask generator, not a signature hash.
OAEP_DIGESTS = frozenset({SHA1, SHA256, SHA384, SHA512})
OAEP_MGFS = frozenset({f"{XENC11}mgf1sha1", f"{XENC11}mgf1sha256", f"{XENC11}mgf1sha384",
                       f"{XENC11}mgf1sha512"})  # fmt: skip

_SIGNATURE = f"{{{DS}}}Signature"
_KEY_INFO = f"{{{DS}}}KeyInfo"
_ENCRYPTED_DATA = f"{{{XENC}}}EncryptedData"
_ENCRYPTED_KEY = f"{{{XENC}}}EncryptedKey"
_ENCRYPTION_METHOD = f"{{{XENC}}}EncryptionMethod"
_INCLUSIVE_NAMESPACES = f"{{{EXC_C14N}}}InclusiveNamespaces"
_ID_ATTRIBUTES = ("ID", "Id", "id", f"{{{XML_NS}}}id")


@dataclass(frozen=True)
class AlgorithmPolicy:
    """The algorithms accepted and used; the defaults follow the Swedish eID profile §8."""

    signature_algorithms: frozenset[str] = field(
        default=frozenset(
            {RSA_SHA256, RSA_SHA384, RSA_SHA512, ECDSA_SHA256, ECDSA_SHA384, ECDSA_SHA512}
        )
    )
    digest_algorithms: frozenset[str] = frozenset({SHA256, SHA384, SHA512})
    data_encryption_algorithms: frozenset[str] = frozenset(AES_KEY_BYTES)
    key_transport_algorithms: frozenset[str] = frozenset({RSA_OAEP_MGF1P, RSA_OAEP})
    #: What this proxy encrypts with (whatever pysaml2's template says: its default is 3DES).
    data_encryption: str = AES256_GCM
    key_transport: str = RSA_OAEP_MGF1P

    def __post_init__(self) -> None:
        if self.data_encryption not in AES_KEY_BYTES:
            raise ValueError(f"data_encryption {self.data_encryption} is not an AES algorithm")
        if self.key_transport != RSA_OAEP_MGF1P:
            raise ValueError("key_transport must be RSA-OAEP (rsa-oaep-mgf1p)")
        weak = {SHA1, TRIPLEDES_CBC, RSA_1_5} & (
            self.digest_algorithms | self.data_encryption_algorithms | self.key_transport_algorithms
        )
        if weak or any("sha1" in a or "md5" in a for a in self.signature_algorithms):
            raise ValueError(f"the algorithm policy admits a broken algorithm: {sorted(weak)}")

    def content_algorithm(self, asked: str | None) -> str:
        """The data-encryption algorithm for one recipient: the one the caller asked for (the
        SAML frontend picks from the application's metadata, Swedish eID profile §8.3) when the
        policy allows it, else the policy's own. pysaml2's default template asks for 3DES, which
        is never allowed, so it gets the policy's algorithm."""
        if asked in self.data_encryption_algorithms and asked in AES_KEY_BYTES:
            return asked
        return self.data_encryption


# -- refusals: pysaml2's own error types, so SecurityContext handles them as it always has ----


class SignatureRefused(SignatureError):
    """The signature does not meet the policy or does not verify; ``code`` is stable."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code, self.detail = code, detail


class DecryptionRefused(DecryptError):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code, self.detail = code, detail


class EncryptionRefused(EncryptError):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code, self.detail = code, detail


# -- parsing -------------------------------------------------------------------------------

_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False, huge_tree=False
)


def as_bytes(document: str | bytes) -> bytes:
    return document.encode("utf-8") if isinstance(document, str) else bytes(document)


def parse(document: str | bytes, refusal: type = SignatureRefused) -> etree._Element:
    """The root of a SAML document, parsed without DTDs, entities or network access."""
    data = as_bytes(document)
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise refusal("dtd", "the document has a DTD or entity declarations")
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise refusal("not_xml", f"the document is not well-formed XML: {exc}") from None
    if root.getroottree().docinfo.doctype:
        raise refusal("dtd", "the document has a DTD")
    return root


def serialise(root: etree._Element) -> str:
    return etree.tostring(root.getroottree(), encoding="unicode")


def clark(node_name: str) -> str:
    """pysaml2's ``urn:...:assertion:Assertion`` as lxml's ``{urn:...:assertion}Assertion``."""
    namespace, _, local = node_name.rpartition(":")
    return f"{{{namespace}}}{local}" if namespace else local


# -- signatures ----------------------------------------------------------------------------


def _ids(element: etree._Element) -> set[str]:
    return {value for name in _ID_ATTRIBUTES if (value := element.get(name)) is not None}


def signed_element(
    root: etree._Element, node_name: str, node_id: str | None, policy: AlgorithmPolicy
) -> tuple[etree._Element, etree._Element]:
    """The element with ``node_id`` and its enveloped signature, after every check above.

    Without ``node_id`` the root itself is the signed element (signed metadata).
    """
    if node_id:
        # Any attribute a resolver could take for an ID counts, so nothing else can answer for
        # "#node_id" (the moved-original and duplicated-ID variants of signature wrapping).
        holders = [e for e in root.iter() if isinstance(e.tag, str) and node_id in _ids(e)]
        if len(holders) != 1:
            raise SignatureRefused("ambiguous_id", f"{len(holders)} elements have ID {node_id!r}")
        element = holders[0]
    else:
        element = root
    if element.tag != clark(node_name):
        raise SignatureRefused("wrong_element", f"{element.tag} is not {node_name}")
    signatures = element.findall(_SIGNATURE)
    if len(signatures) != 1:
        raise SignatureRefused("signature_count", f"{len(signatures)} signatures on {node_name}")
    signature = signatures[0]
    # xmlsec1 verifies the first signature below the start node; make sure that is this one.
    if next(element.iter(_SIGNATURE)) is not signature:
        raise SignatureRefused("nested_signature", "another signature precedes the element's own")
    _check_signed_info(signature, element, node_id, policy)
    return element, signature


def _algorithm(parent: etree._Element, child: str) -> str | None:
    node = parent.find(f"{{{DS}}}{child}")
    return node.get("Algorithm") if node is not None else None


def _check_signed_info(
    signature: etree._Element,
    element: etree._Element,
    node_id: str | None,
    policy: AlgorithmPolicy,
) -> None:
    infos = signature.findall(f"{{{DS}}}SignedInfo")
    if len(infos) != 1:
        raise SignatureRefused("signed_info", "the signature needs exactly one SignedInfo")
    info = infos[0]
    if signature.find(f"{{{DS}}}Object") is not None:
        raise SignatureRefused("object", "ds:Object is not allowed in a SAML signature")
    if (c14n := _algorithm(info, "CanonicalizationMethod")) not in CANONICALISATIONS:
        raise SignatureRefused("canonicalisation", f"canonicalisation {c14n} is not accepted")
    if (method := _algorithm(info, "SignatureMethod")) not in policy.signature_algorithms:
        raise SignatureRefused("signature_algorithm", f"signature algorithm {method} is refused")
    references = info.findall(f"{{{DS}}}Reference")
    if len(references) != 1:
        raise SignatureRefused("references", f"{len(references)} references, exactly one needed")
    reference = references[0]
    element_id = element.get("ID")
    expected = {f"#{element_id}"} if element_id else set()
    if not node_id and element is element.getroottree().getroot():
        expected.add("")
    if reference.get("URI") not in expected or (node_id and element_id != node_id):
        raise SignatureRefused(
            "reference", f"the reference {reference.get('URI')!r} does not name the element"
        )
    transforms = reference.findall(f"{{{DS}}}Transforms/{{{DS}}}Transform")
    algorithms = [t.get("Algorithm") for t in transforms]
    if (
        ENVELOPED not in algorithms
        or not 1 <= len(algorithms) <= 2
        or not set(algorithms) <= REFERENCE_TRANSFORMS
        or any(child.tag != _INCLUSIVE_NAMESPACES for t in transforms for child in t)
    ):
        raise SignatureRefused("transforms", f"transforms {algorithms} are not accepted")
    if (digest := _algorithm(reference, "DigestMethod")) not in policy.digest_algorithms:
        raise SignatureRefused("digest_algorithm", f"digest algorithm {digest} is refused")


def strip_key_info(signature: etree._Element) -> None:
    """Drop what the message says about its own key: only the caller's key may verify."""
    for key_info in signature.findall(_KEY_INFO):
        signature.remove(key_info)


# -- encryption ----------------------------------------------------------------------------


@dataclass(frozen=True)
class EncryptedParts:
    data: etree._Element
    #: The EncryptedKeys that may hold the session key (inside KeyInfo, or referenced by a
    #: RetrievalMethod among the EncryptedData's siblings).
    keys: tuple[etree._Element, ...]
    algorithm: str


def encrypted_parts(root: etree._Element, policy: AlgorithmPolicy) -> EncryptedParts:
    """The first EncryptedData of the document (what xmlsec1 --decrypt works on), checked."""
    data = next(root.iter(_ENCRYPTED_DATA), None)
    if data is None:
        raise DecryptionRefused("nothing_encrypted", "the document has no EncryptedData")
    if data.get("Type") != ENCRYPTED_ELEMENT:
        raise DecryptionRefused("data_type", f"EncryptedData of type {data.get('Type')!r}")
    method = data.find(_ENCRYPTION_METHOD)
    algorithm = method.get("Algorithm") if method is not None else None
    if algorithm not in policy.data_encryption_algorithms:
        raise DecryptionRefused("data_algorithm", f"data encryption {algorithm} is refused")
    keys: list[etree._Element] = []
    key_info = data.find(_KEY_INFO)
    for child in key_info if key_info is not None else ():
        if not isinstance(child.tag, str):
            continue
        if child.tag == _ENCRYPTED_KEY:
            keys.append(child)
        elif child.tag == f"{{{DS}}}RetrievalMethod":
            keys.append(_retrieved_key(data, child))
        elif child.tag != f"{{{DS}}}KeyName":
            raise DecryptionRefused("key_info", f"{child.tag} in the EncryptedData's KeyInfo")
    if not keys:
        raise DecryptionRefused("no_key", "no EncryptedKey for the EncryptedData")
    for key in keys:
        _check_key_transport(key, policy)
    return EncryptedParts(data, tuple(keys), algorithm)


def _retrieved_key(data: etree._Element, method: etree._Element) -> etree._Element:
    uri = method.get("URI") or ""
    if method.get("Type") != ENCRYPTED_KEY_TYPE or not uri.startswith("#"):
        raise DecryptionRefused("retrieval", f"RetrievalMethod {uri!r} is not an EncryptedKey")
    parent = data.getparent()
    found = [k for k in (parent if parent is not None else ()) if k.tag == _ENCRYPTED_KEY
             and k.get("Id") == uri[1:]]  # fmt: skip
    if len(found) != 1:
        raise DecryptionRefused("retrieval", f"no single EncryptedKey {uri} beside the data")
    return found[0]


def _check_key_transport(key: etree._Element, policy: AlgorithmPolicy) -> None:
    method = key.find(_ENCRYPTION_METHOD)
    algorithm = method.get("Algorithm") if method is not None else None
    if algorithm not in policy.key_transport_algorithms:
        raise DecryptionRefused("key_transport", f"key transport {algorithm} is refused")
    digest = _algorithm(method, "DigestMethod")
    mgf = method.find(f"{{{XENC11}}}MGF")
    if (digest is not None and digest not in OAEP_DIGESTS) or (
        mgf is not None and mgf.get("Algorithm") not in OAEP_MGFS
    ):
        raise DecryptionRefused("key_transport", f"RSA-OAEP with {digest} is refused")


@dataclass(frozen=True)
class RecipientHints:
    """What pysaml2's encryption template says about the recipient's key (kept in the output)."""

    data_id: str | None = None
    key_id: str | None = None
    key_name: str | None = None
    certificate: str | None = None
    #: The data-encryption algorithm the template asks for (see ``content_algorithm``).
    data_algorithm: str | None = None


def recipient_hints(template: object) -> RecipientHints:
    """Ids, KeyName and certificate from pysaml2's ``pre_encryption_part`` (3DES; not used)."""
    if template is None or str(template).strip() == "":
        return RecipientHints()
    root = parse(str(template), EncryptionRefused)
    method = root.find(_ENCRYPTION_METHOD)
    asked = method.get("Algorithm") if method is not None else None
    key = root.find(f".//{_ENCRYPTED_KEY}")
    if key is None:
        return RecipientHints(data_id=root.get("Id"), data_algorithm=asked)
    name = (key.findtext(f"{_KEY_INFO}/{{{DS}}}KeyName") or "").strip()
    cert = (key.findtext(f"{_KEY_INFO}/{{{DS}}}X509Data/{{{DS}}}X509Certificate") or "").strip()
    return RecipientHints(root.get("Id"), key.get("Id"), name or None, cert or None, asked)


def rewrite_template(template: object, policy: AlgorithmPolicy) -> str:
    """pysaml2's encryption template with the policy's algorithms instead of 3DES (xmlsec1)."""
    root = parse(str(template), EncryptionRefused)
    if root.tag != _ENCRYPTED_DATA:
        raise EncryptionRefused("template", f"{root.tag} is not an EncryptedData template")
    asked = root.find(_ENCRYPTION_METHOD)
    for element, algorithm in (
        (root, policy.content_algorithm(asked.get("Algorithm") if asked is not None else None)),
        (root.find(f".//{_ENCRYPTED_KEY}"), policy.key_transport),
    ):
        method = element.find(_ENCRYPTION_METHOD) if element is not None else None
        if method is None:
            raise EncryptionRefused("template", "the template lacks an EncryptionMethod")
        method.set("Algorithm", algorithm)
    return serialise(root)


def key_info_for_recipient(hints: RecipientHints) -> etree._Element | None:
    """``ds:KeyInfo`` naming the recipient's key, for the EncryptedKey (helps SPs with several)."""
    if not (hints.key_name or hints.certificate):
        return None
    key_info = etree.Element(_KEY_INFO, nsmap={"ds": DS})
    if hints.key_name:
        etree.SubElement(key_info, f"{{{DS}}}KeyName").text = hints.key_name
    if hints.certificate:
        x509 = etree.SubElement(key_info, f"{{{DS}}}X509Data")
        etree.SubElement(x509, f"{{{DS}}}X509Certificate").text = hints.certificate
    return key_info
