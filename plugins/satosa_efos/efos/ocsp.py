"""OCSP (RFC 6960) for the user's Efos certificate (docs/efos-rp-api.md *Completion*, DOMAIN.md §2).

:class:`OcspChecker` asks the responder whether one certificate is revoked and accepts only an
answer it can prove: a successful response, signed by the issuing CA or by a responder the CA
delegated, about exactly this certificate, current, and echoing our nonce if the responder echoes
nonces. Anything less is :class:`OcspUnavailable`; whether that refuses the login is the caller's
policy (hard or soft), never this module's.

Answers are cached in worker memory until their nextUpdate: the cache holds facts about
certificates, not login state, so it may differ between workers without harm.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID

from .errors import OcspUnavailable

#: ``fetch(url, der_request, timeout) -> der_response``; raises ``OSError`` when the responder
#: cannot be reached (``requests`` exceptions are ``OSError`` subclasses).
Fetch = Callable[[str, bytes, float], bytes]

#: Without nextUpdate, RFC 5019 §2.2.4 says newer information is always available; keep such an
#: answer only briefly.
DEFAULT_CACHE_TTL = timedelta(minutes=5)
#: A real response is a few kilobytes; anything far larger is not an OCSP response.
MAX_RESPONSE_BYTES = 64 * 1024
_MAX_CACHE_ENTRIES = 10_000
_NONCE_BYTES = 16
# SHA-1 is not acceptable for a *signature* (chosen-prefix collisions); it only appears in the
# CertID of the request (see _build_request).
_SIGNATURE_HASHES = (hashes.SHA256, hashes.SHA384, hashes.SHA512)

CertStatus = Literal["good", "revoked", "unknown"]
_STATUS_NAMES: dict[ocsp.OCSPCertStatus, CertStatus] = {
    ocsp.OCSPCertStatus.GOOD: "good",
    ocsp.OCSPCertStatus.REVOKED: "revoked",
    ocsp.OCSPCertStatus.UNKNOWN: "unknown",
}


@dataclass(frozen=True)
class OcspAnswer:
    """A verified answer about one certificate."""

    status: CertStatus
    this_update: datetime
    next_update: datetime | None
    revocation_time: datetime | None = None


def requests_fetch(url: str, body: bytes, timeout: float) -> bytes:
    """POST an OCSP request (RFC 6960 Appendix A.1) and return the body, capped in size.

    ``timeout`` applies to the connect and to each read, as ``requests`` does it.
    """
    import requests  # only the default transport needs it; tests inject their own

    headers = {
        "Content-Type": "application/ocsp-request",
        "Accept": "application/ocsp-response",
    }
    with requests.post(url, data=body, headers=headers, timeout=timeout, stream=True) as answer:
        answer.raise_for_status()
        content = answer.raw.read(MAX_RESPONSE_BYTES + 1, decode_content=True)
    if len(content) > MAX_RESPONSE_BYTES:
        raise OSError(f"OCSP response from {url} is larger than {MAX_RESPONSE_BYTES} bytes")
    return content


def responder_url_of(cert: x509.Certificate) -> str | None:
    """The first OCSP URL in the certificate's Authority Information Access (RFC 5280 §4.2.2.1)."""
    try:
        aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except (x509.ExtensionNotFound, ValueError):
        return None
    for description in aia:
        location = description.access_location
        if description.access_method == AuthorityInformationAccessOID.OCSP and isinstance(
            location, x509.UniformResourceIdentifier
        ):
            return location.value
    return None


