"""Validation of the user's certificate from Mobilt Efos completion data.

A real small PKI (root CA → issuing CA → users) and real OCSP responses, served through the
checker's injected transport: every refusal is produced by a certificate or response that is
wrong in exactly one way.
"""

from __future__ import annotations

import http.server
import logging
import socket
import subprocess
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from satosa_efos.efos.certificates import (
    CertificateRefused,
    OcspChecker,
    OcspPolicy,
    TrustSettings,
    accepted_policy_oid,
    validate_certificate,
    verify_challenge_signature,
)

# Real time, so that `openssl ocsp` (which stamps its answers with the clock) agrees.
NOW = datetime.now(UTC).replace(microsecond=0)
YEAR = timedelta(days=365)
OCSP_URL = "http://ocsp.test-efos.example/ocsp"
EFOS_ARC = "1.2.752.146.200.3"
EFOS_POLICY = EFOS_ARC + ".2.1"
PNR = "191212121212"
SIGNED_DATA = b"131daac9-16c6-4618-beb0-365768f37288.q3k1cmFuZG9tY2hhbGxlbmdl"

_USER_USAGE = dict(digital_signature=True, key_cert_sign=False, crl_sign=False)
_CA_USAGE = dict(digital_signature=False, key_cert_sign=True, crl_sign=True)


def _rsa() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _name(cn: str, **extra: str) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COUNTRY_NAME, "SE")]
    if "serial" in extra:
        attributes.append(x509.NameAttribute(NameOID.SERIAL_NUMBER, extra["serial"]))
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    return x509.Name(attributes)


def issue(
    subject: x509.Name,
    public_key,
    issuer: x509.Certificate | None,
    signer_key,
    *,
    ca: bool = False,
    usage: dict[str, bool] | None = None,
    policies: tuple[str, ...] = (EFOS_POLICY,),
    eku: tuple[x509.ObjectIdentifier, ...] = (),
    not_before: datetime = NOW - YEAR,
    not_after: datetime = NOW + YEAR,
    ocsp_url: str | None = OCSP_URL,
) -> x509.Certificate:
    """One certificate, with only the extensions a test asks for."""
    usage = usage if usage is not None else (_CA_USAGE if ca else _USER_USAGE)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.subject if issuer else subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if usage:
        flags = dict.fromkeys(
            (
                "digital_signature",
                "content_commitment",
                "key_encipherment",
                "data_encipherment",
                "key_agreement",
                "key_cert_sign",
                "crl_sign",
                "encipher_only",
                "decipher_only",
            ),
            False,
        )
        builder = builder.add_extension(x509.KeyUsage(**{**flags, **usage}), critical=True)
    if policies:
        info = [x509.PolicyInformation(x509.ObjectIdentifier(oid), None) for oid in policies]
        builder = builder.add_extension(x509.CertificatePolicies(info), critical=False)
    if eku:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
    if ocsp_url and not ca:
        access = x509.AccessDescription(
            AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(ocsp_url)
        )
        builder = builder.add_extension(x509.AuthorityInformationAccess([access]), critical=False)
    return builder.sign(signer_key, hashes.SHA256())


