"""The SAML IdP's rules one by one, without a running proxy (satosa_efos.saml, identity.loa).

The flow test (tests/flows/test_saml_frontend.py) sends bad messages to the running proxy; these
pin down each rule's edges, with the section of the Swedish eID deployment profile ("profile")
or SAML specification it enforces.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import subprocess
import zlib
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import quote_plus

import pytest
import saml2.response
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from helpers.saml_sp import SAMBI_GIVEN_NAME, Acs, write_sp_metadata
from lxml import etree
from saml2.sigver import CryptoBackendXmlSec1, get_xmlsec_binary
from satosa.exception import SATOSAAuthenticationError
from satosa.state import State

from satosa_efos.backends.organisation_idp import OrganisationSAMLBackend, upstream_reason
from satosa_efos.config.models import Application
from satosa_efos.errors import BadSamlMessage
from satosa_efos.identity.loa import LoA, answer_uri, contract, parse_loa, upstream_uris
from satosa_efos.keys import ensure_keypair, generate_self_signed
from satosa_efos.saml import request as checks
from satosa_efos.saml.attributes import (
    released,
    requested_internal_names,
    wire_attributes,
    wire_names,
)
from satosa_efos.saml.checks import application_problems
from satosa_efos.saml.response import (
    Authentication,
    EncryptionTarget,
    NameId,
    Recipient,
    ResponseBuilder,
    WireAttribute,
    choose_data_encryption,
)
from satosa_efos.saml.signature import BadSignature, redirect_signature, verify_redirect
from satosa_efos.saml.sp_metadata import read_sp_metadata
from satosa_efos.saml.status import (
    InvalidNameIdPolicy,
    NoAuthnContext,
    RequestDenied,
    RequestUnsupported,
)
from satosa_efos.saml.subject import (
    PERSISTENT,
    TRANSIENT,
    NoStableSubject,
    client_address,
    name_id_format,
    persistent_name_id,
    stable_subject,
    transient_name_id,
)
from satosa_efos.xmlsec import policy as algorithms

REPO = Path(__file__).resolve().parents[2]
SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
XENC = "http://www.w3.org/2001/04/xmlenc#"
SAMBI3 = "http://id.sambi.se/loa/loa3"
EID3 = "http://id.elegnamnden.se/loa/1.0/loa3"
EID2 = "http://id.elegnamnden.se/loa/1.0/loa2"
EID4 = "http://id.elegnamnden.se/loa/1.0/loa4"
SP = "https://app.example.se/sp"
ACS = "https://app.example.se/acs"
SSO = "https://login.example.se/orgidp/sso/redirect"
INTERNAL = yaml.safe_load((REPO / "conf" / "internal_attributes.yaml").read_text())


# -- levels of assurance (DOMAIN.md §5) ---------------------------------------------------------


def test_contract_without_request_is_the_applications_required_loa():
    assert contract([], LoA.LOA3) == {"accepted": ["loa3"], "requested": []}


def test_contract_keeps_every_requested_uri_and_maps_each_to_one_level():
    entry = contract([EID4, SAMBI3, EID3], LoA.LOA2)
    assert entry == {"accepted": ["loa4", "loa3"], "requested": [EID4, SAMBI3, EID3]}


def test_answer_is_a_requested_uri_or_the_profiles_and_never_another_level():
    entry = contract([EID3, EID2], LoA.LOA3)
    assert answer_uri(LoA.LOA2, entry, "sambi") == EID2  # what was asked, in its profile
    assert answer_uri(LoA.LOA4, entry, "sambi") is None  # stronger is not "exact" either
    assert answer_uri(LoA.LOA3, contract([], LoA.LOA3), "sambi") == SAMBI3
    assert answer_uri(LoA.LOA3, contract([], LoA.LOA3), "swedish_eid") == EID3
    assert answer_uri(LoA.LOA4, contract([], LoA.LOA4), "sambi") == EID4  # Sambi has no loa4


def test_upstream_is_asked_in_its_own_profile_for_what_it_names():
    assert upstream_uris([LoA.LOA4, LoA.LOA3], "sambi") == [SAMBI3]
    assert upstream_uris([LoA.LOA4, LoA.LOA3], "swedish_eid") == [EID4, EID3]
    assert parse_loa("loa3") == LoA.LOA3 and parse_loa(SAMBI3) == LoA.LOA3
    assert parse_loa("urn:example:loa") is None


# -- NameID and Address (profile §3, §6.2) -------------------------------------------------------


@pytest.mark.parametrize(
    ("requested", "metadata", "expected"),
    [
        (None, (), PERSISTENT),
        ("urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified", (), PERSISTENT),
        (None, (TRANSIENT,), TRANSIENT),
        (TRANSIENT, (PERSISTENT,), TRANSIENT),
        (PERSISTENT, (TRANSIENT,), PERSISTENT),
        (None, ("urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",), PERSISTENT),
    ],
)
def test_name_id_format_is_persistent_unless_transient_is_asked(requested, metadata, expected):
    assert name_id_format(requested, metadata) == expected


def test_unsupported_name_id_format_is_invalid_name_id_policy():
    with pytest.raises(InvalidNameIdPolicy):
        name_id_format("urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress", ())


def test_stable_subject_prefers_hsa_id_then_personnummer_then_upstream_name_id():
    both = {"employeeHsaId": ["se2321000131-E1"], "personalIdentityNumber": ["19121212-1212"]}
    assert stable_subject(both, "x", "idp") == "hsa:SE2321000131-E1"
    assert stable_subject({"personalIdentityNumber": ["19121212-1212"]}, "x", "idp") == (
        "pnr:191212121212"
    )
    assert stable_subject({}, "abc", "https://idp") == "nameid:https://idp\0abc"
    with pytest.raises(NoStableSubject):
        stable_subject({}, None, None)


def test_persistent_name_id_is_pairwise_stable_and_reveals_nothing():
    subject = stable_subject({"personalIdentityNumber": ["191212121212"]}, None, None)
    one = persistent_name_id(b"k" * 32, SP, subject)
    assert one == persistent_name_id(b"k" * 32, SP, subject)  # another worker, a restart
    assert one != persistent_name_id(b"k" * 32, "https://other.example.se/sp", subject)
    assert one != persistent_name_id(b"x" * 32, SP, subject)
    assert "191212121212" not in one and len(one) == 64


def test_transient_name_id_is_fresh_every_time():
    assert transient_name_id() != transient_name_id()


@pytest.mark.parametrize(
    ("remote", "forwarded", "trusted", "expected"),
    [
        ("203.0.113.5", "198.51.100.1", [], "203.0.113.5"),  # no proxies: XFF is ignored
        ("127.0.0.1", "198.51.100.7", ["127.0.0.1/32"], "198.51.100.7"),
        # The client sent its own X-Forwarded-For; nginx appended the real address.
        ("127.0.0.1", "6.6.6.6, 198.51.100.7", ["127.0.0.1/32"], "198.51.100.7"),
        ("127.0.0.1", "198.51.100.7, 10.0.0.2", ["127.0.0.1/32", "10.0.0.0/8"], "198.51.100.7"),
        ("203.0.113.5", "6.6.6.6", ["127.0.0.1/32"], "203.0.113.5"),  # not from our proxy
    ],
)
def test_client_address(remote, forwarded, trusted, expected):
    networks = [ipaddress.ip_network(n) for n in trusted]
    assert client_address(remote, forwarded, networks) == expected


# -- attributes (DOMAIN.md §4; profile §6.2.1) --------------------------------------------------


def test_wire_names_follow_the_applications_profile():
    sambi, eid = wire_names(INTERNAL, "sambi"), wire_names(INTERNAL, "swedish_eid")
    assert (sambi["surname"].name, sambi["surname"].friendly_name) == (
        "http://sambi.se/attributes/1/surname",
        "surname",
    )
    assert (eid["surname"].name, eid["surname"].friendly_name) == ("urn:oid:2.5.4.4", "sn")
    assert eid["personalIdentityNumber"].name == "urn:oid:1.2.752.29.4.13"
    assert eid["employeeHsaId"].name == "urn:oid:1.2.752.29.6.2.1"
    assert sambi["employeeHsaId"].name == "http://sambi.se/attributes/1/employeeHsaId"
    # No Swedish eID name: the Sambi one rather than nothing.
    assert eid["commissionHsaId"].name == "http://sambi.se/attributes/1/commissionHsaId"


def test_release_is_listed_intersected_with_requested():
    listed = ["givenName", "mail", "employeeHsaId"]
    requested = requested_internal_names(
        INTERNAL, [SAMBI_GIVEN_NAME, "urn:oid:0.9.2342.19200300.100.1.3", "urn:example:other"]
    )
    assert requested == {"givenName", "mail"}
    assert released(listed, requested) == ["givenName", "mail"]
    assert released(listed, None) == listed  # no AttributeConsumingService: as listed


def test_multi_valued_attribute_is_one_attribute_with_every_value():
    names = wire_names(INTERNAL, "sambi")
    values = {"commissionRight": ["Läsa;alla;SJF", "Skriva;alla;VE"], "mail": [], "sn": ["x"]}
    found = wire_attributes(values, ["commissionRight", "mail"], names)
    assert found == [
        WireAttribute("http://sambi.se/attributes/1/commissionRight", "commissionRight",
                      ("Läsa;alla;SJF", "Skriva;alla;VE")),
    ]  # fmt: skip


# -- the AuthnRequest (profile §5) -----------------------------------------------------------------


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _request(**attributes: str) -> str:
    values = {
        "ID": "_req1",
        "Version": "2.0",
        "IssueInstant": _now().strftime("%Y-%m-%dT%H:%M:%SZ"),
        "Destination": SSO,
        **attributes,
    }
    rendered = " ".join(f'{k}="{v}"' for k, v in values.items() if v is not None)
    return (f'<samlp:AuthnRequest xmlns:samlp="{SAMLP}" xmlns:saml="{SAML}" {rendered}>'
            f"<saml:Issuer>{SP}</saml:Issuer></samlp:AuthnRequest>")  # fmt: skip


def _received(xml: str, binding: str = checks.HTTP_POST) -> checks.ReceivedRequest:
    return checks.decode(binding, {"SAMLRequest": base64.b64encode(xml.encode()).decode()}, None)


def _redirect(xml: str) -> dict[str, str]:
    deflater = zlib.compressobj(9, zlib.DEFLATED, -15)
    return {"SAMLRequest": base64.b64encode(deflater.compress(xml.encode()) + deflater.flush())
            .decode()}  # fmt: skip


@pytest.fixture
def sp_files(tmp_path: Path) -> dict[str, Path]:
    key, cert = ensure_keypair(tmp_path, "sp", "Test SP")
    metadata = write_sp_metadata(
        tmp_path / "sp.xml", SP,
        [Acs(ACS, 1), Acs("https://app.example.se/acs2", 2, is_default=True),
         Acs("https://app.example.se/artifact", 3,
             binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact")],
        cert, encryption_cert=cert,
    )  # fmt: skip
    return {"key": key, "cert": cert, "metadata": metadata}


def test_decode_refuses_dtd_oversize_and_deflate_bombs():
    with pytest.raises(BadSamlMessage):
        _received('<!DOCTYPE x [<!ENTITY a "b">]>' + _request())
    bomb = zlib.compressobj(9, zlib.DEFLATED, -15)
    data = bomb.compress(b"<a>" + b" " * (10 * 1024 * 1024)) + bomb.flush()
    with pytest.raises(BadSamlMessage, match="inflates"):
        checks.decode(checks.HTTP_REDIRECT, {"SAMLRequest": base64.b64encode(data).decode()}, None)
    assert checks.decode(checks.HTTP_REDIRECT, _redirect(_request()), None).id == "_req1"


def test_acs_url_must_be_exactly_a_post_acs_of_the_metadata(sp_files):
    sp = read_sp_metadata(sp_files["metadata"], SP)
    assert checks.answer_address(_received(_request(AssertionConsumerServiceURL=ACS)), sp)
    for url in (
        ACS + "/",
        ACS.upper(),
        "https://evil.example/acs",
        "https://app.example.se/artifact",
    ):
        with pytest.raises(checks.UnknownAcs):
            checks.answer_address(_received(_request(AssertionConsumerServiceURL=url)), sp)


def test_acs_index_must_name_a_post_acs_and_absent_means_the_default(sp_files):
    sp = read_sp_metadata(sp_files["metadata"], SP)
    chosen = checks.answer_address(_received(_request(AssertionConsumerServiceIndex="1")), sp)
    assert chosen.location == ACS
    assert checks.answer_address(_received(_request()), sp).location.endswith("/acs2")
    for index in ("3", "9"):
        with pytest.raises(checks.UnknownAcs):
            checks.answer_address(_received(_request(AssertionConsumerServiceIndex=index)), sp)
    with pytest.raises(checks.UnknownAcs, match="mutually exclusive"):
        checks.answer_address(
            _received(_request(AssertionConsumerServiceURL=ACS, AssertionConsumerServiceIndex="1")),
            sp,
        )
    with pytest.raises(checks.UnknownAcs, match="ProtocolBinding"):
        checks.answer_address(_received(_request(
            ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact")), sp)  # fmt: skip


def test_destination_must_be_present_and_this_endpoint():
    checks.check_destination(_received(_request()), SSO)
    with pytest.raises(checks.WrongDestination):
        checks.check_destination(_received(_request()), SSO.replace("redirect", "post"))
    with pytest.raises(checks.WrongDestination, match="no Destination"):
        checks.check_destination(_received(_request(Destination=None)), SSO)


def test_requested_authn_context_must_be_exact_and_known():
    def asked(comparison: str | None, *uris: str) -> str:
        attr = f' Comparison="{comparison}"' if comparison else ""
        refs = "".join(f"<saml:AuthnContextClassRef>{u}</saml:AuthnContextClassRef>" for u in uris)
        return f"<samlp:RequestedAuthnContext{attr}>{refs}</samlp:RequestedAuthnContext>"

    def loa(body: str):
        xml = _request().replace("</samlp:AuthnRequest>", body + "</samlp:AuthnRequest>")
        return checks.loa_contract(_received(xml), LoA.LOA3)

    assert loa("") == {"accepted": ["loa3"], "requested": []}
    assert loa(asked(None, EID2))["accepted"] == ["loa2"]
    assert loa(asked("exact", SAMBI3, EID4))["accepted"] == ["loa3", "loa4"]
    for comparison in ("minimum", "better", "maximum"):
        with pytest.raises(RequestUnsupported):
            loa(asked(comparison, SAMBI3))
    with pytest.raises(NoAuthnContext):
        loa(asked("exact", "urn:example:loa:high"))


def test_request_age_and_version():
    old = (_now() - dt.timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    future = (_now() + dt.timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    checks.check_age(_received(_request()), _now(), 300, 60)
    for issued in (old, future):
        with pytest.raises(RequestDenied):
            checks.check_age(_received(_request(IssueInstant=issued)), _now(), 300, 60)


# -- signatures (profile §5.2, §8.2) -------------------------------------------------------------


def _sign_query(query: str, key_file: Path, algorithm: str, digest) -> str:
    key = load_pem_private_key(key_file.read_bytes(), None)
    signature = key.sign(query.encode(), padding.PKCS1v15(), digest)
    return f"{query}&Signature={quote_plus(base64.b64encode(signature).decode())}"


@pytest.mark.parametrize("algorithm", ["rsa-sha256", "rsa-sha1"])
def test_redirect_signature_over_the_raw_query(sp_files, algorithm):
    uri = f"http://www.w3.org/2001/04/xmldsig-more#{algorithm}".replace(
        "xmldsig-more#rsa-sha1", "xmldsig#rsa-sha1"
    )
    digest = hashes.SHA256() if algorithm.endswith("256") else hashes.SHA1()  # noqa: S303
    encoded = _redirect(_request())["SAMLRequest"]
    # Lower-case percent escapes: re-encoding would give other octets than were signed.
    query = (f"SAMLRequest={quote_plus(encoded).replace('%2B', '%2b')}&RelayState=%2fx"
             f"&SigAlg={quote_plus(uri)}")  # fmt: skip
    raw = _sign_query(query, sp_files["key"], uri, digest)
    values = {k: v for k, v in (p.split("=", 1) for p in raw.split("&"))}
    certificate = x509.load_pem_x509_certificate(sp_files["cert"].read_bytes())
    signed = redirect_signature(raw, values)
    if algorithm == "rsa-sha1":
        with pytest.raises(BadSignature, match="refused"):
            verify_redirect(signed, [certificate])
        return
    verify_redirect(signed, [certificate])
    other_key, other_cert = generate_self_signed("other")
    with pytest.raises(BadSignature):
        verify_redirect(signed, [x509.load_pem_x509_certificate(other_cert)])
    tampered = redirect_signature(raw.replace("RelayState=%2fx", "RelayState=%2fy"), values)
    with pytest.raises(BadSignature):
        verify_redirect(tampered, [certificate])


# -- the Response (profile §6) ---------------------------------------------------------------------


@pytest.fixture(params=["xmlsec1", "inprocess"])
def builder(request, tmp_path: Path) -> tuple[ResponseBuilder, Path]:
    key, cert = ensure_keypair(tmp_path, "idp", "Test IdP")
    if request.param == "xmlsec1":
        crypto = CryptoBackendXmlSec1(get_xmlsec_binary(["/usr/bin", "/usr/local/bin"]))
    else:
        from satosa_efos.xmlsec.inprocess import InProcessBackend

        crypto = InProcessBackend()
    certificate = x509.load_pem_x509_certificate(cert.read_bytes())
    built = ResponseBuilder(SimpleNamespace(crypto=crypto), "https://login.example.se/idp", key,
                            certificate)  # fmt: skip
    return built, cert


def _xmlsec1(*args: str) -> bytes:
    return subprocess.run(["xmlsec1", *args], check=True, capture_output=True).stdout


def _success(built: ResponseBuilder, target: EncryptionTarget | None) -> str:
    return built.success(
        Recipient(SP, ACS, "_req1", "/x"),
        NameId("abc", PERSISTENT),
        Authentication(SAMBI3, _now() - dt.timedelta(seconds=30), ("https://idp.boras.se",)),
        [WireAttribute(SAMBI_GIVEN_NAME, "givenName", ("Eva",)),
         WireAttribute("http://sambi.se/attributes/1/commissionRight", "commissionRight",
                       ("Läsa;alla;SJF", "Skriva;alla;VE"))],
        "198.51.100.7", now=_now(), lifetime=dt.timedelta(minutes=5), encrypt_to=target,
    )  # fmt: skip


def test_encrypted_response_decrypts_with_the_applications_key(builder, tmp_path, sp_files):
    built, idp_cert = builder
    sp_cert = x509.load_pem_x509_certificate(sp_files["cert"].read_bytes())
    document = _success(built, EncryptionTarget(sp_cert, choose_data_encryption([])))
    root = etree.fromstring(document.encode())
    assert root.find(f"{{{SAML}}}Assertion") is None
    methods = [m.get("Algorithm") for m in root.iter(f"{{{XENC}}}EncryptionMethod")]
    assert set(methods) <= {*algorithms.AES_KEY_BYTES, algorithms.RSA_OAEP_MGF1P}
    assert algorithms.TRIPLEDES_CBC not in methods and algorithms.RSA_1_5 not in methods
    path = tmp_path / "response.xml"
    path.write_text(document)
    _xmlsec1("--verify", "--pubkey-cert-pem", str(idp_cert), "--id-attr:ID",
             f"{SAMLP}:Response", str(path))  # fmt: skip
    decrypted = _xmlsec1("--decrypt", "--privkey-pem", str(sp_files["key"]), str(path))
    assertion = etree.fromstring(decrypted).find(f".//{{{SAML}}}Assertion")
    # The assertion stands alone (its own namespace declarations) and its signature verifies.
    alone = tmp_path / "assertion.xml"
    alone.write_bytes(etree.tostring(assertion))
    etree.fromstring(alone.read_bytes())
    _xmlsec1("--verify", "--pubkey-cert-pem", str(idp_cert), "--id-attr:ID",
             f"{SAML}:Assertion", str(alone))  # fmt: skip
    assert len(assertion.findall(f"{{{SAML}}}AuthnStatement")) == 1
    assert len(assertion.findall(f"{{{SAML}}}AttributeStatement")) == 1
    data = assertion.find(f".//{{{SAML}}}SubjectConfirmationData")
    assert data.get("InResponseTo") == "_req1" and data.get("Recipient") == ACS
    assert data.get("Address") == "198.51.100.7" and data.get("NotOnOrAfter")
    rights = assertion.findall(f".//{{{SAML}}}Attribute[@FriendlyName='commissionRight']")
    assert len(rights) == 1 and len(rights[0]) == 2


def test_encryption_algorithm_is_the_applications_declared_one_else_aes_cbc(tmp_path, sp_files):
    """Profile §6.1/§8.3 (with pysaml2's xmlsec1 backend, which uses the proxy's template)."""
    key, cert = ensure_keypair(tmp_path, "idp", "Test IdP")
    crypto = CryptoBackendXmlSec1(get_xmlsec_binary(["/usr/bin", "/usr/local/bin"]))
    built = ResponseBuilder(SimpleNamespace(crypto=crypto), "https://login.example.se/idp", key,
                            x509.load_pem_x509_certificate(cert.read_bytes()))  # fmt: skip
    sp_cert = x509.load_pem_x509_certificate(sp_files["cert"].read_bytes())
    assert choose_data_encryption([]) == algorithms.AES256_CBC
    assert choose_data_encryption([algorithms.TRIPLEDES_CBC, algorithms.AES128_GCM]) == (
        algorithms.AES128_GCM
    )
    for declared, expected in (([], algorithms.AES256_CBC),
                               ([algorithms.AES128_GCM], algorithms.AES128_GCM)):  # fmt: skip
        document = _success(built, EncryptionTarget(sp_cert, choose_data_encryption(declared)))
        data = etree.fromstring(document.encode()).find(f".//{{{XENC}}}EncryptedData")
        assert data.find(f"{{{XENC}}}EncryptionMethod").get("Algorithm") == expected


def test_error_response_is_signed_and_has_no_assertion(builder):
    built, _ = builder
    document = built.error(Recipient(SP, ACS, "_req1"), NoAuthnContext("nope"), now=_now())
    root = etree.fromstring(document.encode())
    codes = [c.get("Value") for c in root.iter(f"{{{SAMLP}}}StatusCode")]
    assert codes == ["urn:oasis:names:tc:SAML:2.0:status:Requester",
                     "urn:oasis:names:tc:SAML:2.0:status:NoAuthnContext"]  # fmt: skip
    assert root.find(f".//{{{SAML}}}Assertion") is None
    assert root.find("{http://www.w3.org/2000/09/xmldsig#}Signature") is not None
    assert root.get("InResponseTo") == "_req1" and root.get("Destination") == ACS


# -- check-config (issue 6 acceptance) -----------------------------------------------------------


def _app(metadata: Path, **settings) -> Application:
    return Application.model_validate({
        "id": "app", "name": "App", "protocol": "saml", "entity_id": SP,
        "metadata": str(metadata), "allowed_organisations": "all",
        "released_attributes": ["givenName"], **settings,
    })  # fmt: skip


def test_check_config_compares_the_registry_with_the_metadata(tmp_path):
    key, cert = ensure_keypair(tmp_path, "sp", "Test SP")
    good = write_sp_metadata(tmp_path / "good.xml", SP, [Acs(ACS, 1)], cert, encryption_cert=cert)
    assert application_problems(_app(good, encrypt_assertion=True), good, INTERNAL) == []
    bare = write_sp_metadata(tmp_path / "bare.xml", SP,
                             [Acs(ACS, 1, binding="urn:oasis:names:tc:SAML:2.0:bindings:PAOS")],
                             None, authn_requests_signed=True)  # fmt: skip
    problems = application_problems(_app(bare, encrypt_assertion=True), bare, INTERNAL)
    by_key = {key: [m for k, m in problems if k == key] for key, _ in problems}
    assert any("HTTP-POST" in m for m in by_key[("metadata",)])
    assert any("no signing certificate" in m for m in by_key[("metadata",)])
    assert "no encryption certificate" in by_key[("encrypt_assertion",)][0]
    signed = dict(application_problems(_app(bare, require_signed_requests=True), bare, INTERNAL))
    assert "no signing certificate" in signed[("require_signed_requests",)]
    # Unset encrypt_assertion and no key: signed only, no problem.
    plain = write_sp_metadata(tmp_path / "plain.xml", SP, [Acs(ACS, 1)], cert)
    assert application_problems(_app(plain), plain, INTERNAL) == []


def test_check_config_refuses_a_short_rsa_key(tmp_path):
    """Profile §8: RSA keys of at least 2048 bits."""
    _, cert_pem = generate_self_signed("weak", key_size=1024)
    path = tmp_path / "weak.crt"
    path.write_bytes(cert_pem)
    metadata = write_sp_metadata(tmp_path / "weak.xml", SP, [Acs(ACS, 1)], path)
    problems = dict(application_problems(_app(metadata), metadata, INTERNAL))
    assert "1024-bit" in problems[("metadata",)]


# -- organisation IdPs: their LoA settings and error statuses ------------------------------------


def test_organisation_idp_loa_settings_are_checked_with_their_key():
    problems = OrganisationSAMLBackend.cross_check(
        {
            "loa_profile": "eidas",
            "idp_loa": {
                "https://adfs.example.se": {"profile": "none"},
                "https://idp.example.se": {"profile": "swedish_eid", "loa": "loa3"},
                "https://ok.example.se": {"profile": "none", "loa": "uncertified-loa2"},
            },
        },
        None,
    )
    assert [key for key, _ in problems] == [
        ("loa_profile",),
        ("idp_loa", "https://adfs.example.se"),
        ("idp_loa", "https://idp.example.se"),
    ]


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("StatusNoPassive", "no_passive"),
        ("StatusNoAuthnContext", "loa_not_met"),
        ("StatusAuthnFailed", "failed"),
    ],
)
def test_an_upstream_status_becomes_the_reason_the_application_gets(status, expected):
    try:
        try:
            raise getattr(saml2.response, status)("Unsuccessful operation from x")
        except saml2.response.StatusError as cause:
            raise SATOSAAuthenticationError(State(), "Failed to parse") from cause
    except SATOSAAuthenticationError as error:
        assert upstream_reason(error) == expected
    cancel = saml2.response.StatusError(
        "Unsuccessful\nfrom http://id.elegnamnden.se/status/1.0/cancel"
    )
    assert upstream_reason(cancel) == "cancelled"
    assert upstream_reason(ValueError("bad signature")) is None