class OcspChecker:
    """Revocation status of certificates, with a thread-safe in-memory cache.

    One instance per worker is meant to be shared by all requests; the lock guards only the
    cache, so a slow responder never blocks a request that finds its answer cached.
    """

    def __init__(
        self,
        fetch: Fetch | None = None,
        *,
        default_ttl: timedelta = DEFAULT_CACHE_TTL,
        max_entries: int = _MAX_CACHE_ENTRIES,
    ) -> None:
        self._fetch = fetch or requests_fetch
        self._default_ttl = default_ttl
        self._max_entries = max_entries
        self._cache: dict[tuple[bytes, int], tuple[datetime, OcspAnswer]] = {}
        self._lock = threading.Lock()

    def check(
        self,
        cert: x509.Certificate,
        issuer: x509.Certificate,
        *,
        url: str | None = None,
        timeout: float = 3.0,
        now: datetime | None = None,
        skew: timedelta = timedelta(minutes=1),
    ) -> OcspAnswer:
        """Return the verified status of ``cert`` (issued by ``issuer``).

        ``url`` overrides the responder named in the certificate's AIA. Raises
        :class:`OcspUnavailable` when no answer can be obtained and verified.
        """
        now = now or datetime.now(UTC)
        request, nonce = _build_request(cert, issuer)
        key = (request.issuer_key_hash, request.serial_number)
        cached = self._cached(key, now)
        if cached is not None:
            return cached
        url = url or responder_url_of(cert)
        if not url:
            raise OcspUnavailable("the certificate names no OCSP responder and none is configured")
        der = self._ask(url, request.public_bytes(serialization.Encoding.DER), timeout)
        answer = verify_response(der, request, issuer, nonce, now=now, skew=skew)
        self._store(key, answer, now)
        return answer

    def _ask(self, url: str, body: bytes, timeout: float) -> bytes:
        try:
            return self._fetch(url, body, timeout)
        except OSError as exc:
            raise OcspUnavailable(f"OCSP responder {url} could not be reached: {exc}")

    def _cached(self, key: tuple[bytes, int], now: datetime) -> OcspAnswer | None:
        with self._lock:
            entry = self._cache.get(key)
            if entry is None:
                return None
            expires, answer = entry
            if now >= expires:
                del self._cache[key]
                return None
            return answer

    def _store(self, key: tuple[bytes, int], answer: OcspAnswer, now: datetime) -> None:
        """Keep an answer until its nextUpdate, since the responder promises nothing newer."""
        expires = answer.next_update or now + self._default_ttl
        if expires <= now:
            return
        with self._lock:
            if key not in self._cache and len(self._cache) >= self._max_entries:
                self._evict(now)
            self._cache[key] = (expires, answer)

    def _evict(self, now: datetime) -> None:
        """Drop expired entries; if none expired, the oldest one (dicts keep insertion order)."""
        for key in [k for k, (expires, _) in self._cache.items() if now >= expires]:
            del self._cache[key]
        if len(self._cache) >= self._max_entries:
            del self._cache[next(iter(self._cache))]


def _build_request(
    cert: x509.Certificate, issuer: x509.Certificate
) -> tuple[ocsp.OCSPRequest, bytes]:
    """An OCSP request for one certificate, with a fresh nonce (RFC 6960 §4.4.1).

    The CertID uses SHA-1 because that is what responders index by (RFC 5019 §2.1.1 requires
    them to support it, and many support nothing else). SHA-1 is only a lookup key here, the
    hash of the issuer's name and key; nothing is signed with it.
    """
    nonce = os.urandom(_NONCE_BYTES)
    builder = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA1())  # noqa: S303
    request = builder.add_extension(x509.OCSPNonce(nonce), critical=False).build()
    return request, nonce


def verify_response(
    der: bytes,
    request: ocsp.OCSPRequest,
    issuer: x509.Certificate,
    nonce: bytes,
    *,
    now: datetime,
    skew: timedelta,
) -> OcspAnswer:
    """Accept a response only if every check of RFC 6960 §3.2 holds; else OcspUnavailable."""
    response = _parse(der)
    _check_signature(response, issuer, now, skew)
    single = _matching_single_response(response, request)
    _check_times(single, now, skew)
    _check_nonce(response, nonce)
    return OcspAnswer(
        status=_STATUS_NAMES[single.certificate_status],
        this_update=single.this_update_utc,
        next_update=single.next_update_utc,
        revocation_time=single.revocation_time_utc,
    )


def _parse(der: bytes) -> ocsp.OCSPResponse:
    """RFC 6960 §4.2.1: only a ``successful`` response carries a status at all."""
    try:
        response = ocsp.load_der_ocsp_response(der)
    except ValueError as exc:
        raise OcspUnavailable(f"the OCSP answer is not an OCSP response: {exc}")
    if response.response_status is not ocsp.OCSPResponseStatus.SUCCESSFUL:
        raise OcspUnavailable(f"the OCSP responder answered {response.response_status.name}")
    return response


