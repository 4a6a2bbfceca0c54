"""The test PKI of the Mobilt Efos SIMULATOR (demo and tests only; never a real Efos CA).

The simulator must hand the proxy real certificates and real signatures, so that the proxy's
certificate checks (chain, validity, key usage, policy, revocation; DOMAIN.md §2) run exactly as
they will against the national service. This module makes that PKI with ``cryptography``:

* the "Efos" side: a root CA, an issuing CA (what the proxy trusts), one user certificate per
  demo user with a personnummer, and for negative tests per user a revoked, an expired, a
  wrong-policy and a foreign-CA certificate; a delegated OCSP signer and the ``index.txt`` that
  ``openssl ocsp`` answers from;
* the transport side: a "service TLS CA" that issues the RP API's server certificate and the
  proxy's client certificate (mutual TLS, docs/efos-rp-api.md).

``prepare_pki`` is idempotent: the demo keeps one state directory across runs, and the proxy's
configuration pins the CAs made the first time, so a CA is never replaced while it is still good.
A certificate is issued again only when what it must contain changed (e.g. another OCSP URL or
server name, a new demo user) or when its issuer was replaced; ``pki.json`` remembers what each
certificate was made from. Private keys are written 0600.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import ipaddress
import json
import logging
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import (
    AuthorityInformationAccessOID,
    ExtendedKeyUsageOID,
    NameOID,
)

from satosa_efos.simulators.demo_users import DEMO_USERS_FILE, DemoUser, load_demo_users

logger = logging.getLogger(__name__)

#: conf/organisations.yaml of the repository: the ``O`` and ``organizationIdentifier`` of users.
ORGANISATIONS_FILE = Path(__file__).resolve().parents[3] / "conf" / "organisations.yaml"

EFOS_POLICY = "1.2.752.146.200.3.1.0.0"  # DOMAIN.md §2, the Efos CPS OID
WRONG_POLICY = "1.2.3.4.5"
ANY_POLICY = "2.5.29.32.0"

#: Certificates per user. ``bad_signature`` (service side) signs with the ``normal`` one.
VARIANTS = ("normal", "revoked", "expired", "wrong_policy", "foreign_ca")

ROOT_CA_NAME = "Efos Test Root CA (SIMULATOR)"
ISSUING_CA_NAME = "Efos Test Issuing CA (SIMULATOR)"
FOREIGN_ROOT_CA_NAME = "Foreign Test Root CA (SIMULATOR, not trusted)"
FOREIGN_ISSUING_CA_NAME = "Foreign Test Issuing CA (SIMULATOR, not trusted)"
OCSP_SIGNER_NAME = "Efos Test OCSP Responder (SIMULATOR)"
SERVICE_CA_NAME = "Efos Test Service TLS CA (SIMULATOR)"
SERVER_NAME = "Mobilt Efos RP API (SIMULATOR)"
RP_CLIENT_NAME = "satosa-efos proxy (SIMULATOR client)"

MANIFEST = "pki.json"
MANIFEST_VERSION = 1
KEY_SIZE = 2048
CA_DAYS = 20 * 365
LEAF_DAYS = 2 * 365
#: Back-date every certificate a little: a peer whose clock is slightly behind still accepts it.
BACKDATE = dt.timedelta(minutes=5)
#: Issue again when a certificate that should be valid has less left than this.
RENEW_BEFORE = dt.timedelta(days=7)

PrivateKey = rsa.RSAPrivateKey


@dataclass(frozen=True)
class UserCertificate:
    """One certificate of one demo user, with the CA certificates that chain it (closest first)."""

    username: str
    variant: str
    personal_identity_number: str
    given_name: str
    surname: str
    cert: Path
    key: Path
    chain: tuple[Path, ...]


@dataclass(frozen=True)
class Pki:
    """Where ``prepare_pki`` put everything (PEM files).

    What the proxy configures: ``issuing_ca_cert`` (and/or ``root_ca_cert``) as Efos trust
    anchors, ``service_ca_cert`` as the pinned CA of the RP API, ``rp_client_cert``/``key`` as
    its client certificate, ``ocsp_url`` (also in every user certificate's AIA).
    """

    state_dir: Path
    ocsp_url: str
    root_ca_cert: Path
    issuing_ca_cert: Path
    #: For tests that need a certificate shape the simulator does not issue.
    issuing_ca_key: Path
    foreign_root_ca_cert: Path
    foreign_issuing_ca_cert: Path
    ocsp_signer_cert: Path
    ocsp_signer_key: Path
    index_file: Path
    service_ca_cert: Path
    server_cert: Path
    server_key: Path
    rp_client_cert: Path
    rp_client_key: Path
    #: username -> variant (``VARIANTS``) -> certificate.
    users: Mapping[str, Mapping[str, UserCertificate]]

    def user_cert(self, username: str, variant: str = "normal") -> UserCertificate:
        try:
            return self.users[username][variant]
        except KeyError:
            raise KeyError(f"no {variant!r} certificate for demo user {username!r}") from None


def prepare_pki(
    state_dir: Path,
    *,
    ocsp_url: str,
    server_names: Sequence[str],
    users_file: Path = DEMO_USERS_FILE,
    organisations_file: Path = ORGANISATIONS_FILE,
) -> Pki:
    """Create the simulator's PKI under ``state_dir`` once; later calls reuse what is there.

    ``server_names`` go into the RP API server certificate's subjectAltName (DNS names, or IP
    addresses when they parse as one). Several processes may call this at once (a test and the
    simulator it starts): a lock file serialises them.
    """
    state_dir = Path(state_dir)
    state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    users = [user for user in load_demo_users(users_file) if _pnr(user)]
    organisations = _load_organisations(organisations_file)
    with _locked(state_dir / ".pki.lock"):
        builder = _Builder(state_dir)
        pki = builder.build(ocsp_url, list(server_names), users, organisations)
        builder.save()
    if builder.issued:
        logger.info(
            "SIMULATOR PKI in %s: issued %d certificates (%s)",
            state_dir,
            len(builder.issued),
            ", ".join(builder.issued) if len(builder.issued) <= 3 else "new or changed",
        )
    else:
        logger.info("SIMULATOR PKI in %s: reused", state_dir)
    return pki


# --- building ---------------------------------------------------------------------------------


class _Builder:
    """Issues what is missing or stale and records in ``pki.json`` what each item was made from."""

    def __init__(self, state_dir: Path) -> None:
        self.dir = state_dir
        self.now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        manifest = self._read_manifest()
        self.items: dict[str, dict[str, Any]] = manifest.get("items", {})
        self.changed = False
        self.issued: list[str] = []

    def _read_manifest(self) -> dict[str, Any]:
        path = self.dir / MANIFEST
        if not path.exists():
            return {}
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            logger.warning("SIMULATOR PKI: unreadable %s, issuing everything again", path)
            return {}
        return data if data.get("version") == MANIFEST_VERSION else {}

    def save(self) -> None:
        if self.changed:
            manifest = {"version": MANIFEST_VERSION, "items": self.items}
            _write(self.dir / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True) + "\n")

    def build(
        self,
        ocsp_url: str,
        server_names: list[str],
        users: list[DemoUser],
        organisations: dict[str, dict[str, Any]],
    ) -> Pki:
        root = self.ensure("root", {}, lambda: self._ca(ROOT_CA_NAME, None))
        issuing = self.ensure("issuing", self._from(root), lambda: self._ca(ISSUING_CA_NAME, root))
        foreign_root = self.ensure("foreign-root", {}, lambda: self._ca(FOREIGN_ROOT_CA_NAME, None))
        foreign_issuing = self.ensure(
            "foreign-issuing",
            self._from(foreign_root),
            lambda: self._ca(FOREIGN_ISSUING_CA_NAME, foreign_root),
        )
        self.ensure("ocsp", self._from(issuing), lambda: self._ocsp_signer(issuing))
        service_ca = self.ensure("service-ca", {}, lambda: self._ca(SERVICE_CA_NAME, None))
        self.ensure(
            "server",
            {**self._from(service_ca), "names": server_names},
            lambda: self._tls_leaf(service_ca, SERVER_NAME, server_names),
        )
        self.ensure(
            "rp-client",
            self._from(service_ca),
            lambda: self._tls_leaf(service_ca, RP_CLIENT_NAME, None),
        )

        issued: dict[str, dict[str, UserCertificate]] = {}
        index_rows: list[str] = []
        for user in users:
            subject = _user_subject(user, organisations)
            issued[user.username] = {}
            for variant in VARIANTS:
                issuer = foreign_issuing if variant == "foreign_ca" else issuing
                name = f"users/{user.username}-{variant}"
                mail = _first(user, "mail")
                spec = {
                    **self._from(issuer),
                    "subject": subject.rfc4514_string(),
                    "mail": mail,
                    "ocsp_url": ocsp_url,
                    "variant": variant,
                }
                cert, _ = self.ensure(
                    name,
                    spec,
                    lambda issuer=issuer, subject=subject, variant=variant, mail=mail: (
                        self._user_leaf(issuer, subject, mail, variant, ocsp_url)
                    ),
                    may_be_expired=variant == "expired",
                )
                if variant == "revoked" and "revoked_at" not in self.items[name]:
                    self.items[name]["revoked_at"] = _iso(cert.not_valid_before_utc + BACKDATE)
                    self.changed = True
                chain = self.dir / (
                    "foreign-issuing.crt" if issuer is foreign_issuing else "issuing.crt"
                )
                issued[user.username][variant] = UserCertificate(
                    username=user.username,
                    variant=variant,
                    personal_identity_number=_pnr(user),
                    given_name=_first(user, "givenName"),
                    surname=_first(user, "sn"),
                    cert=self.dir / f"{name}.crt",
                    key=self.dir / f"{name}.key",
                    chain=(chain,),
                )
                if issuer is issuing:
                    revoked_at = (
                        self.items[name].get("revoked_at") if variant == "revoked" else None
                    )
                    index_rows.append(_index_row(cert, revoked_at))

        index = self.dir / "index.txt"
        _write_if_changed(index, "".join(index_rows))
        # The variants of one person share a subject, which openssl's index refuses by default.
        _write_if_changed(self.dir / "index.txt.attr", "unique_subject = no\n")
        return Pki(
            state_dir=self.dir,
            ocsp_url=ocsp_url,
            root_ca_cert=self.dir / "root.crt",
            issuing_ca_cert=self.dir / "issuing.crt",
            issuing_ca_key=self.dir / "issuing.key",
            foreign_root_ca_cert=self.dir / "foreign-root.crt",
            foreign_issuing_ca_cert=self.dir / "foreign-issuing.crt",
            ocsp_signer_cert=self.dir / "ocsp.crt",
            ocsp_signer_key=self.dir / "ocsp.key",
            index_file=index,
            service_ca_cert=self.dir / "service-ca.crt",
            server_cert=self.dir / "server.crt",
            server_key=self.dir / "server.key",
            rp_client_cert=self.dir / "rp-client.crt",
            rp_client_key=self.dir / "rp-client.key",
            users=issued,
        )

    # -- reuse or issue --

    def ensure(
        self,
        name: str,
        spec: dict[str, Any],
        issue: Any,
        *,
        may_be_expired: bool = False,
    ) -> tuple[x509.Certificate, PrivateKey]:
        """Load ``name.crt``/``.key`` if made from this ``spec`` and still usable, else issue."""
        cert_path, key_path = self.dir / f"{name}.crt", self.dir / f"{name}.key"
        digest = _digest(spec)
        recorded = self.items.get(name, {})
        if recorded.get("spec") == digest and cert_path.exists() and key_path.exists():
            try:
                cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
                # Our own files: skip the slow RSA consistency check (~30 ms a key); the public
                # key is compared with the certificate's below.
                key = serialization.load_pem_private_key(
                    key_path.read_bytes(), password=None, unsafe_skip_rsa_key_validation=True
                )
            except (OSError, ValueError):
                cert = key = None  # damaged: issue again
            if (
                isinstance(key, rsa.RSAPrivateKey)
                and cert is not None
                and cert.public_key() == key.public_key()
                and (may_be_expired or cert.not_valid_after_utc - RENEW_BEFORE > self.now)
            ):
                os.chmod(key_path, 0o600)
                return cert, key
        cert, key = issue()
        cert_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        _write(key_path, _key_pem(key), private=True)
        _write(cert_path, cert.public_bytes(serialization.Encoding.PEM))
        self.items[name] = {"spec": digest, "serial": f"{cert.serial_number:X}"}
        self.changed = True
        self.issued.append(name)
        logger.debug("SIMULATOR PKI: issued %s (%s)", name, cert.subject.rfc4514_string())
        return cert, key

    @staticmethod
    def _from(issuer: tuple[x509.Certificate, PrivateKey]) -> dict[str, str]:
        """Part of a child's spec: a replaced issuer means the child must be issued again."""
        return {"issuer": issuer[0].fingerprint(hashes.SHA256()).hex()}

    # -- certificate shapes --

    def _ca(
        self, common_name: str, issuer: tuple[x509.Certificate, PrivateKey] | None
    ) -> tuple[x509.Certificate, PrivateKey]:
        key = _new_key()
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "SE"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "satosa-efos SIMULATOR"),
                x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            ]
        )
        builder = self._base(subject, key, issuer, days=CA_DAYS if issuer is None else CA_DAYS // 2)
        builder = builder.add_extension(
            x509.BasicConstraints(ca=True, path_length=None if issuer is None else 0), critical=True
        ).add_extension(_key_usage(key_cert_sign=True, crl_sign=True), critical=True)
        if issuer is not None:
            # anyPolicy lets RFC 5280 policy processing (openssl -policy, -explicit_policy) reach
            # the leaf's policy; without it an explicit-policy check fails at the intermediate.
            builder = builder.add_extension(
                x509.CertificatePolicies(
                    [x509.PolicyInformation(x509.ObjectIdentifier(ANY_POLICY), None)]
                ),
                critical=False,
            )
        return self._sign(builder, key, issuer), key

    def _ocsp_signer(
        self, issuer: tuple[x509.Certificate, PrivateKey]
    ) -> tuple[x509.Certificate, PrivateKey]:
        key = _new_key()
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "SE"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "satosa-efos SIMULATOR"),
                x509.NameAttribute(NameOID.COMMON_NAME, OCSP_SIGNER_NAME),
            ]
        )
        builder = (
            self._base(subject, key, issuer, days=LEAF_DAYS)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(digital_signature=True), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), critical=False
            )
            .add_extension(x509.OCSPNoCheck(), critical=False)
        )
        return self._sign(builder, key, issuer), key

    def _tls_leaf(
        self,
        issuer: tuple[x509.Certificate, PrivateKey],
        common_name: str,
        server_names: Sequence[str] | None,
    ) -> tuple[x509.Certificate, PrivateKey]:
        """The RP API's server certificate (``server_names`` given) or the proxy's client one."""
        key = _new_key()
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "SE"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "satosa-efos SIMULATOR"),
                x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            ]
        )
        builder = self._base(subject, key, issuer, days=LEAF_DAYS).add_extension(
            x509.BasicConstraints(ca=False, path_length=None), critical=True
        )
        if server_names is not None:
            builder = (
                builder.add_extension(
                    _key_usage(digital_signature=True, key_encipherment=True), critical=True
                )
                .add_extension(
                    x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
                )
                .add_extension(
                    x509.SubjectAlternativeName([_general_name(n) for n in server_names]),
                    critical=False,
                )
            )
        else:
            builder = builder.add_extension(
                _key_usage(digital_signature=True), critical=True
            ).add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
            )
        return self._sign(builder, key, issuer), key

    def _user_leaf(
        self,
        issuer: tuple[x509.Certificate, PrivateKey],
        subject: x509.Name,
        mail: str,
        variant: str,
        ocsp_url: str,
    ) -> tuple[x509.Certificate, PrivateKey]:
        """A person certificate; the e-mail SAN is what common verifiers (e.g. cryptography's
        client verifier) require of a client certificate, as real person certificates carry."""
        key = _new_key()
        if variant == "expired":  # two years of validity that ended yesterday
            end = self.now - dt.timedelta(days=1)
            builder = self._base(subject, key, issuer, days=LEAF_DAYS, not_after=end)
        else:
            builder = self._base(subject, key, issuer, days=LEAF_DAYS)
        policy = WRONG_POLICY if variant == "wrong_policy" else EFOS_POLICY
        builder = (
            builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=False)
            .add_extension(_key_usage(digital_signature=True), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .add_extension(
                x509.CertificatePolicies(
                    [x509.PolicyInformation(x509.ObjectIdentifier(policy), None)]
                ),
                critical=False,
            )
            .add_extension(
                x509.AuthorityInformationAccess(
                    [
                        x509.AccessDescription(
                            AuthorityInformationAccessOID.OCSP,
                            x509.UniformResourceIdentifier(ocsp_url),
                        )
                    ]
                ),
                critical=False,
            )
        )
        if mail:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.RFC822Name(mail)]), critical=False
            )
        return self._sign(builder, key, issuer), key

    def _base(
        self,
        subject: x509.Name,
        key: PrivateKey,
        issuer: tuple[x509.Certificate, PrivateKey] | None,
        *,
        days: int,
        not_after: dt.datetime | None = None,
    ) -> x509.CertificateBuilder:
        """Subject, issuer, serial, validity, SKI/AKI: what every certificate here has."""
        if not_after is None:
            not_before = self.now - BACKDATE
            not_after = not_before + dt.timedelta(days=days)
        else:
            not_before = not_after - dt.timedelta(days=days)
        issuer_name = subject if issuer is None else issuer[0].subject
        issuer_public = key.public_key() if issuer is None else issuer[1].public_key()
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_public), False)
        )

    @staticmethod
    def _sign(
        builder: x509.CertificateBuilder,
        key: PrivateKey,
        issuer: tuple[x509.Certificate, PrivateKey] | None,
    ) -> x509.Certificate:
        return builder.sign(key if issuer is None else issuer[1], hashes.SHA256())


