"""Signed SAML metadata: verifying a federation aggregate (Sambi), signing the proxy's own.

pysaml2's own check (``MetaDataFile(cert=...)``) accepts an *unsigned* file even when a signing
certificate is configured, and does not look at ``validUntil``. Here an aggregate is refused
unless all of this holds (DOMAIN.md §7; Swedish eID deployment profile §2: "automatic
consumption of metadata MUST be followed by a successful signature verification"):

- it parses without DTDs, entities or network access, and is at most ``max_bytes`` long;
- its root element carries exactly one enveloped ``ds:Signature`` whose one reference covers the
  root itself (``URI=""`` or ``#<root ID>``, that ID carried by no other element), with only the
  enveloped-signature and canonicalisation transforms, so no other element can be passed off as
  signed (signature wrapping);
- the signature verifies with the pinned signer certificate (xmlsec1), RSA-SHA256 or stronger
  with a SHA-2 digest. Whatever the signature's own ``KeyInfo`` says is ignored: xmlsec1 would
  otherwise verify with a ``<ds:KeyValue>`` key that the signer put there (measured with xmlsec1
  1.2.37: an aggregate signed by anyone verified "against" the pinned certificate);
- ``validUntil`` on the root is present and in the future (``allow_expired`` only for reporting).
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from lxml import etree

from satosa_efos.config.files import DS, MD

_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False, huge_tree=False
)
#: Sambi's aggregate is a few MB; this leaves room for growth and stops a runaway download.
MAX_AGGREGATE_BYTES = 64 * 1024 * 1024
STRONG_SIGNATURES = {
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
}
STRONG_DIGESTS = {
    "http://www.w3.org/2001/04/xmlenc#sha256",
    "http://www.w3.org/2001/04/xmldsig-more#sha384",
    "http://www.w3.org/2001/04/xmlenc#sha512",
}
ALLOWED_TRANSFORMS = {
    "http://www.w3.org/2000/09/xmldsig#enveloped-signature",
    "http://www.w3.org/2001/10/xml-exc-c14n#",
    "http://www.w3.org/2001/10/xml-exc-c14n#WithComments",
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
    "http://www.w3.org/2006/12/xml-c14n11",
}
SIGNATURE_RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
DIGEST_SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
_ROOTS = (f"{{{MD}}}EntitiesDescriptor", f"{{{MD}}}EntityDescriptor")
_INCLUSIVE_NAMESPACES = f"{{{EXC_C14N}}}InclusiveNamespaces"


class MetadataRejected(ValueError):
    """The metadata must not be used; the message says why (it completes "the aggregate …")."""


@dataclass(frozen=True)
class Aggregate:
    """Verified metadata and what an operator reads out of it."""

    data: bytes
    valid_until: dt.datetime
    entity_ids: tuple[str, ...]
    #: Entities whose own (or an enclosing group's) validUntil comes before the root's.
    entity_expiry: dict[str, dt.datetime] = field(default_factory=dict)
    signer: str = ""

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def text(self) -> str:
        return self.data.decode("utf-8")

    def expired(self, now: dt.datetime | None = None) -> bool:
        return self.valid_until <= (now or dt.datetime.now(dt.UTC))


def parse_instant(text: str) -> dt.datetime:
    """An xs:dateTime as used in metadata (``2025-01-01T00:00:00Z``), timezone-aware."""
    value = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def parse_metadata(data: bytes) -> etree._Element:
    """The root of a metadata document, parsed without DTDs, entities or network access."""
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise MetadataRejected("contains a DTD, which is refused")
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise MetadataRejected(f"is not well-formed XML: {exc}") from None
    if root.getroottree().docinfo.doctype:
        raise MetadataRejected("contains a DTD, which is refused")
    if root.tag not in _ROOTS:
        raise MetadataRejected("is not SAML metadata")
    return root


def _valid_until(root: etree._Element) -> dt.datetime:
    text = root.get("validUntil")
    if not text:
        raise MetadataRejected("has no validUntil")
    try:
        return parse_instant(text)
    except ValueError:
        raise MetadataRejected(f"has an unreadable validUntil {text!r}") from None


def _entity_expiry(root: etree._Element, root_until: dt.datetime) -> dict[str, dt.datetime]:
    """Entities that expire before the aggregate does (SAML metadata §2.3.1: a validUntil on an
    inner EntitiesDescriptor or EntityDescriptor limits everything beneath it)."""
    expiry: dict[str, dt.datetime] = {}
    for entity in root.iter(f"{{{MD}}}EntityDescriptor"):
        until = root_until
        node = entity
        while node is not None and node is not root:
            if node.get("validUntil"):
                try:
                    until = min(until, parse_instant(node.get("validUntil")))
                except ValueError:
                    until = dt.datetime.min.replace(tzinfo=dt.UTC)  # unreadable: never valid
            node = node.getparent()
        if until < root_until:
            expiry[entity.get("entityID", "")] = until
    return expiry


def _check_signature_shape(root: etree._Element) -> etree._Element:
    """The root's one signature, after checking that it can only mean "the whole document"."""
    signatures = root.findall(f"{{{DS}}}Signature")
    if len(signatures) != 1:
        raise MetadataRejected("is not signed" if not signatures else "has several signatures")
    signature = signatures[0]
    references = signature.findall(f"{{{DS}}}SignedInfo/{{{DS}}}Reference")
    root_id = root.get("ID")
    uri = references[0].get("URI") if len(references) == 1 else None
    if len(references) != 1 or uri not in ("", f"#{root_id}"):
        raise MetadataRejected("is signed, but the signature does not cover the whole document")
    if uri:
        # An element elsewhere with the root's ID could be what a verifier looks up instead.
        holders = [e for e in root.iter() if isinstance(e.tag, str) and e.get("ID") == root_id]
        if len(holders) != 1:
            raise MetadataRejected(f"has {len(holders)} elements with the signed ID {root_id!r}")
    method = signature.find(f"{{{DS}}}SignedInfo/{{{DS}}}SignatureMethod")
    if method is None or method.get("Algorithm") not in STRONG_SIGNATURES:
        algorithm = method.get("Algorithm") if method is not None else "none"
        raise MetadataRejected(f"is signed with {algorithm}, which is not accepted")
    digest = references[0].find(f"{{{DS}}}DigestMethod")
    if digest is None or digest.get("Algorithm") not in STRONG_DIGESTS:
        algorithm = digest.get("Algorithm") if digest is not None else "none"
        raise MetadataRejected(f"is signed with digest {algorithm}, which is not accepted")
    for transform in references[0].iterfind(f"{{{DS}}}Transforms/{{{DS}}}Transform"):
        extra = [child for child in transform if child.tag != _INCLUSIVE_NAMESPACES]
        if transform.get("Algorithm") not in ALLOWED_TRANSFORMS or extra:
            raise MetadataRejected(
                f"is signed with transform {transform.get('Algorithm')}, which is not accepted"
            )
    return signature