@dataclass
class Pki:
    """Test Root CA → Test Efos Issuing CA, and a separate CA no one trusts."""

    root_key: rsa.RSAPrivateKey
    issuing_key: rsa.RSAPrivateKey
    user_key: rsa.RSAPrivateKey
    ec_user_key: ec.EllipticCurvePrivateKey
    other_key: rsa.RSAPrivateKey
    root: x509.Certificate = field(init=False)
    issuing: x509.Certificate = field(init=False)
    other_ca: x509.Certificate = field(init=False)

    def __post_init__(self) -> None:
        root_name = _name("Test Efos Root CA (test only)")
        self.root = issue(root_name, self.root_key.public_key(), None, self.root_key, ca=True)
        self.issuing = issue(
            _name("Test Efos Issuing CA (test only)"),
            self.issuing_key.public_key(),
            self.root,
            self.root_key,
            ca=True,
        )
        other_name = _name("Some Other CA (test only)")
        self.other_ca = issue(
            other_name, self.other_key.public_key(), None, self.other_key, ca=True
        )

    def user(self, key=None, **options) -> x509.Certificate:
        """A user certificate from the issuing CA; ``options`` make it wrong in one way."""
        key = key or self.user_key
        subject = _name("Eva Sjöberg", serial=PNR)
        return issue(subject, key.public_key(), self.issuing, self.issuing_key, **options)

    def responder(
        self, key, *, eku=ExtendedKeyUsageOID.OCSP_SIGNING, by_other_ca: bool = False
    ) -> x509.Certificate:
        """A delegated OCSP responder certificate (RFC 6960 §4.2.2.2)."""
        issuer, issuer_key = (
            (self.other_ca, self.other_key) if by_other_ca else (self.issuing, self.issuing_key)
        )
        name = _name("Test Efos OCSP Responder (test only)")
        return issue(name, key.public_key(), issuer, issuer_key, eku=(eku,), ocsp_url=None)

    def trust(self, **options) -> TrustSettings:
        return TrustSettings(anchors=(self.root,), **options)


@pytest.fixture(scope="module")
def pki() -> Pki:
    return Pki(_rsa(), _rsa(), _rsa(), ec.generate_private_key(ec.SECP256R1()), _rsa())


@dataclass
class Responder:
    """An OCSP responder answering through the checker's ``fetch``, one fault at a time."""

    signer: x509.Certificate
    signer_key: object
    revoked: set[int] = field(default_factory=set)
    now: datetime = NOW
    validity: timedelta | None = timedelta(hours=1)
    reachable: bool = True
    echo_nonce: bool = True
    embedded: list[x509.Certificate] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)

    def delegate_to(self, cert: x509.Certificate, key) -> None:
        """Sign with ``key`` from now on, embedding ``cert`` in the responses."""
        self.signer, self.signer_key, self.embedded = cert, key, [cert]

    def __call__(self, url: str, body: bytes, timeout: float) -> bytes:
        self.calls.append(url)
        if not self.reachable:
            raise requests.ConnectionError(f"connection to {url} refused")
        request = ocsp.load_der_ocsp_request(body)
        revoked = request.serial_number in self.revoked
        builder = ocsp.OCSPResponseBuilder().add_response_by_hash(
            request.issuer_name_hash,
            request.issuer_key_hash,
            request.serial_number,
            request.hash_algorithm,
            ocsp.OCSPCertStatus.REVOKED if revoked else ocsp.OCSPCertStatus.GOOD,
            self.now,
            self.now + self.validity if self.validity else None,
            self.now - timedelta(days=1) if revoked else None,
            x509.ReasonFlags.key_compromise if revoked else None,
        )
        builder = builder.responder_id(ocsp.OCSPResponderEncoding.HASH, self.signer)
        if self.embedded:
            builder = builder.certificates(self.embedded)
        nonces = [e.value for e in request.extensions if isinstance(e.value, x509.OCSPNonce)]
        if self.echo_nonce and nonces:
            builder = builder.add_extension(nonces[0], critical=False)
        response = builder.sign(self.signer_key, hashes.SHA256())
        return response.public_bytes(Encoding.DER)


@pytest.fixture
def responder(pki: Pki) -> Responder:
    return Responder(pki.issuing, pki.issuing_key)


def validate(pki: Pki, cert, responder: Responder, *, trust=None, now=NOW, checker=None):
    checker = checker or OcspChecker(fetch=responder)
    validate_certificate(cert, [pki.issuing], trust or pki.trust(), now=now, ocsp=checker)


def refusal(call, *args, **kwargs) -> CertificateRefused:
    with pytest.raises(CertificateRefused) as caught:
        call(*args, **kwargs)
    return caught.value


# -- accepted ---------------------------------------------------------------------------------


