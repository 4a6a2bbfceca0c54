"""A throwaway PKI for mutual-TLS tests: a CA, a loopback server certificate, client certificates.

Two independent CAs, so a test can present a client certificate the server does not trust, or
pin a CA that did not sign the server. EC P-256 keys: issuing all of them takes milliseconds.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# The Mobilt Efos simulator's PKI helpers (RSA there; these keys are EC, the helpers do not care).
from satosa_efos.simulators.efos_pki import _general_name, _key_pem, _key_usage


@dataclass(frozen=True)
class TlsPki:
    ca_cert: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    #: A second CA, unrelated to the first, and a client certificate it issued.
    other_ca_cert: Path
    other_client_cert: Path
    other_client_key: Path


def make_tls_pki(
    directory: Path, server_names: tuple[str, ...] = ("localhost", "127.0.0.1")
) -> TlsPki:
    """Write the PKI's PEM files into ``directory`` and return their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    ca = _Ca.create("Test CA (tests only)")
    other = _Ca.create("Other CA (tests only)")
    paths = {}
    paths["ca_cert"] = _write_cert(directory / "ca.crt", ca.cert)
    paths["other_ca_cert"] = _write_cert(directory / "other-ca.crt", other.cert)
    for name, issuer, names, usage in (
        ("server", ca, server_names, ExtendedKeyUsageOID.SERVER_AUTH),
        ("client", ca, (), ExtendedKeyUsageOID.CLIENT_AUTH),
        ("other_client", other, (), ExtendedKeyUsageOID.CLIENT_AUTH),
    ):
        cert, key = issuer.issue(name.replace("_", "-"), names, usage)
        paths[f"{name}_cert"] = _write_cert(directory / f"{name}.crt", cert)
        paths[f"{name}_key"] = _write_key(directory / f"{name}.key", key)
    return TlsPki(**paths)


@dataclass
class _Ca:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @classmethod
    def create(cls, common_name: str) -> _Ca:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        public = key.public_key()
        cert = (
            _builder(name, name, public)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_key_usage(key_cert_sign=True, crl_sign=True), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .sign(key, hashes.SHA256())
        )
        return cls(cert, key)

    def issue(
        self, common_name: str, names: tuple[str, ...], usage: x509.ObjectIdentifier
    ) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        builder = (
            _builder(subject, self.cert.subject, key.public_key())
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(digital_signature=True), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                critical=False,
            )
        )
        if names:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([_general_name(n) for n in names]), critical=False
            )
        return builder.sign(self.key, hashes.SHA256()), key


def _builder(subject: x509.Name, issuer: x509.Name, public_key) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
    )


def _write_cert(path: Path, cert: x509.Certificate) -> Path:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> Path:
    path.write_bytes(_key_pem(key))
    path.chmod(0o600)
    return path