# --- helpers ----------------------------------------------------------------------------------


def _new_key() -> PrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=KEY_SIZE)


def _key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _key_usage(
    *,
    digital_signature: bool = False,
    key_encipherment: bool = False,
    key_cert_sign: bool = False,
    crl_sign: bool = False,
) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=key_encipherment,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=key_cert_sign,
        crl_sign=crl_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _first(user: DemoUser, attribute: str) -> str:
    values = user.attributes.get(attribute) or [""]
    return values[0]


def _pnr(user: DemoUser) -> str:
    return _first(user, "personalIdentityNumber")


def _load_organisations(path: Path) -> dict[str, dict[str, Any]]:
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    return {entry["id"]: entry for entry in data["organisations"]}


def _user_subject(user: DemoUser, organisations: dict[str, dict[str, Any]]) -> x509.Name:
    """Shaped like a Swedish person certificate: personnummer in serialNumber (DOMAIN.md §2)."""
    organisation = organisations.get(user.organisation)
    if organisation is None:
        raise ValueError(
            f"demo user {user.username!r}: organisation {user.organisation!r} "
            "is not in organisations.yaml"
        )
    given, surname = _first(user, "givenName"), _first(user, "sn")
    number = str(organisation["organisation_number"]).replace("-", "")
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "SE"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, str(organisation["name"])),
            x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, f"SE{number}"),
            x509.NameAttribute(NameOID.SURNAME, surname),
            x509.NameAttribute(NameOID.GIVEN_NAME, given),
            x509.NameAttribute(NameOID.SERIAL_NUMBER, _pnr(user)),
            x509.NameAttribute(NameOID.COMMON_NAME, f"{given} {surname}"),
        ]
    )