def test_accepts_rsa_user_certificate_chaining_to_root(pki: Pki, responder: Responder) -> None:
    validate(pki, pki.user(), responder)
    assert responder.calls == [OCSP_URL]


def test_accepts_ec_p256_user_certificate(pki: Pki, responder: Responder) -> None:
    validate(pki, pki.user(key=pki.ec_user_key), responder)


def test_accepts_issuing_ca_as_anchor_without_chain(pki: Pki, responder: Responder) -> None:
    trust = TrustSettings(anchors=(pki.issuing,))
    validate_certificate(pki.user(), [], trust, now=NOW, ocsp=OcspChecker(fetch=responder))


def test_accepts_policy_under_the_efos_arc(pki: Pki, responder: Responder) -> None:
    cert = pki.user(policies=("1.2.752.146.200.3.9.8.7",))
    validate(pki, cert, responder)
    assert accepted_policy_oid(cert, {EFOS_ARC}) == "1.2.752.146.200.3.9.8.7"


def test_accepts_expiry_within_clock_skew(pki: Pki, responder: Responder) -> None:
    cert = pki.user(not_after=NOW - timedelta(seconds=30))
    validate(pki, cert, responder)


def test_uses_configured_responder_instead_of_aia(pki: Pki, responder: Responder) -> None:
    trust = pki.trust(ocsp=OcspPolicy(responder_url="http://ocsp.override.example/"))
    validate(pki, pki.user(), responder, trust=trust)
    assert responder.calls == ["http://ocsp.override.example/"]


# -- chain and certificate refusals -----------------------------------------------------------


def test_refuses_certificate_from_another_ca(pki: Pki, responder: Responder) -> None:
    subject = _name("Eva Sjöberg", serial=PNR)
    cert = issue(subject, pki.user_key.public_key(), pki.other_ca, pki.other_key)
    checker = OcspChecker(fetch=responder)
    error = refusal(validate_certificate, cert, [pki.other_ca], pki.trust(), now=NOW, ocsp=checker)
    assert error.code == "efos.untrusted"
    assert error.status == 403
    assert responder.calls == []


def test_refuses_impostor_ca_with_the_issuing_cas_name(pki: Pki, responder: Responder) -> None:
    impostor = issue(pki.issuing.subject, pki.other_key.public_key(), None, pki.other_key, ca=True)
    subject = _name("Eva Sjöberg", serial=PNR)
    cert = issue(subject, pki.user_key.public_key(), impostor, pki.other_key)
    checker = OcspChecker(fetch=responder)
    error = refusal(validate_certificate, cert, [impostor], pki.trust(), now=NOW, ocsp=checker)
    assert error.code == "efos.untrusted"


def test_refuses_chain_through_a_non_ca_certificate(pki: Pki, responder: Responder) -> None:
    not_a_ca = pki.user()  # a user certificate signing another one
    subject = _name("Eva Sjöberg", serial=PNR)
    cert = issue(subject, pki.ec_user_key.public_key(), not_a_ca, pki.user_key)
    checker = OcspChecker(fetch=responder)
    error = refusal(
        validate_certificate, cert, [not_a_ca, pki.issuing], pki.trust(), now=NOW, ocsp=checker
    )
    assert error.code == "efos.untrusted"


def test_refuses_expired_certificate(pki: Pki, responder: Responder) -> None:
    cert = pki.user(not_before=NOW - 2 * YEAR, not_after=NOW - timedelta(days=1))
    error = refusal(validate, pki, cert, responder)
    assert error.code == "efos.expired"
    assert PNR not in error.detail  # the detail is logged (DESIGN.md §7)


def test_refuses_certificate_not_yet_valid(pki: Pki, responder: Responder) -> None:
    cert = pki.user(not_before=NOW + timedelta(hours=1))
    assert refusal(validate, pki, cert, responder).code == "efos.not_yet_valid"


