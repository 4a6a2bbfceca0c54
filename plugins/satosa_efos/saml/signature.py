"""Signatures on AuthnRequests (Swedish eID deployment profile §5.2, §8; SAML bindings §3.4.4.1,
§3.5.4).

- HTTP-Redirect: the signature is over the query string octets ``SAMLRequest=…&RelayState=…&
  SigAlg=…`` *as they were sent* (bindings §3.4.4.1), verified here in-process with the
  application's metadata certificates; an XML signature inside a redirected message is not one.
- HTTP-POST: an enveloped ``ds:Signature`` on the AuthnRequest, checked against the shape and
  algorithm rules of :mod:`satosa_efos.xmlsec.policy` (signature wrapping, SHA-1), its own
  ``KeyInfo`` removed, and verified by the crypto backend with each metadata certificate.

Only keys from the application's metadata verify (§2.1.1.2): never one the message carries.
"""

from __future__ import annotations

import base64
import binascii
import logging
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote_plus, unquote_plus

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding

from satosa_efos.xmlsec import policy as algorithms

logger = logging.getLogger(__name__)

AUTHN_REQUEST_NODE = "urn:oasis:names:tc:SAML:2.0:protocol:AuthnRequest"
POLICY = algorithms.AlgorithmPolicy()

_HASHES = {
    algorithms.RSA_SHA256: hashes.SHA256,
    algorithms.RSA_SHA384: hashes.SHA384,
    algorithms.RSA_SHA512: hashes.SHA512,
    algorithms.ECDSA_SHA256: hashes.SHA256,
    algorithms.ECDSA_SHA384: hashes.SHA384,
    algorithms.ECDSA_SHA512: hashes.SHA512,
}


class BadSignature(ValueError):
    """The message is signed, but not acceptably (algorithm, shape, or it does not verify)."""


@dataclass(frozen=True)
class RedirectSignature:
    sig_alg: str
    signature: bytes
    signed_octets: bytes


def redirect_signature(
    raw_query: str | None, values: dict[str, str], field: str = "SAMLRequest"
) -> RedirectSignature | None:
    """The query-string signature of an HTTP-Redirect message, or None if it has none.

    Bindings §3.4.4.1: the signature is over ``field`` (SAMLRequest or SAMLResponse),
    RelayState and SigAlg, as sent and in that order. ``raw_query`` is the query string as
    received; without it the octets are rebuilt with the usual encoding (``quote_plus``), which
    matches senders that encode the same way.
    """
    if "Signature" not in values and "SigAlg" not in values:
        return None
    if not values.get("Signature") or not values.get("SigAlg"):
        raise BadSignature("a redirect signature needs both SigAlg and Signature")
    names = (field, "RelayState", "SigAlg")
    raw: dict[str, str] = {}
    if raw_query:
        for pair in raw_query.split("&"):
            name, _, value = pair.partition("=")
            if name in (*names, "Signature"):
                if name in raw:
                    raise BadSignature(f"{name} appears twice in the query string")
                raw[name] = value
    else:
        raw = {name: quote_plus(value) for name, value in values.items()}
    octets = "&".join(f"{name}={raw[name]}" for name in names if name in raw)
    try:
        signature = base64.b64decode(unquote_plus(raw.get("Signature", "")), validate=True)
    except (binascii.Error, ValueError):
        raise BadSignature("the Signature parameter is not base64") from None
    return RedirectSignature(unquote_plus(raw["SigAlg"]), signature, octets.encode())


def verify_redirect(signed: RedirectSignature, certificates: Sequence[x509.Certificate]) -> None:
    """BadSignature unless one metadata certificate verifies it with an allowed algorithm."""
    if signed.sig_alg not in POLICY.signature_algorithms:
        raise BadSignature(f"signature algorithm {signed.sig_alg} is refused (profile §8.2)")
    digest = _HASHES[signed.sig_alg]()
    for certificate in certificates:
        key = certificate.public_key()
        try:
            if isinstance(key, rsa.RSAPublicKey) and "rsa-" in signed.sig_alg:
                key.verify(signed.signature, signed.signed_octets, padding.PKCS1v15(), digest)
                return
            if isinstance(key, ec.EllipticCurvePublicKey) and "ecdsa-" in signed.sig_alg:
                key.verify(_der(signed.signature), signed.signed_octets, ec.ECDSA(digest))
                return
        except (InvalidSignature, ValueError):
            continue
    raise BadSignature("the redirect signature does not verify with the application's keys")


def _der(raw: bytes) -> bytes:
    """XML Signature ECDSA values are r‖s (RFC 4051 §3.3); cryptography wants DER."""
    half = len(raw) // 2
    if not raw or len(raw) % 2:
        raise ValueError("not an r||s ECDSA signature")
    return encode_dss_signature(
        int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big")
    )


def has_enveloped_signature(document: bytes) -> bool:
    root = algorithms.parse(document)
    return root.find(f"{{{algorithms.DS}}}Signature") is not None


def verify_post(
    document: bytes,
    message_id: str,
    certificates: Sequence[x509.Certificate],
    crypto,
    node: str = AUTHN_REQUEST_NODE,
) -> None:
    """BadSignature unless the message's own enveloped signature (on ``node`` with ID
    ``message_id``: an AuthnRequest, LogoutRequest or LogoutResponse) is acceptable and
    verifies with one of the sender's metadata certificates; its KeyInfo is never used."""
    try:
        root = algorithms.parse(document)
        _, signature = algorithms.signed_element(root, node, message_id, POLICY)
    except algorithms.SignatureRefused as exc:
        raise BadSignature(exc.detail) from None
    algorithms.strip_key_info(signature)
    stripped = algorithms.serialise(root)
    for certificate in certificates:
        with tempfile.NamedTemporaryFile(suffix=".pem") as handle:
            handle.write(certificate.public_bytes(Encoding.PEM))
            handle.flush()
            try:
                if crypto.validate_signature(stripped, handle.name, "pem", node, message_id):
                    return
            except Exception as exc:  # each backend has its own failure types: the next key
                logger.debug("%s signature not verified with one key: %s", node, exc)
    raise BadSignature("the signature does not verify with the sender's metadata keys")