def _index_row(cert: x509.Certificate, revoked_at: str | None) -> str:
    """One line of an ``openssl ca`` index: status, expiry, revocation, serial, file, subject.

    ``openssl ocsp`` finds a row by the serial as ``BN_bn2hex`` prints it (upper case, whole
    bytes); an expired certificate stays ``V`` because the responder has no answer for ``E``.
    """
    serial = f"{cert.serial_number:X}"
    if len(serial) % 2:
        serial = "0" + serial
    status, revocation = "V", ""
    if revoked_at is not None:
        status = "R"
        revocation = _openssl_time(dt.datetime.fromisoformat(revoked_at)) + ",keyCompromise"
    expiry = _openssl_time(cert.not_valid_after_utc)
    return "\t".join((status, expiry, revocation, serial, "unknown", _oneline(cert.subject))) + "\n"


def _openssl_time(when: dt.datetime) -> str:
    when = when.astimezone(dt.UTC)
    return when.strftime("%y%m%d%H%M%SZ" if when.year < 2050 else "%Y%m%d%H%M%SZ")


_ONELINE_NAMES = {
    NameOID.COUNTRY_NAME: "C",
    NameOID.ORGANIZATION_NAME: "O",
    NameOID.ORGANIZATION_IDENTIFIER: "organizationIdentifier",
    NameOID.SURNAME: "SN",
    NameOID.GIVEN_NAME: "GN",
    NameOID.SERIAL_NUMBER: "serialNumber",
    NameOID.COMMON_NAME: "CN",
}


def _oneline(name: x509.Name) -> str:
    """The subject as ``openssl ca`` writes it: ``/C=SE/O=…``, non-ASCII bytes as ``\\xHH``."""
    parts = []
    for attribute in name:
        label = _ONELINE_NAMES.get(attribute.oid, attribute.oid.dotted_string)
        value = "".join(
            chr(byte) if 32 <= byte < 127 and chr(byte) not in "/\\" else f"\\x{byte:02X}"
            for byte in str(attribute.value).encode("utf-8")
        )
        parts.append(f"/{label}={value}")
    return "".join(parts)


def _iso(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).isoformat()


def _digest(spec: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode("utf-8")).hexdigest()


def _write(path: Path, data: str | bytes, *, private: bool = False) -> None:
    """Write atomically (a reader never sees half a key); keys are 0600 from the first byte."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, 0o600 if private else 0o644)
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def _write_if_changed(path: Path, text: str) -> None:
    """Leave an unchanged file alone (``openssl ocsp`` reloads its index when it changes)."""
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return
    _write(path, text)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