def test_refuses_chain_with_expired_issuing_ca(pki: Pki, responder: Responder) -> None:
    expired_ca = issue(
        pki.issuing.subject,
        pki.issuing_key.public_key(),
        pki.root,
        pki.root_key,
        ca=True,
        not_after=NOW - timedelta(days=1),
    )
    checker = OcspChecker(fetch=responder)
    error = refusal(
        validate_certificate, pki.user(), [expired_ca], pki.trust(), now=NOW, ocsp=checker
    )
    assert error.code == "efos.expired"
    assert "Issuing CA" in error.detail


def test_refuses_certificate_without_digital_signature(pki: Pki, responder: Responder) -> None:
    cert = pki.user(usage={"digital_signature": False, "key_encipherment": True})
    assert refusal(validate, pki, cert, responder).code == "efos.key_usage"


def test_refuses_certificate_with_another_policy(pki: Pki, responder: Responder) -> None:
    cert = pki.user(policies=("1.2.752.29.4.1",))
    assert refusal(validate, pki, cert, responder).code == "efos.policy"


def test_refuses_policy_that_only_shares_a_prefix_with_the_arc(
    pki: Pki, responder: Responder
) -> None:
    cert = pki.user(policies=("1.2.752.146.200.30",))
    assert refusal(validate, pki, cert, responder).code == "efos.policy"


# -- revocation -------------------------------------------------------------------------------


def test_refuses_revoked_certificate(pki: Pki, responder: Responder) -> None:
    cert = pki.user()
    responder.revoked.add(cert.serial_number)
    assert refusal(validate, pki, cert, responder).code == "efos.revoked"


def test_refuses_revoked_certificate_in_soft_mode(pki: Pki, responder: Responder) -> None:
    cert = pki.user()
    responder.revoked.add(cert.serial_number)
    trust = pki.trust(ocsp=OcspPolicy(mode="soft"))
    assert refusal(validate, pki, cert, responder, trust=trust).code == "efos.revoked"


def test_refuses_when_responder_unreachable_in_hard_mode(pki: Pki, responder: Responder) -> None:
    responder.reachable = False
    error = refusal(validate, pki, pki.user(), responder)
    assert error.code == "efos.ocsp_unavailable"
    assert error.status == 503


def test_accepts_when_responder_unreachable_in_soft_mode(
    pki: Pki, responder: Responder, caplog: pytest.LogCaptureFixture
) -> None:
    responder.reachable = False
    trust = pki.trust(ocsp=OcspPolicy(mode="soft"))
    with caplog.at_level(logging.WARNING):
        validate(pki, pki.user(), responder, trust=trust)
    assert "efos.ocsp_unavailable" in caplog.text
    assert PNR not in caplog.text


def test_refuses_certificate_without_any_responder(pki: Pki, responder: Responder) -> None:
    cert = pki.user(ocsp_url=None)
    error = refusal(validate, pki, cert, responder)
    assert error.code == "efos.ocsp_unavailable"
    assert "names no OCSP responder" in error.detail
    assert responder.calls == []


def test_refuses_response_signed_by_unrelated_key(pki: Pki, responder: Responder) -> None:
    # An impostor named like the issuing CA, with its own key, embedded in the response.
    impostor = issue(pki.issuing.subject, pki.other_key.public_key(), None, pki.other_key, ca=True)
    responder.delegate_to(impostor, pki.other_key)
    error = refusal(validate, pki, pki.user(), responder)
    assert error.code == "efos.ocsp_unavailable"
    assert "not signed by the issuing CA" in error.detail


def test_accepts_response_from_delegated_responder(pki: Pki, responder: Responder) -> None:
    responder.delegate_to(pki.responder(pki.other_key), pki.other_key)
    validate(pki, pki.user(), responder)


