"""Key and certificate generation for development and demo deployments.

Production keys come from the operators (Ansible vault); these helpers exist so that a fresh
checkout can run the demo and the tests without any secret being committed. Every key is
written with mode 0600 and is only generated when absent, so a restart keeps its identity.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

DEFAULT_VALIDITY_DAYS = 3650


def generate_self_signed(
    common_name: str,
    *,
    key_size: int = 2048,
    days: int = DEFAULT_VALIDITY_DAYS,
    not_before: dt.datetime | None = None,
) -> tuple[bytes, bytes]:
    """Return (private key PEM, certificate PEM) for a SAML signing/encryption key pair.

    SAML metadata pins the certificate itself, so a self-signed certificate is what federations
    expect; the validity period only matters to tools that check it (check-config does).
    """
    key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "satosa-efos development"),
            x509.NameAttribute(NameOID.COUNTRY_NAME, "SE"),
        ]
    )
    start = not_before or dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return key_pem, cert.public_bytes(serialization.Encoding.PEM)


def write_private(path: Path, data: bytes) -> None:
    """Write a secret so that it is never readable by others, not even for an instant."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def ensure_keypair(directory: Path, name: str, common_name: str) -> tuple[Path, Path]:
    """Create ``<name>.key`` and ``<name>.crt`` in ``directory`` unless both already exist."""
    directory = Path(directory)
    key_path, cert_path = directory / f"{name}.key", directory / f"{name}.crt"
    if not (key_path.exists() and cert_path.exists()):
        key_pem, cert_pem = generate_self_signed(common_name)
        write_private(key_path, key_pem)
        cert_path.write_bytes(cert_pem)
    return key_path, cert_path


def ensure_secret(path: Path, nbytes: int = 32) -> str:
    """A random secret in a file (e.g. SATOSA's state encryption key), created once."""
    path = Path(path)
    if not path.exists():
        write_private(path, os.urandom(nbytes).hex().encode())
    return path.read_text().strip()


#: Key pairs of a proxy configuration (``keys/<name>.key`` and ``.crt``): the SAML IdP towards
#: applications, the SAML SP towards organisation IdPs, and the OIDC OP's ID token signer.
PROXY_KEYPAIRS = ("frontend", "backend", "oidc-signing")
#: Secrets of a proxy configuration: SATOSA's state cookie key, the OIDC pairwise-sub salt and
#: the SAML pairwise NameID secret (the last two must never change once applications use them).
PROXY_SECRETS = ("state-encryption.key", "oidc-sub-salt.key", "saml-nameid.key")


def ensure_proxy_keys(directory: Path, label: str = "satosa-efos development") -> list[Path]:
    """Every key and secret a configuration's ``keys/`` folder needs, created once each.

    Used by ``satosa-efos keys`` (development configurations), the demo and the tests, so that
    adding a key to the proxy adds it everywhere at once.
    """
    directory = Path(directory)
    made: list[Path] = []
    for name in PROXY_KEYPAIRS:
        made += ensure_keypair(directory, name, f"{label} {name}")
    for name in PROXY_SECRETS:
        ensure_secret(directory / name)
        made.append(directory / name)
    return made
