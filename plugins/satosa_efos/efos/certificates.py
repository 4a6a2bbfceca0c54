"""Validation of the user's certificate from Mobilt Efos completion data.

docs/efos-rp-api.md *Completion* lists what the RP must verify, DOMAIN.md §2 what a real
relying party checks: the signature over the challenge, a chain to a configured trust anchor, the
validity period, key usage digitalSignature, an accepted certificate policy, and revocation by
OCSP. The service's ``user`` object is informative only, so everything the proxy asserts about
the user rests on these checks. Each failed check raises :class:`CertificateRefused` with its own
code; the order below is the order a user is told about problems (trust first, revocation last
because it costs a network call).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal, TypeVar

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from .errors import CertificateRefused, OcspUnavailable
from .ocsp import OcspAnswer, OcspChecker

__all__ = [
    "EFOS_POLICY_ARC",
    "CertificateRefused",
    "OcspAnswer",
    "OcspChecker",
    "OcspPolicy",
    "OcspUnavailable",
    "TrustSettings",
    "accepted_policy_oid",
    "build_path",
    "oid_under",
    "validate_certificate",
    "verify_challenge_signature",
]

logger = logging.getLogger(__name__)

#: Efos certificate policy arc (DOMAIN.md §2).
EFOS_POLICY_ARC = "1.2.752.146.200.3"
#: Longest chain searched: user → issuing CA → intermediates → anchor. Bounds the work an
#: attacker-supplied ``chain`` can cause.
MAX_PATH_LENGTH = 6

_Ext = TypeVar("_Ext", bound=x509.ExtensionType)


@dataclass(frozen=True)
class OcspPolicy:
    """How revocation is checked.

    ``soft``: an unreachable or unusable responder is logged and the login goes on; a
    ``revoked`` answer is always refused. ``responder_url`` overrides the certificate's AIA.
    """

    mode: Literal["hard", "soft"] = "hard"
    responder_url: str | None = None
    timeout: float = 3.0


@dataclass(frozen=True)
class TrustSettings:
    """What a certificate must satisfy; built once from configuration at start."""

    anchors: tuple[x509.Certificate, ...]
    policy_oids: frozenset[str] = frozenset({EFOS_POLICY_ARC})
    ocsp: OcspPolicy = field(default_factory=OcspPolicy)
    clock_skew: timedelta = timedelta(minutes=1)


def validate_certificate(
    cert: x509.Certificate,
    chain: Sequence[x509.Certificate],
    trust: TrustSettings,
    *,
    now: datetime | None = None,
    ocsp: OcspChecker,
) -> None:
    """Refuse ``cert`` unless every check of docs/efos-rp-api.md *Completion* holds.

    ``chain`` is the completion data's ``chain`` (closest first); it is untrusted input that
    only helps find a path to one of ``trust.anchors``.
    """
    now = _aware(now)
    path = build_path(cert, chain, trust.anchors)
    for position, member in enumerate(path):
        check_validity(member, now, trust.clock_skew, is_user=position == 0)
    check_key_usage(cert)
    accepted_policy_oid(cert, trust.policy_oids)
    check_revocation(cert, path[1], trust, ocsp, now)


def verify_challenge_signature(
    cert: x509.Certificate, signed_data: bytes, signature: bytes, algorithm: str
) -> None:
    """Prove the user's app holds the certificate's key (docs/efos-rp-api.md *Completion*).

    RS256 is RSASSA-PKCS1-v1_5 with SHA-256; ES256 is ECDSA on P-256 with SHA-256 and, as the
    API says, a DER-encoded signature (not JOSE's raw r‖s). The algorithm must match the key
    type, so an RSA key cannot be "verified" under an EC algorithm name or vice versa.
    """
    key = cert.public_key()
    try:
        if algorithm == "RS256" and isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, signed_data, padding.PKCS1v15(), hashes.SHA256())
            return
        if (
            algorithm == "ES256"
            and isinstance(key, ec.EllipticCurvePublicKey)
            and isinstance(key.curve, ec.SECP256R1)
        ):
            key.verify(signature, signed_data, ec.ECDSA(hashes.SHA256()))
            return
    except (InvalidSignature, ValueError):
        raise CertificateRefused(
            "efos.bad_signature", "the signature over the challenge does not verify"
        )
    raise CertificateRefused(
        "efos.bad_signature",
        f"signature algorithm {algorithm[:20]!r} is not RS256 or ES256 for this certificate's key",
    )


# -- chain (RFC 5280 §6.1, simplified to what an Efos chain needs) ------------------------------


def build_path(
    cert: x509.Certificate,
    chain: Sequence[x509.Certificate],
    anchors: Iterable[x509.Certificate],
) -> list[x509.Certificate]:
    """Return ``[cert, issuer, …, anchor]`` with every signature verified, or refuse.

    Anchors are tried before ``chain`` at every step, so a configured issuing CA ends the path
    even when the service also sends its root.
    """
    path = _extend([cert], list(chain), tuple(anchors))
    if path is None:
        raise CertificateRefused(
            "efos.untrusted",
            f"the certificate issued by {_name(cert.issuer)} does not chain to a configured "
            f"trust anchor",
        )
    return path


def _extend(
    path: list[x509.Certificate],
    pool: list[x509.Certificate],
    anchors: tuple[x509.Certificate, ...],
) -> list[x509.Certificate] | None:
    """Depth-first search: CAs can share a name (renewals), so a wrong first guess backtracks."""
    current, below = path[-1], len(path) - 1
    for anchor in anchors:
        if _issued_by(current, anchor, below):
            return [*path, anchor]
    if len(path) >= MAX_PATH_LENGTH:
        return None
    for candidate in pool:
        if candidate not in path and _issued_by(current, candidate, below):
            found = _extend([*path, candidate], pool, anchors)
            if found is not None:
                return found
    return None


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate, intermediates: int) -> bool:
    """True if ``issuer`` may sign certificates and its key made ``cert``'s signature.

    RFC 5280 §4.2.1.9 / §4.2.1.3: an issuer is a CA (BasicConstraints cA) with keyCertSign, and
    its pathLenConstraint bounds the CA certificates below it (``intermediates``).
    """
    constraints = _extension(issuer, x509.BasicConstraints)
    usage = _extension(issuer, x509.KeyUsage)
    if constraints is None or not constraints.ca or usage is None or not usage.key_cert_sign:
        return False
    if constraints.path_length is not None and intermediates > constraints.path_length:
        return False
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


# -- the single checks --------------------------------------------------------------------------


def check_validity(
    cert: x509.Certificate, now: datetime, skew: timedelta, *, is_user: bool
) -> None:
    """RFC 5280 §4.1.2.5 for every certificate on the path, allowing ``skew`` either way."""
    who = _who(cert, is_user)
    if now < cert.not_valid_before_utc - skew:
        raise CertificateRefused(
            "efos.not_yet_valid",
            f"{who} is valid only from {cert.not_valid_before_utc:%Y-%m-%dT%H:%M:%SZ}",
        )
    if now > cert.not_valid_after_utc + skew:
        raise CertificateRefused(
            "efos.expired", f"{who} expired at {cert.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ}"
        )


def check_key_usage(cert: x509.Certificate) -> None:
    """Authentication needs digitalSignature (RFC 5280 §4.2.1.3, DOMAIN.md §2).

    The extension is required, not assumed to allow everything when absent, and a CA
    certificate is never accepted as a user's certificate.
    """
    usage = _extension(cert, x509.KeyUsage)
    if usage is None or not usage.digital_signature:
        raise CertificateRefused(
            "efos.key_usage", "the certificate's key usage does not include digitalSignature"
        )
    constraints = _extension(cert, x509.BasicConstraints)
    if constraints is not None and constraints.ca:
        raise CertificateRefused("efos.key_usage", "a CA certificate is not a user's certificate")


def oid_under(oid: str, arc: str) -> bool:
    """True if ``oid`` equals ``arc`` or lies beneath it (``1.2.3.4`` is under ``1.2.3``, but
    ``1.2.30`` is not under ``1.2.3``)."""
    return oid == arc or oid.startswith(arc + ".")


def accepted_policy_oid(cert: x509.Certificate, accepted: Iterable[str]) -> str:
    """Return the first certificate policy (RFC 5280 §4.2.1.4) that is accepted, or refuse.

    Also the input to :func:`satosa_efos.efos.attributes.loa_for_policy`.
    """
    accepted = tuple(accepted)
    policies = _extension(cert, x509.CertificatePolicies)
    oids = [policy.policy_identifier.dotted_string for policy in policies or ()]
    for oid in oids:
        if any(oid_under(oid, arc) for arc in accepted):
            return oid
    raise CertificateRefused(
        "efos.policy",
        f"certificate policies {oids or 'none'} are not under the accepted {sorted(accepted)}",
    )


def check_revocation(
    cert: x509.Certificate,
    issuer: x509.Certificate,
    trust: TrustSettings,
    checker: OcspChecker,
    now: datetime,
) -> None:
    """OCSP at the AIA or configured responder (docs/efos-rp-api.md *Completion*).

    Revoked (or unknown to the CA's own responder) is refused in both modes; soft mode only
    forgives the absence of a usable answer.
    """
    policy = trust.ocsp
    try:
        answer = checker.check(
            cert,
            issuer,
            url=policy.responder_url,
            timeout=policy.timeout,
            now=now,
            skew=trust.clock_skew,
        )
    except OcspUnavailable as exc:
        if policy.mode == "soft":
            logger.warning(
                "efos.ocsp_unavailable accepted (soft OCSP mode) for certificate serial %x: %s",
                cert.serial_number,
                exc.detail,
            )
            return
        raise
    if answer.status == "revoked":
        raise CertificateRefused(
            "efos.revoked", f"the user's certificate (serial {cert.serial_number:x}) is revoked"
        )
    if answer.status == "unknown":
        raise CertificateRefused(
            "efos.revoked",
            f"the issuing CA's OCSP responder does not know the user's certificate "
            f"(serial {cert.serial_number:x})",
        )


# -- helpers ------------------------------------------------------------------------------------


def _extension(cert: x509.Certificate, kind: type[_Ext]) -> _Ext | None:
    """The extension's value, or None if absent or unreadable (every check then fails closed)."""
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except (x509.ExtensionNotFound, ValueError):
        return None


def _aware(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now


def _name(name: x509.Name) -> str:
    return name.rfc4514_string()


def _who(cert: x509.Certificate, is_user: bool) -> str:
    """Name a certificate for the log: a CA by its subject, the user only by serial number,
    because the user's subject holds the personnummer (DESIGN.md §7)."""
    if is_user:
        return f"the user's certificate (serial {cert.serial_number:x})"
    return f"CA certificate {_name(cert.subject)}"