def test_refuses_delegated_responder_without_ocsp_signing(pki: Pki, responder: Responder) -> None:
    delegate = pki.responder(pki.other_key, eku=ExtendedKeyUsageOID.CLIENT_AUTH)
    responder.delegate_to(delegate, pki.other_key)
    error = refusal(validate, pki, pki.user(), responder)
    assert error.code == "efos.ocsp_unavailable"
    assert "not signed by the issuing CA" in error.detail


def test_refuses_delegated_responder_of_another_ca(pki: Pki, responder: Responder) -> None:
    responder.delegate_to(pki.responder(pki.user_key, by_other_ca=True), pki.user_key)
    error = refusal(validate, pki, pki.user(), responder)
    assert error.code == "efos.ocsp_unavailable"
    assert "not signed by the issuing CA" in error.detail


def test_refuses_stale_response(pki: Pki, responder: Responder) -> None:
    responder.now = NOW - timedelta(hours=3)  # nextUpdate = NOW - 2 h
    error = refusal(validate, pki, pki.user(), responder)
    assert error.code == "efos.ocsp_unavailable"
    assert "stale" in error.detail


def test_refuses_response_from_the_future(pki: Pki, responder: Responder) -> None:
    responder.now = NOW + timedelta(minutes=10)
    error = refusal(validate, pki, pki.user(), responder)
    assert error.code == "efos.ocsp_unavailable"
    assert "future" in error.detail


def test_refuses_response_echoing_another_nonce(pki: Pki, responder: Responder) -> None:
    fresh = responder.__call__

    def replayed(url: str, body: bytes, timeout: float) -> bytes:
        other = ocsp.load_der_ocsp_request(body)
        old = (
            ocsp.OCSPRequestBuilder()
            .add_certificate_by_hash(
                other.issuer_name_hash,
                other.issuer_key_hash,
                other.serial_number,
                other.hash_algorithm,
            )
            .add_extension(x509.OCSPNonce(b"an earlier nonce"), critical=False)
            .build()
        )
        return fresh(url, old.public_bytes(Encoding.DER), timeout)

    error = refusal(validate, pki, pki.user(), responder, checker=OcspChecker(fetch=replayed))
    assert error.code == "efos.ocsp_unavailable"
    assert "nonce" in error.detail


def test_accepts_response_without_nonce(pki: Pki, responder: Responder) -> None:
    responder.echo_nonce = False
    validate(pki, pki.user(), responder)


def test_refuses_response_about_another_certificate(pki: Pki, responder: Responder) -> None:
    other_user = pki.user()
    fresh = responder.__call__

    def wrong_certificate(url: str, body: bytes, timeout: float) -> bytes:
        request = ocsp.OCSPRequestBuilder().add_certificate(other_user, pki.issuing, hashes.SHA1())
        return fresh(url, request.build().public_bytes(Encoding.DER), timeout)

    checker = OcspChecker(fetch=wrong_certificate)
    error = refusal(validate, pki, pki.user(), responder, checker=checker)
    assert error.code == "efos.ocsp_unavailable"
    assert "CertID" in error.detail


def test_refuses_unsuccessful_response(pki: Pki, responder: Responder) -> None:
    def try_later(url: str, body: bytes, timeout: float) -> bytes:
        response = ocsp.OCSPResponseBuilder.build_unsuccessful(ocsp.OCSPResponseStatus.TRY_LATER)
        return response.public_bytes(Encoding.DER)

    checker = OcspChecker(fetch=try_later)
    error = refusal(validate, pki, pki.user(), responder, checker=checker)
    assert error.code == "efos.ocsp_unavailable"
    assert "TRY_LATER" in error.detail


def test_refuses_garbage_instead_of_response(pki: Pki, responder: Responder) -> None:
    checker = OcspChecker(fetch=lambda url, body, timeout: b"<html>proxy error</html>")
    error = refusal(validate, pki, pki.user(), responder, checker=checker)
    assert error.code == "efos.ocsp_unavailable"


# -- cache ------------------------------------------------------------------------------------