def _xmlsec1(args: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["xmlsec1", *args], capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError:
        raise MetadataRejected("cannot be checked: the xmlsec1 program is not installed") from None
    except subprocess.TimeoutExpired:
        raise MetadataRejected(f"cannot be checked: xmlsec1 took over {timeout} s") from None


def _xmlsec_verify(root: etree._Element, signature: etree._Element, signer_cert: Path) -> None:
    """xmlsec1 on a copy without the signature's KeyInfo, so only the pinned key can verify."""
    doc = copy.deepcopy(root)
    for key_info in doc.find(f"{{{DS}}}Signature").findall(f"{{{DS}}}KeyInfo"):
        key_info.getparent().remove(key_info)
    root_tag = f"{MD}:{etree.QName(root).localname}"
    node_id = ["--node-id", root.get("ID")] if root.get("ID") else []
    with tempfile.NamedTemporaryFile(suffix=".xml") as handle:
        handle.write(etree.tostring(doc, xml_declaration=True, encoding="UTF-8"))
        handle.flush()
        result = _xmlsec1([
            "--verify", "--enabled-reference-uris", "empty,same-doc",
            "--enabled-key-data", "raw-x509-cert", "--pubkey-cert-pem", str(signer_cert),
            "--id-attr:ID", root_tag, *node_id, handle.name,
        ])  # fmt: skip
    if result.returncode != 0:
        raise MetadataRejected(f"signature does not verify with {signer_cert}")


def certificate_subject(cert_file: Path) -> str:
    try:
        cert = x509.load_pem_x509_certificate(Path(cert_file).read_bytes())
    except (OSError, ValueError) as exc:
        raise MetadataRejected(f"cannot be checked: signer certificate {cert_file}: {exc}")
    return cert.subject.rfc4514_string()


def verify_aggregate(
    data: bytes,
    signer_cert: Path,
    *,
    now: dt.datetime | None = None,
    allow_expired: bool = False,
    max_bytes: int = MAX_AGGREGATE_BYTES,
) -> Aggregate:
    """Every check above on a document in memory; MetadataRejected on the first that fails."""
    if len(data) > max_bytes:
        raise MetadataRejected(f"is larger than {max_bytes} bytes")
    signer = certificate_subject(signer_cert)
    root = parse_metadata(data)
    valid_until = _valid_until(root)
    if not allow_expired and valid_until <= (now or dt.datetime.now(dt.UTC)):
        raise MetadataRejected(f"expired at {root.get('validUntil')} (validUntil)")
    signature = _check_signature_shape(root)
    _xmlsec_verify(root, signature, Path(signer_cert))
    if root.tag == f"{{{MD}}}EntityDescriptor":
        entity_ids = (root.get("entityID", ""),)
    else:
        entity_ids = tuple(e.get("entityID", "") for e in root.iter(f"{{{MD}}}EntityDescriptor"))
    return Aggregate(data, valid_until, entity_ids, _entity_expiry(root, valid_until), signer)


def read_limited(path: Path, max_bytes: int = MAX_AGGREGATE_BYTES) -> bytes:
    try:
        with Path(path).open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise MetadataRejected(f"cannot be read: {exc.strerror}") from None
    if len(data) > max_bytes:
        raise MetadataRejected(f"is larger than {max_bytes} bytes")
    return data


def verify_aggregate_file(
    path: Path, signer_cert: Path, *, now: dt.datetime | None = None, allow_expired: bool = False
) -> Aggregate:
    return verify_aggregate(
        read_limited(Path(path)), Path(signer_cert), now=now, allow_expired=allow_expired
    )


def verified_aggregate(path: Path, signer_cert: Path, now: dt.datetime | None = None) -> str:
    """The aggregate's XML text, after every check above; MetadataRejected otherwise."""
    return verify_aggregate_file(Path(path), Path(signer_cert), now=now).text


# -- signing the proxy's own metadata ---------------------------------------------------------


def signature_template(reference_id: str) -> etree._Element:
    """An enveloped RSA-SHA256 / SHA-256 signature over ``#reference_id``, for xmlsec1 to fill."""
    ds = f"{{{DS}}}"
    signature = etree.Element(f"{ds}Signature", nsmap={"ds": DS})
    info = etree.SubElement(signature, f"{ds}SignedInfo")
    etree.SubElement(info, f"{ds}CanonicalizationMethod", Algorithm=EXC_C14N)
    etree.SubElement(info, f"{ds}SignatureMethod", Algorithm=SIGNATURE_RSA_SHA256)
    reference = etree.SubElement(info, f"{ds}Reference", URI=f"#{reference_id}")
    transforms = etree.SubElement(reference, f"{ds}Transforms")
    etree.SubElement(transforms, f"{ds}Transform", Algorithm=ENVELOPED)
    etree.SubElement(transforms, f"{ds}Transform", Algorithm=EXC_C14N)
    etree.SubElement(reference, f"{ds}DigestMethod", Algorithm=DIGEST_SHA256)
    etree.SubElement(reference, f"{ds}DigestValue")
    etree.SubElement(signature, f"{ds}SignatureValue")
    key_info = etree.SubElement(signature, f"{ds}KeyInfo")
    etree.SubElement(key_info, f"{ds}X509Data")
    return signature


def sign_metadata(document: bytes, key_file: Path, cert_file: Path) -> bytes:
    """Fill the signature template in ``document`` (xmlsec1; RSA signatures are deterministic,
    so the same document and key give the same bytes)."""
    root = parse_metadata(document)
    root_tag = f"{MD}:{etree.QName(root).localname}"
    with tempfile.TemporaryDirectory() as tmp:
        source, signed = Path(tmp) / "unsigned.xml", Path(tmp) / "signed.xml"
        source.write_bytes(document)
        result = _xmlsec1([
            "--sign", "--privkey-pem", f"{key_file},{cert_file}", "--id-attr:ID", root_tag,
            "--output", str(signed), str(source),
        ])  # fmt: skip
        if result.returncode != 0:
            detail = result.stderr.strip().splitlines()[-1:] or ["no output"]
            raise MetadataRejected(f"cannot be signed with {key_file}: {detail[0]}")
        return signed.read_bytes()
