"""The Mobilt Efos SIMULATOR as the proxy will meet it: a real process on free loopback ports.

One simulator for the module (``python -m satosa_efos.simulators.efos_service``); each test
starts from ``/control/reset``. The RP side is a plain ``requests`` client with the RP client
certificate and the pinned service CA, and ``openssl ocsp`` is the independent OCSP client, so
nothing here trusts the simulator's own code to judge its answers.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import os
import re
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from satosa_efos.processes import free_ports
from satosa_efos.simulators import efos_service
from satosa_efos.simulators.efos_pki import EFOS_POLICY, WRONG_POLICY, Pki, prepare_pki

EVA_PNR = "191212121212"
HOST = "127.0.0.1"


@dataclass
class Sim:
    process: subprocess.Popen
    pki: Pki
    api: str
    phone: str
    ocsp_port: int
    log: Path

    def rp(self, cert: tuple[Path, Path] | None | bool = True) -> requests.Session:
        """An RP client pinned to the service CA; ``trust_env`` off, or REQUESTS_CA_BUNDLE in
        the environment would silently replace the pinned CA."""
        session = requests.Session()
        session.trust_env = False
        session.verify = str(self.pki.service_ca_cert)
        if cert is True:
            session.cert = (str(self.pki.rp_client_cert), str(self.pki.rp_client_key))
        elif cert:
            session.cert = (str(cert[0]), str(cert[1]))
        return session

    def call(self, operation: str, body: dict[str, Any]) -> requests.Response:
        return self.rp().post(f"{self.api}/{operation}", json=body, timeout=10)

    def auth(self, text: str = "Inloggning till SAMSA") -> tuple[dict[str, str], str]:
        challenge = base64.b64encode(secrets.token_bytes(32)).decode()
        visible = base64.b64encode(text.encode()).decode()
        response = self.call(
            "auth", {"endUserIp": "192.0.2.10", "challenge": challenge, "userVisibleData": visible}
        )
        assert response.status_code == 200, response.text
        return response.json(), challenge

    def collect(self, order_ref: str) -> dict[str, Any]:
        response = self.call("collect", {"orderRef": order_ref})
        assert response.status_code == 200, response.text
        return response.json()

    def control(self, path: str, body: dict[str, Any] | None = None) -> requests.Response:
        url = f"{self.phone}control/{path}"
        if body is None and path == "orders":
            return requests.get(url, timeout=10)
        return requests.post(url, json=body or {}, timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sim]:
    directory = tmp_path_factory.mktemp("efos-simulator")
    api_port, phone_port, ocsp_port = free_ports(3)
    log = directory / "simulator.log"
    argv = [
        sys.executable, "-m", "satosa_efos.simulators.efos_service",
        "--state-dir", str(directory / "state"),
        "--host", HOST,
        "--api-port", str(api_port),
        "--phone-port", str(phone_port),
        "--ocsp-port", str(ocsp_port),
    ]  # fmt: skip
    with open(log, "wb") as out:
        process = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    phone = f"http://{HOST}:{phone_port}/"
    deadline = time.monotonic() + 30
    while True:  # the phone port answers only once every listener (and openssl) is up
        if process.poll() is not None:
            pytest.fail(f"simulator exited:\n{log.read_text()}")
        with contextlib.suppress(requests.ConnectionError):
            if requests.get(f"{phone}control/orders", timeout=1).status_code == 200:
                break
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"simulator did not start:\n{log.read_text()}")
        time.sleep(0.1)
    pki = prepare_pki(  # the same arguments as the simulator: reuses what it made
        directory / "state",
        ocsp_url=f"http://{HOST}:{ocsp_port}",
        server_names=["localhost", HOST],
    )
    running = Sim(process, pki, f"https://{HOST}:{api_port}/rp/v1", phone, ocsp_port, log)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(autouse=True)
def fresh(sim: Sim) -> None:
    assert sim.control("reset").status_code == 200


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def certificate_of(completion: dict[str, Any]) -> x509.Certificate:
    return x509.load_der_x509_certificate(base64.b64decode(completion["certificate"]))


def signature_verifies(completion: dict[str, Any], signed: str) -> bool:
    public_key = certificate_of(completion).public_key()
    assert isinstance(public_key, rsa.RSAPublicKey)
    try:
        public_key.verify(
            base64.b64decode(completion["signature"]),
            signed.encode(),
            padding.PKCS1v15(),
            hashes.SHA256(),
        )
    except Exception:
        return False
    return True


# --- the RP API -------------------------------------------------------------------------------


def test_an_order_completes_with_eva_s_certificate_and_a_signature_over_the_challenge(
    sim: Sim,
) -> None:
    started, challenge = sim.auth()
    assert set(started) == {"orderRef", "autoStartToken", "qrStartToken", "qrStartSecret"}
    ref = started["orderRef"]
    assert sim.collect(ref) == {
        "orderRef": ref,
        "status": "pending",
        "hintCode": "outstandingTransaction",
    }

    approved = sim.control(f"orders/{ref}/approve", {"user": "eva"})
    assert approved.status_code == 200, approved.text
    answer = sim.collect(ref)
    assert answer["status"] == "complete"
    completion = answer["completionData"]
    assert completion["user"] == {
        "personalIdentityNumber": EVA_PNR,
        "givenName": "Eva",
        "surname": "Sjöberg",
        "name": "Eva Sjöberg",
    }
    assert completion["signedData"] == f"{ref}.{challenge}"
    assert completion["signatureAlgorithm"] == "RS256"
    assert signature_verifies(completion, f"{ref}.{challenge}")

    cert = certificate_of(completion)
    assert cert.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value == EVA_PNR
    chain = [x509.load_der_x509_certificate(base64.b64decode(c)) for c in completion["chain"]]
    assert chain == [load(sim.pki.issuing_ca_cert)]
    # It chains to the root with a common verifier, as the proxy's check will need.
    verifier = PolicyBuilder().store(Store([load(sim.pki.root_ca_cert)])).build_client_verifier()
    assert len(verifier.verify(cert, chain).chain) == 3
    # A completed order is answered as complete again (the RP consumes it once).
    assert sim.collect(ref)["status"] == "complete"


def test_a_client_without_a_certificate_is_refused_in_the_handshake(sim: Sim) -> None:
    with pytest.raises(requests.exceptions.SSLError):
        sim.rp(cert=None).post(f"{sim.api}/collect", json={"orderRef": "x"}, timeout=10)


def test_a_client_certificate_from_another_ca_is_refused_in_the_handshake(sim: Sim) -> None:
    eva = sim.pki.user_cert("eva")  # clientAuth, but issued by the Efos CA, not the service CA
    with pytest.raises((requests.exceptions.SSLError, requests.exceptions.ConnectionError)):
        sim.rp(cert=(eva.cert, eva.key)).post(
            f"{sim.api}/collect", json={"orderRef": "x"}, timeout=10
        )
    # And the API still serves the proxy afterwards.
    sim.auth()


def test_an_unknown_order_ref_is_invalid_parameters(sim: Sim) -> None:
    response = sim.call("collect", {"orderRef": "131daac9-16c6-4618-beb0-365768f37288"})
    assert response.status_code == 400
    assert response.json()["errorCode"] == "invalidParameters"
    assert response.json()["details"]


@pytest.mark.parametrize(
    "body",
    [
        {"challenge": base64.b64encode(bytes(32)).decode()},
        {"endUserIp": "192.0.2.1", "challenge": "not base64!"},
        {"endUserIp": "192.0.2.1", "challenge": base64.b64encode(bytes(16)).decode()},
        {"endUserIp": "nowhere", "challenge": base64.b64encode(bytes(32)).decode()},
    ],
)
def test_auth_refuses_malformed_fields(sim: Sim, body: dict[str, str]) -> None:
    response = sim.call("auth", body)
    assert (response.status_code, response.json()["errorCode"]) == (400, "invalidParameters")


def test_deny_is_user_cancel_expire_is_expired_transaction_cancel_is_cancelled(sim: Sim) -> None:
    denied = sim.auth()[0]["orderRef"]
    expired = sim.auth()[0]["orderRef"]
    cancelled = sim.auth()[0]["orderRef"]
    assert sim.control(f"orders/{denied}/deny").status_code == 200
    assert sim.control(f"orders/{expired}/expire").status_code == 200
    assert sim.call("cancel", {"orderRef": cancelled}).json() == {}

    assert sim.collect(denied) == {"orderRef": denied, "status": "failed", "hintCode": "userCancel"}
    assert sim.collect(expired)["hintCode"] == "expiredTransaction"
    assert sim.collect(cancelled)["hintCode"] == "cancelled"
    # An ended order cannot be approved any more.
    assert sim.control(f"orders/{denied}/approve", {"user": "eva"}).status_code == 409


def test_hints_and_latest(sim: Sim) -> None:
    sim.auth()
    newest = sim.auth()[0]["orderRef"]
    assert sim.control("orders/latest/hint", {"hintCode": "userSign"}).json()["orderRef"] == newest
    assert sim.collect(newest)["hintCode"] == "userSign"
    sim.control(f"orders/{newest}/hint", {"hintCode": "certificateErr"})
    assert sim.collect(newest) == {
        "orderRef": newest,
        "status": "failed",
        "hintCode": "certificateErr",
    }
    listed = sim.control("orders").json()["orders"]
    assert [order["orderRef"] for order in listed][0] == newest
    assert listed[0]["userVisibleData"] == "Inloggning till SAMSA"
    assert "qrStartSecret" not in listed[0]


def test_behaviour_answers_503_then_recovers(sim: Sim) -> None:
    ref = sim.auth()[0]["orderRef"]
    assert sim.control("behaviour", {"status": 503, "count": 2}).status_code == 200
    for _ in range(2):
        response = sim.call("collect", {"orderRef": ref})
        assert response.status_code == 503
        assert response.json()["errorCode"] == "maintenance"
    assert sim.collect(ref)["status"] == "pending"


def test_behaviour_delay(sim: Sim) -> None:
    sim.control("behaviour", {"delay_seconds": 1.0, "count": 1})
    started = time.monotonic()
    sim.auth()
    assert time.monotonic() - started >= 1.0


@pytest.mark.parametrize("variant", ["revoked", "expired", "wrong_policy", "foreign_ca"])
def test_approving_with_a_bad_certificate_completes_with_that_certificate(
    sim: Sim, variant: str
) -> None:
    started, challenge = sim.auth()
    sim.control("orders/latest/approve", {"user": "eva", "variant": variant})
    completion = sim.collect(started["orderRef"])["completionData"]
    cert = certificate_of(completion)
    assert cert == load(sim.pki.user_cert("eva", variant).cert)
    assert signature_verifies(completion, completion["signedData"])  # only the cert is bad
    if variant == "foreign_ca":
        issuer = x509.load_der_x509_certificate(base64.b64decode(completion["chain"][0]))
        assert issuer == load(sim.pki.foreign_issuing_ca_cert)


def test_bad_signature_signs_another_challenge(sim: Sim) -> None:
    started, challenge = sim.auth()
    sim.control("orders/latest/approve", {"user": "eva", "variant": "bad_signature"})
    completion = sim.collect(started["orderRef"])["completionData"]
    assert completion["signedData"] == f"{started['orderRef']}.{challenge}"
    assert not signature_verifies(completion, completion["signedData"])


# --- the QR code and the phone page -----------------------------------------------------------


def test_qr_data_matches_the_worked_example_of_the_spec() -> None:
    token, secret = "67df3917-fa0d-44e5-b327-edcc928297f8", "d28db9a7-4cde-438e-a2ae-a1f8cd3f5b19"
    assert efos_service.qr_data(token, secret, 0) == (
        f"efos.{token}.0.71b647e76cee97382c535e6a4ccc80fa790c63e1dde949a4430abb31a31eedea"
    )
    assert efos_service.qr_data(token, secret, 2).endswith(
        ".2.564f88b30e56508d516a6a2f2a7225528d12415dbcc73ec1eb98dba2202773fa"
    )


def test_qr_check_accepts_up_to_30_seconds_and_refuses_older(sim: Sim) -> None:
    order = efos_service.Order(
        "ref", "auto", "token", "secret", "c", "192.0.2.1", None, [], created=1000.0
    )
    code = efos_service.qr_auth_code("secret", 5)
    efos_service.check_qr(order, 5, code, now=1035.0)  # shown at 1005, 30 s old
    with pytest.raises(efos_service.QrRefused, match="older"):
        efos_service.check_qr(order, 5, code, now=1035.5)
    with pytest.raises(efos_service.QrRefused, match="future"):
        efos_service.check_qr(order, 5, code, now=1001.0)


def scan(sim: Sim, qr: str, user: str = "eva") -> requests.Response:
    return requests.post(
        f"{sim.phone}scan",
        data={"qrData": qr, "user": user, "variant": "normal"},
        allow_redirects=False,
        timeout=10,
    )


def test_a_scanned_qr_code_approves_its_order(sim: Sim) -> None:
    started, challenge = sim.auth()
    qr = efos_service.qr_data(started["qrStartToken"], started["qrStartSecret"], 0)
    response = scan(sim, qr)
    assert response.status_code == 303, response.text
    completion = sim.collect(started["orderRef"])["completionData"]
    assert completion["user"]["personalIdentityNumber"] == EVA_PNR
    assert signature_verifies(completion, f"{started['orderRef']}.{challenge}")


def test_a_qr_code_with_a_wrong_hmac_is_refused(sim: Sim) -> None:
    started, _ = sim.auth()
    qr = efos_service.qr_data(started["qrStartToken"], "another secret", 0)
    response = scan(sim, qr)
    assert response.status_code == 400
    assert "inte äkta" in response.text and "SIMULATOR" in response.text
    assert sim.collect(started["orderRef"])["status"] == "pending"


def test_a_qr_code_older_than_30_seconds_is_refused(sim: Sim) -> None:
    started, _ = sim.auth()
    ref = started["orderRef"]
    assert sim.control(f"orders/{ref}/backdate", {"seconds": 40}).status_code == 200
    old = efos_service.qr_data(started["qrStartToken"], started["qrStartSecret"], 5)
    response = scan(sim, old)
    assert response.status_code == 400
    assert "för gammal" in response.text
    fresh = efos_service.qr_data(started["qrStartToken"], started["qrStartSecret"], 39)
    assert scan(sim, fresh).status_code == 303


def test_the_phone_page_lists_pending_orders_and_approves(sim: Sim) -> None:
    started, _ = sim.auth("Inloggning till Journalen")
    page = requests.get(sim.phone, timeout=10)
    assert page.status_code == 200
    assert "SIMULATOR" in page.text and "Mobilt Efos-appen" in page.text
    assert "Inloggning till Journalen" in page.text and "Godkänn" in page.text
    assert started["orderRef"][:8] in page.text
    english = requests.get(f"{sim.phone}?lang=en", timeout=10).text
    assert "Approve" in english and "SIMULATOR" in english

    response = requests.post(
        f"{sim.phone}approve",
        data={"order_ref": started["orderRef"], "user": "anna", "action": "approve"},
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 303
    user = sim.collect(started["orderRef"])["completionData"]["user"]
    assert user["personalIdentityNumber"] == "195006262546"


# --- the PKI and OCSP -------------------------------------------------------------------------


def ocsp_status(sim: Sim, cert: Path) -> str:
    result = subprocess.run(
        [
            "openssl",
            "ocsp",
            "-issuer",
            str(sim.pki.issuing_ca_cert),
            "-cert",
            str(cert),
            "-url",
            f"http://{HOST}:{sim.ocsp_port}",
            "-CAfile",
            str(sim.pki.root_ca_cert),
            "-resp_text",
        ],  # fmt: skip
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert result.returncode == 0, result.stderr
    assert "Response verify OK" in result.stderr, result.stderr
    match = re.search(rf"^{re.escape(str(cert))}: (\w+)", result.stdout, re.MULTILINE)
    assert match, result.stdout
    return match.group(1)


def test_ocsp_says_revoked_for_the_revoked_certificate_and_good_for_the_normal_one(
    sim: Sim,
) -> None:
    assert ocsp_status(sim, sim.pki.user_cert("eva", "revoked").cert) == "revoked"
    assert ocsp_status(sim, sim.pki.user_cert("eva", "normal").cert) == "good"


def test_user_certificates_look_like_efos_person_certificates(sim: Sim) -> None:
    cert = load(sim.pki.user_cert("eva").cert)
    subject = {attribute.oid: attribute.value for attribute in cert.subject}
    assert subject[NameOID.SERIAL_NUMBER] == EVA_PNR
    assert subject[NameOID.COMMON_NAME] == "Eva Sjöberg"
    assert subject[NameOID.ORGANIZATION_NAME] == "Göteborgs Stad"
    assert subject[NameOID.ORGANIZATION_IDENTIFIER] == "SE2120001355"
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    policies = cert.extensions.get_extension_for_class(x509.CertificatePolicies).value
    assert [p.policy_identifier.dotted_string for p in policies] == [EFOS_POLICY]
    aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    assert [d.access_location.value for d in aia] == [sim.pki.ocsp_url]
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == dt.timedelta(days=730)

    wrong = load(sim.pki.user_cert("eva", "wrong_policy").cert)
    policies = wrong.extensions.get_extension_for_class(x509.CertificatePolicies).value
    assert [p.policy_identifier.dotted_string for p in policies] == [WRONG_POLICY]
    expired = load(sim.pki.user_cert("eva", "expired").cert)
    assert expired.not_valid_after_utc < dt.datetime.now(dt.UTC)
    foreign = load(sim.pki.user_cert("eva", "foreign_ca").cert)
    verifier = PolicyBuilder().store(Store([load(sim.pki.root_ca_cert)])).build_client_verifier()
    with pytest.raises(VerificationError):
        verifier.verify(foreign, [load(sim.pki.foreign_issuing_ca_cert)])
    # Only users with a personnummer get certificates.
    assert "gustav" not in sim.pki.users and "eva" in sim.pki.users


def test_prepare_pki_reuses_everything_and_keeps_keys_private(sim: Sim) -> None:
    files = {path: path.read_bytes() for path in sim.pki.state_dir.rglob("*.*")}
    again = prepare_pki(
        sim.pki.state_dir, ocsp_url=sim.pki.ocsp_url, server_names=["localhost", HOST]
    )
    assert again == sim.pki
    assert {path: path.read_bytes() for path in files} == files
    keys = list(sim.pki.state_dir.rglob("*.key"))
    assert len(keys) > 30
    assert {stat.S_IMODE(key.stat().st_mode) for key in keys} == {0o600}


def test_another_server_name_reissues_only_the_server_certificate(sim: Sim, tmp_path: Path) -> None:
    copy = tmp_path / "state"
    shutil.copytree(sim.pki.state_dir, copy)
    before = {path.name: path.read_bytes() for path in copy.glob("*.crt")}
    changed = prepare_pki(copy, ocsp_url=sim.pki.ocsp_url, server_names=["efos.test"])
    after = {path.name: path.read_bytes() for path in copy.glob("*.crt")}
    assert {name for name in before if before[name] != after[name]} == {"server.crt"}
    names = load(changed.server_cert).extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    )
    assert names.value.get_values_for_type(x509.DNSName) == ["efos.test"]


# --- last: stopping -------------------------------------------------------------------------


def test_sigterm_stops_everything_and_every_log_line_says_simulator(sim: Sim) -> None:
    sim.stop()
    assert sim.process.returncode == 0
    for port in (sim.ocsp_port,):
        with pytest.raises(requests.ConnectionError):
            requests.post(f"http://{HOST}:{port}/", data=b"", timeout=2)
    lines = sim.log.read_text(encoding="utf-8").splitlines()
    assert lines, "the simulator logged nothing"
    assert [line for line in lines if not line.startswith("SIMULATOR")] == []
    assert any("RP API TLS handshake refused" in line for line in lines)