def test_second_validation_uses_cached_answer(pki: Pki, responder: Responder) -> None:
    checker, cert = OcspChecker(fetch=responder), pki.user()
    validate(pki, cert, responder, checker=checker)
    validate(pki, cert, responder, checker=checker, now=NOW + timedelta(minutes=30))
    assert len(responder.calls) == 1


def test_fetches_again_after_next_update(pki: Pki, responder: Responder) -> None:
    checker, cert = OcspChecker(fetch=responder), pki.user()
    validate(pki, cert, responder, checker=checker)
    later = NOW + timedelta(hours=1, seconds=1)
    responder.now = later
    validate(pki, cert, responder, checker=checker, now=later)
    assert len(responder.calls) == 2


def test_caches_answer_without_next_update_for_five_minutes(pki: Pki, responder: Responder) -> None:
    checker, cert = OcspChecker(fetch=responder), pki.user()
    responder.validity = None
    validate(pki, cert, responder, checker=checker)
    validate(pki, cert, responder, checker=checker, now=NOW + timedelta(minutes=4))
    assert len(responder.calls) == 1
    validate(pki, cert, responder, checker=checker, now=NOW + timedelta(minutes=5))
    assert len(responder.calls) == 2


def test_caches_revoked_answer(pki: Pki, responder: Responder) -> None:
    checker, cert = OcspChecker(fetch=responder), pki.user()
    responder.revoked.add(cert.serial_number)
    for _ in range(2):
        assert refusal(validate, pki, cert, responder, checker=checker).code == "efos.revoked"
    assert len(responder.calls) == 1


def test_does_not_cache_unreachable_responder(pki: Pki, responder: Responder) -> None:
    checker, cert = OcspChecker(fetch=responder), pki.user()
    responder.reachable = False
    refusal(validate, pki, cert, responder, checker=checker)
    responder.reachable = True
    validate(pki, cert, responder, checker=checker)
    assert len(responder.calls) == 2


# -- signature over the challenge -------------------------------------------------------------


def test_accepts_rs256_signature(pki: Pki) -> None:
    signature = pki.user_key.sign(SIGNED_DATA, padding.PKCS1v15(), hashes.SHA256())
    verify_challenge_signature(pki.user(), SIGNED_DATA, signature, "RS256")


def test_accepts_es256_signature(pki: Pki) -> None:
    signature = pki.ec_user_key.sign(SIGNED_DATA, ec.ECDSA(hashes.SHA256()))
    verify_challenge_signature(pki.user(key=pki.ec_user_key), SIGNED_DATA, signature, "ES256")


def test_refuses_signature_over_different_data(pki: Pki) -> None:
    signature = pki.user_key.sign(b"another order", padding.PKCS1v15(), hashes.SHA256())
    error = refusal(verify_challenge_signature, pki.user(), SIGNED_DATA, signature, "RS256")
    assert error.code == "efos.bad_signature"


def test_refuses_signature_by_another_key(pki: Pki) -> None:
    signature = pki.other_key.sign(SIGNED_DATA, padding.PKCS1v15(), hashes.SHA256())
    error = refusal(verify_challenge_signature, pki.user(), SIGNED_DATA, signature, "RS256")
    assert error.code == "efos.bad_signature"


@pytest.mark.parametrize("algorithm", ["PS256", "RS1", "none", "", "rs256"])
def test_refuses_unknown_algorithm(pki: Pki, algorithm: str) -> None:
    signature = pki.user_key.sign(SIGNED_DATA, padding.PKCS1v15(), hashes.SHA256())
    error = refusal(verify_challenge_signature, pki.user(), SIGNED_DATA, signature, algorithm)
    assert error.code == "efos.bad_signature"


def test_refuses_algorithm_that_does_not_match_the_key(pki: Pki) -> None:
    signature = pki.ec_user_key.sign(SIGNED_DATA, ec.ECDSA(hashes.SHA256()))
    cert = pki.user(key=pki.ec_user_key)
    error = refusal(verify_challenge_signature, cert, SIGNED_DATA, signature, "RS256")
    assert error.code == "efos.bad_signature"