def _check_signature(
    response: ocsp.OCSPResponse, issuer: x509.Certificate, now: datetime, skew: timedelta
) -> None:
    """RFC 6960 §4.2.2.2: signed by the CA itself or by a responder the CA delegated."""
    for signer in (issuer, *_delegated_responders(response, issuer, now, skew)):
        if _signature_valid(signer.public_key(), response):
            return
    raise OcspUnavailable(
        "the OCSP response is not signed by the issuing CA or a responder it delegated"
    )


def _delegated_responders(
    response: ocsp.OCSPResponse, issuer: x509.Certificate, now: datetime, skew: timedelta
) -> Iterator[x509.Certificate]:
    """Certificates in the response issued directly by ``issuer`` with id-kp-OCSPSigning
    (RFC 6960 §4.2.2.2 case 2), within their validity period."""
    for candidate in response.certificates:
        try:
            candidate.verify_directly_issued_by(issuer)
            usages = candidate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
            continue
        except x509.ExtensionNotFound:
            continue
        valid_now = (
            candidate.not_valid_before_utc - skew <= now <= candidate.not_valid_after_utc + skew
        )
        if ExtendedKeyUsageOID.OCSP_SIGNING in usages and valid_now:
            yield candidate


def _signature_valid(public_key: object, response: ocsp.OCSPResponse) -> bool:
    """Verify the response's signature over tbsResponseData with one candidate key."""
    try:
        algorithm = response.signature_hash_algorithm
    except UnsupportedAlgorithm:
        return False
    data, signature = response.tbs_response_bytes, response.signature
    try:
        if isinstance(public_key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
            public_key.verify(signature, data)
            return True
        if not isinstance(algorithm, _SIGNATURE_HASHES):
            return False
        if isinstance(public_key, rsa.RSAPublicKey):
            # RSASSA-PSS would need its parameters, which cryptography does not expose for OCSP.
            if response.signature_algorithm_oid == x509.oid.SignatureAlgorithmOID.RSASSA_PSS:
                return False
            public_key.verify(signature, data, padding.PKCS1v15(), algorithm)
            return True
        if isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(signature, data, ec.ECDSA(algorithm))
            return True
    except InvalidSignature:
        return False
    return False


def _matching_single_response(
    response: ocsp.OCSPResponse, request: ocsp.OCSPRequest
) -> ocsp.OCSPSingleResponse:
    """RFC 6960 §3.2 item 1: the answer must be about the certificate we asked about."""
    for single in response.responses:
        if (
            single.serial_number == request.serial_number
            and single.issuer_key_hash == request.issuer_key_hash
            and single.issuer_name_hash == request.issuer_name_hash
            and single.hash_algorithm.name == request.hash_algorithm.name
        ):
            return single
    raise OcspUnavailable("the OCSP response is about another certificate (CertID mismatch)")


def _check_times(single: ocsp.OCSPSingleResponse, now: datetime, skew: timedelta) -> None:
    """RFC 6960 §3.2 items 4–5: thisUpdate not in the future, nextUpdate not in the past."""
    if single.this_update_utc > now + skew:
        raise OcspUnavailable(
            f"the OCSP response's thisUpdate {single.this_update_utc:%Y-%m-%dT%H:%M:%SZ} "
            f"is in the future"
        )
    next_update = single.next_update_utc
    if next_update is not None and next_update < now - skew:
        raise OcspUnavailable(
            f"the OCSP response is stale: nextUpdate {next_update:%Y-%m-%dT%H:%M:%SZ} has passed"
        )


def _check_nonce(response: ocsp.OCSPResponse, nonce: bytes) -> None:
    """RFC 6960 §4.4.1 / RFC 8954: a nonce the responder echoes must be ours (no replay).

    A responder may leave the nonce out (pre-signed answers); then nextUpdate bounds replay.
    """
    try:
        echoed = response.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
    except x509.ExtensionNotFound:
        return
    except ValueError as exc:
        raise OcspUnavailable(f"the OCSP response has malformed extensions: {exc}")
    if echoed != nonce:
        raise OcspUnavailable("the OCSP response echoes another request's nonce (replay?)")
