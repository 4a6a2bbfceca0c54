"""Checks of the files a configuration refers to: keys, certificates, SAML metadata.

Each check returns a list of problem texts (empty when the file is fine) so that check-config can
report all of them at the line that names the file.
"""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from lxml import etree

MD = "urn:oasis:names:tc:SAML:2.0:metadata"
DS = "http://www.w3.org/2000/09/xmldsig#"

#: Metadata is operator-supplied but still parsed without DTDs, entities or network access.
_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, dtd_validation=False, load_dtd=False, huge_tree=False
)


def _readable(path: Path) -> str | None:
    if not path.exists():
        return f"{path} does not exist"
    if not path.is_file():
        return f"{path} is not a file"
    try:
        path.open("rb").close()
    except OSError as exc:
        return f"{path} is not readable: {exc.strerror}"
    return None


def check_private_key(path: Path) -> list[str]:
    if problem := _readable(path):
        return [f"key file {problem}"]
    try:
        load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        return [f"key file {path} is not an unencrypted PEM private key ({exc})"]
    return []


def _certificate_problems(cert: x509.Certificate, what: str, now: dt.datetime) -> list[str]:
    if cert.not_valid_after_utc < now:
        return [f"{what} expired on {cert.not_valid_after_utc:%Y-%m-%d}"]
    if cert.not_valid_before_utc > now:
        return [f"{what} is not valid until {cert.not_valid_before_utc:%Y-%m-%d}"]
    return []


def check_certificate(path: Path, now: dt.datetime | None = None) -> list[str]:
    if problem := _readable(path):
        return [f"certificate file {problem}"]
    try:
        cert = x509.load_pem_x509_certificate(path.read_bytes())
    except ValueError as exc:
        return [f"certificate file {path} is not a PEM certificate ({exc})"]
    return _certificate_problems(cert, f"certificate {path}", now or dt.datetime.now(dt.UTC))


def check_next_certificate(
    path: Path, current: Path | None, now: dt.datetime | None = None
) -> list[str]:
    """The certificate of the next signing key, published ahead of a key rollover: a PEM
    certificate that has not expired and is not the current one (``current``, when it can be
    read; its own problems are reported where it is named). It may be not yet valid: it signs
    nothing until the switch, when it becomes ``cert_file`` and must be valid."""
    if problem := _readable(path):
        return [f"next signing certificate file {problem}"]
    try:
        cert = x509.load_pem_x509_certificate(path.read_bytes())
    except ValueError as exc:
        return [f"next signing certificate file {path} is not a PEM certificate ({exc})"]
    now = now or dt.datetime.now(dt.UTC)
    if cert.not_valid_after_utc < now:
        return [f"next signing certificate {path} expired on {cert.not_valid_after_utc:%Y-%m-%d}"]
    try:
        same = current is not None and x509.load_pem_x509_certificate(current.read_bytes()) == cert
    except (OSError, ValueError):
        same = False
    if same:
        return [f"next signing certificate {path} is the current signing certificate "
                f"({current}): publish the new key's certificate"]  # fmt: skip
    return []


def check_metadata(
    path: Path,
    *,
    expect_entity_id: str | None = None,
    role: str | None = None,
    now: dt.datetime | None = None,
) -> list[str]:
    """SAML metadata: parses safely, holds the expected entity, certificates still valid."""
    if problem := _readable(path):
        return [f"metadata file {problem}"]
    try:
        root = etree.parse(str(path), _PARSER).getroot()
    except etree.XMLSyntaxError as exc:
        return [f"metadata file {path} is not well-formed XML: {exc}"]
    if root.getroottree().docinfo.internalDTD is not None:
        return [f"metadata file {path} contains a DTD, which is refused"]
    entities = [root] if root.tag == f"{{{MD}}}EntityDescriptor" else []
    if root.tag == f"{{{MD}}}EntitiesDescriptor":
        entities = root.findall(f".//{{{MD}}}EntityDescriptor")
    if not entities:
        return [f"metadata file {path} holds no SAML EntityDescriptor"]
    problems: list[str] = []
    ids = {e.get("entityID"): e for e in entities}
    if expect_entity_id is not None:
        entity = ids.get(expect_entity_id)
        if entity is None:
            found = ", ".join(sorted(filter(None, ids))) or "none"
            return [f"metadata file {path} does not describe {expect_entity_id} (found: {found})"]
        if role and entity.find(f"{{{MD}}}{role}") is None:
            problems.append(f"metadata of {expect_entity_id} in {path} has no {role}")
        entities = [entity]
    now = now or dt.datetime.now(dt.UTC)
    for entity in entities:
        for element in entity.iter(f"{{{DS}}}X509Certificate"):
            try:
                der = base64.b64decode("".join((element.text or "").split()))
                cert = x509.load_der_x509_certificate(der)
            except ValueError:
                problems.append(
                    f"metadata of {entity.get('entityID')} has an unreadable certificate"
                )
                continue
            problems += _certificate_problems(
                cert, f"a certificate in the metadata of {entity.get('entityID')}", now
            )
    return problems


def metadata_entity_ids(path: Path) -> list[str]:
    """The entityIDs a metadata file describes (empty when it cannot be read)."""
    try:
        root = etree.parse(str(path), _PARSER).getroot()
    except (OSError, etree.XMLSyntaxError):
        return []
    if root.tag == f"{{{MD}}}EntityDescriptor":
        return [root.get("entityID", "")]
    return [e.get("entityID", "") for e in root.iter(f"{{{MD}}}EntityDescriptor")]