def test_refusal_survives_pickling() -> None:
    import pickle

    error = pickle.loads(pickle.dumps(CertificateRefused("efos.revoked", "revoked")))
    assert (error.code, error.detail, error.status) == ("efos.revoked", "revoked", 403)


# -- the default transport, over real HTTP -----------------------------------------------------


@pytest.fixture
def http_responder(responder: Responder):
    """The responder behind a real HTTP server on localhost; yields its URL."""
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            seen.append(self.headers["Content-Type"])
            body = self.rfile.read(int(self.headers["Content-Length"]))
            answer = responder(self.path, body, 1.0)
            self.send_response(200)
            self.send_header("Content-Type", "application/ocsp-response")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/ocsp", seen
    finally:
        server.shutdown()
        server.server_close()


def test_default_transport_posts_ocsp_request(pki: Pki, http_responder) -> None:
    url, content_types = http_responder
    trust = pki.trust(ocsp=OcspPolicy(responder_url=url))
    validate_certificate(pki.user(), [pki.issuing], trust, now=NOW, ocsp=OcspChecker())
    assert content_types == ["application/ocsp-request"]


def test_default_transport_refuses_when_nothing_listens(pki: Pki) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    trust = pki.trust(ocsp=OcspPolicy(responder_url=f"http://127.0.0.1:{port}/", timeout=1))
    error = refusal(
        validate_certificate, pki.user(), [pki.issuing], trust, now=NOW, ocsp=OcspChecker()
    )
    assert error.code == "efos.ocsp_unavailable"


# -- a real responder: openssl ocsp --------------------------------------------------------------


def test_accepts_and_refuses_answers_from_openssl_ocsp(pki: Pki, tmp_path) -> None:
    """``openssl ocsp`` (what the simulator runs) signs with a delegated responder, embeds its
    certificate, echoes the nonce and may leave out nextUpdate: all of it must be accepted."""
    delegate = pki.responder(pki.other_key)
    good, revoked = pki.user(), pki.user()
    files = {
        "issuing.pem": pki.issuing.public_bytes(Encoding.PEM),
        "responder.pem": delegate.public_bytes(Encoding.PEM),
        "responder.key": pki.other_key.private_bytes(
            Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()
        ),
        "index.txt": (_index_line(good) + _index_line(revoked, NOW - YEAR / 2)).encode(),
    }
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)

    def openssl(url: str, body: bytes, timeout: float) -> bytes:
        (tmp_path / "request.der").write_bytes(body)
        command = ["openssl", "ocsp", "-index", "index.txt", "-CA", "issuing.pem"]
        command += ["-rsigner", "responder.pem", "-rkey", "responder.key"]
        command += ["-reqin", "request.der", "-respout", "response.der"]
        subprocess.run(command, cwd=tmp_path, check=True, capture_output=True, timeout=timeout)
        return (tmp_path / "response.der").read_bytes()

    checker = OcspChecker(fetch=openssl)
    now = datetime.now(UTC)
    validate_certificate(good, [pki.issuing], pki.trust(), now=now, ocsp=checker)
    error = refusal(
        validate_certificate, revoked, [pki.issuing], pki.trust(), now=now, ocsp=checker
    )
    assert error.code == "efos.revoked"


def _index_line(cert: x509.Certificate, revoked_at: datetime | None = None) -> str:
    """One line of an OpenSSL CA database (index.txt)."""
    serial = format(cert.serial_number, "X")
    serial = serial if len(serial) % 2 == 0 else "0" + serial
    expires = cert.not_valid_after_utc.strftime("%y%m%d%H%M%SZ")
    if revoked_at is None:
        return f"V\t{expires}\t\t{serial}\tunknown\t/CN=user\n"
    return f"R\t{expires}\t{revoked_at:%y%m%d%H%M%SZ}\t{serial}\tunknown\t/CN=user\n"
