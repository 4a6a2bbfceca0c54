"""Signed federation metadata (a Sambi-style aggregate), verified before anything trusts it.

pysaml2's own check (``MetaDataFile(cert=...)``) accepts an *unsigned* file even when a signing
certificate is configured, and does not look at ``validUntil``. Here an aggregate is refused
unless all of this holds (DOMAIN.md §7):

- it parses without DTDs or entities;
- its root element carries exactly one enveloped ``ds:Signature`` whose one reference covers the
  root itself (``URI=""`` or ``#<root ID>``), so no other element can be passed off as signed;
- the signature verifies with the pinned signer certificate (xmlsec1), with RSA-SHA256 or
  stronger;
- ``validUntil`` on the root is present and in the future.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import tempfile
from pathlib import Path

from lxml import etree

from satosa_efos.config.files import DS, MD

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
STRONG_SIGNATURES = {
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
}


class MetadataRejected(ValueError):
    """The aggregate must not be used; the message says why."""


def _valid_until(root: etree._Element, now: dt.datetime) -> dt.datetime:
    text = root.get("validUntil")
    if not text:
        raise MetadataRejected("has no validUntil")
    try:
        valid_until = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise MetadataRejected(f"has an unreadable validUntil {text!r}")
    if valid_until.tzinfo is None:
        valid_until = valid_until.replace(tzinfo=dt.UTC)
    if valid_until <= now:
        raise MetadataRejected(f"expired at {text} (validUntil)")
    return valid_until


def _signature_covers_root(root: etree._Element) -> None:
    signatures = root.findall(f"{{{DS}}}Signature")
    if len(signatures) != 1:
        raise MetadataRejected("is not signed" if not signatures else "has several signatures")
    references = signatures[0].findall(f"{{{DS}}}SignedInfo/{{{DS}}}Reference")
    root_id = root.get("ID")
    if len(references) != 1 or references[0].get("URI") not in ("", f"#{root_id}"):
        raise MetadataRejected("is signed, but the signature does not cover the whole document")
    method = signatures[0].find(f"{{{DS}}}SignedInfo/{{{DS}}}SignatureMethod")
    if method is None or method.get("Algorithm") not in STRONG_SIGNATURES:
        algorithm = method.get("Algorithm") if method is not None else "none"
        raise MetadataRejected(f"is signed with {algorithm}, which is not accepted")


def _xmlsec_verify(data: bytes, root_tag: str, signer_cert: Path) -> None:
    with tempfile.NamedTemporaryFile(suffix=".xml") as handle:
        handle.write(data)
        handle.flush()
        result = subprocess.run(
            ["xmlsec1", "--verify", "--pubkey-cert-pem", str(signer_cert),
             "--id-attr:ID", root_tag, handle.name],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
    if result.returncode != 0:
        raise MetadataRejected(f"signature does not verify with {signer_cert}")


def verified_aggregate(path: Path, signer_cert: Path, now: dt.datetime | None = None) -> str:
    """The aggregate's XML text, after every check above; MetadataRejected otherwise."""
    now = now or dt.datetime.now(dt.UTC)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise MetadataRejected(f"cannot be read: {exc.strerror}")
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise MetadataRejected("contains a DTD, which is refused")
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise MetadataRejected(f"is not well-formed XML: {exc}")
    if root.tag not in (f"{{{MD}}}EntitiesDescriptor", f"{{{MD}}}EntityDescriptor"):
        raise MetadataRejected("is not SAML metadata")
    _valid_until(root, now)
    _signature_covers_root(root)
    _xmlsec_verify(data, f"{MD}:{etree.QName(root).localname}", signer_cert)
    return data.decode("utf-8")
