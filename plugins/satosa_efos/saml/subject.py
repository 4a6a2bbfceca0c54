"""Who the assertion is about, and from where it may be presented.

NameID (Swedish eID deployment profile §3, §6.2): ``persistent`` unless the application asks
for ``transient`` (in its AuthnRequest's NameIDPolicy, or its metadata's NameIDFormat); a
persistent NameID is a pseudonym "unique for the IdP – SP combination" and "constructed in a
manner that does not reveal the registered identity of the subject". Here it is
HMAC-SHA256(secret, application entityID, the user's stable subject), computed and never stored:
the same on every node and after every restart (the secret is configuration), different between
applications, and not reversible to the personnummer without the secret (which an HMAC over the
~10^8 personnummer would be, unkeyed).

Address (profile §6.2: SubjectConfirmationData "MUST also contain an Address"): the client's
IP address as this proxy saw it, see :func:`client_address`.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Mapping, Sequence

from satosa_efos.identity import IdentifierError, normalise_hsa_id, normalise_personnummer
from satosa_efos.saml.status import InvalidNameIdPolicy

PERSISTENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
TRANSIENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
UNSPECIFIED = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
SUPPORTED = (PERSISTENT, TRANSIENT)


class NoStableSubject(ValueError):
    """The login carries nothing a persistent NameID can be derived from."""


def name_id_format(requested: str | None, metadata_formats: Sequence[str]) -> str:
    """The NameID format of the answer (profile §3; SAML core §3.4.1.1).

    ``requested`` is the NameIDPolicy's Format: persistent or transient as asked, absent or
    ``unspecified`` means "not specified"; anything else is InvalidNameIDPolicy (the proxy
    issues no other format). Not specified: the first supported NameIDFormat of the metadata,
    else persistent (profile §3: "SHALL default to ... persistent").
    """
    if requested and requested.strip() != UNSPECIFIED:
        if requested.strip() in SUPPORTED:
            return requested.strip()
        raise InvalidNameIdPolicy(f"NameID format {requested.strip()} is not supported")
    return next((f for f in metadata_formats if f in SUPPORTED), PERSISTENT)


def stable_subject(
    attributes: Mapping[str, Sequence[str]], subject_id: str | None, issuer: str | None
) -> str:
    """What identifies the person across logins and login methods, in this order: the HSA-id,
    else the personnummer (both normalised), else the upstream NameID qualified by its issuer."""
    for name, normalise, label in (
        ("employeeHsaId", normalise_hsa_id, "hsa"),
        ("personalIdentityNumber", normalise_personnummer, "pnr"),
    ):
        values = [str(v).strip() for v in attributes.get(name) or [] if str(v).strip()]
        if values:
            try:
                return f"{label}:{normalise(values[0])}"
            except IdentifierError:
                return f"{label}:{values[0]}"
    if subject_id and issuer:
        return f"nameid:{issuer}\0{subject_id}"
    raise NoStableSubject("no HSA-id, personnummer or upstream NameID in the login")


def persistent_name_id(secret: bytes, sp_entity_id: str, subject: str) -> str:
    """The pairwise pseudonym: 64 hex digits, the same for this person at this application."""
    message = f"{sp_entity_id}\0{subject}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def transient_name_id() -> str:
    """A fresh random value per response (SAML core §8.3.8)."""
    return "_" + secrets.token_hex(20)


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def client_address(
    remote_addr: str | None, forwarded_for: str | None, trusted_proxies: Sequence[Network]
) -> str | None:
    """The user's IP address for SubjectConfirmationData/@Address.

    Without configured ``trusted_proxies`` (the proxy faces the users directly) it is the TCP
    peer. Behind them (nginx), ``X-Forwarded-For`` is read from the right, skipping the trusted
    proxies: the first other address is the one the nearest trusted proxy saw. Reading from the
    left would trust the client, which may send its own ``X-Forwarded-For``.
    """
    if not remote_addr:
        return None
    if not trusted_proxies or not _within(remote_addr, trusted_proxies):
        return remote_addr
    hops = [hop.strip() for hop in (forwarded_for or "").split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _valid(hop):
            return None
        if not _within(hop, trusted_proxies):
            return hop
    return hops[0] if hops else remote_addr


def _valid(address: str) -> bool:
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return False
    return True


def _within(address: str, networks: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)
