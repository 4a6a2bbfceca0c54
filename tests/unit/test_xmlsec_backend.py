"""The crypto backends (in-process python-xmlsec and the xmlsec1 fallback) refuse the same bad
messages: every test runs against both, with a real pysaml2 SP and IdP on either side.

Where a test builds a bad message, a positive control shows that the message is well made and
only the policy refuses it: pysaml2's stock xmlsec1 backend accepts it.
"""

from __future__ import annotations

import copy
import re

import pytest
from helpers import saml_peers
from helpers.saml_peers import STOCK, answer, consume, request
from lxml import etree
from saml2.response import IncorrectlySigned
from saml2.samlp import Response
from saml2.sigver import (
    CryptoBackendXmlSec1,
    DecryptError,
    SignatureError,
    get_xmlsec_binary,
    pre_encryption_part,
)
from saml2.xmldsig import DIGEST_SHA1, SIG_RSA_SHA1
from satosa.state import State

from satosa_efos.backends.organisation_idp import require_assertion
from satosa_efos.failures import LoginFailed, Reason
from satosa_efos.keys import ensure_keypair
from satosa_efos.xmlsec import policy
from satosa_efos.xmlsec.backend import (
    ENVIRONMENT,
    CryptoSettings,
    install,
    make_backend,
)
from satosa_efos.xmlsec.inprocess import InProcessBackend
from satosa_efos.xmlsec.xmlsec1 import Xmlsec1Backend

BACKENDS = ("inprocess", "xmlsec1")
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
DS = policy.DS
ASSERTION, RESPONSE = f"{SAML}:Assertion", f"{SAMLP}:Response"


@pytest.fixture(autouse=True)
def no_override(monkeypatch):
    monkeypatch.delenv(ENVIRONMENT, raising=False)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return saml_peers.make_files(tmp_path_factory.mktemp("peers"))


@pytest.fixture(scope="module")
def attacker(files):
    return ensure_keypair(files.directory / "keys", "attacker", "attacker")


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


@pytest.fixture
def crypto(backend):
    return make_backend(CryptoSettings(backend))


@pytest.fixture
def sp(files, backend):
    return saml_peers.make_sp(files, [files.idp_metadata], backend)


@pytest.fixture
def idp(files, backend):
    return saml_peers.make_idp(files, [files.sp_metadata], backend)


@pytest.fixture(scope="module")
def stock_idp(files):
    return saml_peers.make_idp(files, [files.sp_metadata], STOCK)


@pytest.fixture(scope="module")
def stock_sp(files):
    return saml_peers.make_sp(files, [files.idp_metadata], STOCK)


@pytest.fixture(scope="module")
def stock_crypto():
    return CryptoBackendXmlSec1(get_xmlsec_binary())


def sso_url(files) -> str:
    return f"{files.idp_url}/idp/sso/post"


def response_from(sp, idp, files, **kwargs) -> tuple[str, str]:
    request_id, request_xml = request(sp, sso_url(files))
    return request_id, answer(idp, request_xml, **kwargs)


def algorithms(xml: str, tag: str) -> set[str]:
    root = etree.fromstring(xml.encode())
    return {e.get("Algorithm") for e in root.iter(tag)}


def assertion_of(root: etree._Element) -> etree._Element:
    return root.find(f"{{{SAML}}}Assertion")


def refuses(call, *args) -> str:
    """The refusal's code (SignatureError / DecryptError, as pysaml2 expects)."""
    with pytest.raises((SignatureError, DecryptError)) as caught:
        call(*args)
    return getattr(caught.value, "code", type(caught.value).__name__)


# -- the round trip ------------------------------------------------------------------------


def test_signed_and_encrypted_login_round_trip(sp, idp, files):
    request_id, xml = response_from(sp, idp, files)

    result = consume(sp, xml, request_id)

    assert result.ava["givenName"] == ["Eva"]
    assert result.assertion.subject.name_id.text == "eva-persistent-id"
    assert algorithms(xml, f"{{{DS}}}SignatureMethod") == {policy.RSA_SHA256}
    assert algorithms(xml, f"{{{DS}}}DigestMethod") == {policy.SHA256}
    # pysaml2's template asks for 3DES; the backends use the policy's AES-GCM and RSA-OAEP.
    assert algorithms(xml, f"{{{policy.XENC}}}EncryptionMethod") == {
        policy.AES256_GCM,
        policy.RSA_OAEP_MGF1P,
    }


def test_stock_pysaml2_sp_accepts_what_the_backend_produces(idp, stock_sp, files):
    request_id, xml = response_from(stock_sp, idp, files)
    assert consume(stock_sp, xml, request_id).ava["mail"] == ["eva.sjoberg@goteborg.se"]


def test_accepts_aes_cbc_encryption_from_another_idp(crypto, files, stock_crypto, sp, stock_idp):
    """IdPs that encrypt with AES-CBC and RSA-OAEP (ADFS's default) are understood."""
    _, xml = response_from(sp, stock_idp, files, encrypt=False, sign_response=False)
    template = pre_encryption_part(msg_enc=policy.AES128_CBC)
    encrypted = stock_crypto.encrypt_assertion(
        _moved_into_encrypted_assertion(xml), str(files.sp_cert), template, key_type="aes-128"
    )
    decrypted = crypto.decrypt(encrypted, str(files.sp_key))
    assert b"Eva" in etree.tostring(assertion_of(etree.fromstring(decrypted.encode())[-1]))


def _moved_into_encrypted_assertion(xml: str) -> str:
    from saml2.samlp import response_from_string
    from saml2.sigver import pre_encrypt_assertion

    return str(pre_encrypt_assertion(response_from_string(xml)))


# -- signatures ----------------------------------------------------------------------------


def test_refuses_tampered_assertion(sp, idp, files, crypto):
    request_id, xml = response_from(sp, idp, files, encrypt=False)
    root = etree.fromstring(xml.encode())
    value = next(v for v in root.iter(f"{{{SAML}}}AttributeValue") if v.text == "Eva")
    value.text = "Mallory"
    tampered = etree.tostring(root).decode()

    with pytest.raises(Exception, match="(?i)signature"):
        consume(sp, tampered, request_id)
    assertion_id = assertion_of(root).get("ID")
    assert refuses(crypto.validate_signature, tampered, str(files.idp_cert), "pem", ASSERTION,
                   assertion_id) == "bad_signature"  # fmt: skip


def test_refuses_tampered_authn_request(sp, idp, files):
    _, request_xml = request(sp, sso_url(files))
    tampered = request_xml.replace(
        'AssertionConsumerServiceURL="', 'AssertionConsumerServiceURL="x'
    )
    with pytest.raises(IncorrectlySigned):
        answer(idp, tampered)


def test_refuses_signature_by_another_certificate(sp, idp, files, crypto):
    _, xml = response_from(sp, idp, files, encrypt=False)
    response_id = etree.fromstring(xml.encode()).get("ID")
    assert crypto.validate_signature(xml, str(files.idp_cert), "pem", RESPONSE, response_id)
    assert refuses(crypto.validate_signature, xml, str(files.sp_cert), "pem", RESPONSE,
                   response_id) == "bad_signature"  # fmt: skip


def _signed_assertion_response(sp, idp, files) -> tuple[str, etree._Element]:
    """A Response whose assertion only is signed (the SP is told not to want more)."""
    sp.want_response_signed = False
    request_id, xml = response_from(sp, idp, files, encrypt=False, sign_response=False)
    return request_id, etree.fromstring(xml.encode())


def _evil_copy(assertion: etree._Element, new_id: str | None = None) -> etree._Element:
    evil = copy.deepcopy(assertion)
    value = next(v for v in evil.iter(f"{{{SAML}}}AttributeValue") if v.text == "Eva")
    value.text = "Mallory"
    if new_id:
        evil.set("ID", new_id)
    return evil


def test_refuses_wrapping_with_the_signed_assertion_moved_away(sp, idp, files, crypto):
    """XSW: the used assertion is a forgery carrying the original's ID and signature; the
    signed original hides in the Response's Extensions, where a resolver may find "its" ID."""
    request_id, root = _signed_assertion_response(sp, idp, files)
    original = assertion_of(root)
    evil = _evil_copy(original)
    extensions = etree.Element(f"{{{SAMLP}}}Extensions")
    extensions.append(copy.deepcopy(original))
    root.insert(1, extensions)  # after Issuer
    root.replace(original, evil)
    wrapped = etree.tostring(root).decode()

    with pytest.raises(Exception):  # noqa: B017 - pysaml2 raises various types for refusals
        consume(sp, wrapped, request_id)
    assert refuses(crypto.validate_signature, wrapped, str(files.idp_cert), "pem", ASSERTION,
                   original.get("ID")) == "ambiguous_id"  # fmt: skip


def test_refuses_signature_that_covers_another_element(sp, idp, files, crypto):
    """XSW: the forgery has its own ID and the original's signature, the original inside
    that signature's ds:Object: the reference does not name the element used."""
    _, root = _signed_assertion_response(sp, idp, files)
    original = assertion_of(root)
    evil = _evil_copy(original, new_id="_evil")
    signature = evil.find(f"{{{DS}}}Signature")
    hidden = etree.SubElement(signature, f"{{{DS}}}Object")
    hidden.append(copy.deepcopy(original))
    root.replace(original, evil)
    wrapped = etree.tostring(root).decode()

    code = refuses(crypto.validate_signature, wrapped, str(files.idp_cert), "pem", ASSERTION,
                   "_evil")  # fmt: skip
    assert code in ("object", "reference")


def test_refuses_a_second_unsigned_assertion(sp, idp, files, crypto):
    request_id, root = _signed_assertion_response(sp, idp, files)
    original = assertion_of(root)
    evil = _evil_copy(original, new_id="_unsigned")
    evil.remove(evil.find(f"{{{DS}}}Signature"))
    original.addprevious(evil)
    doubled = etree.tostring(root).decode()

    with pytest.raises(Exception):  # noqa: B017
        consume(sp, doubled, request_id)
    assert refuses(crypto.validate_signature, doubled, str(files.idp_cert), "pem", ASSERTION,
                   "_unsigned") == "signature_count"  # fmt: skip


def test_ignores_the_key_a_message_brings_in_its_keyinfo(sp, files, attacker, crypto):
    """Signed by an attacker claiming the IdP's entityID, the attacker's certificate in KeyInfo:
    only the key from metadata counts."""
    key, cert = attacker
    forger = saml_peers.make_idp(files, [files.sp_metadata], STOCK, key=key, cert=cert)
    request_id, xml = response_from(sp, forger, files, encrypt=False)
    response_id = etree.fromstring(xml.encode()).get("ID")

    with pytest.raises(SignatureError):
        consume(sp, xml, request_id)
    assert refuses(crypto.validate_signature, xml, str(files.idp_cert), "pem", RESPONSE,
                   response_id) == "bad_signature"  # fmt: skip
    assert crypto.validate_signature(xml, str(cert), "pem", RESPONSE, response_id)  # control


def test_refuses_sha1_signature(sp, files, crypto, stock_idp, stock_crypto):
    request_id, xml = response_from(
        sp, stock_idp, files, encrypt=False, sign_alg=SIG_RSA_SHA1, digest_alg=DIGEST_SHA1
    )
    response_id = etree.fromstring(xml.encode()).get("ID")
    args = (xml, str(files.idp_cert), "pem", RESPONSE, response_id)
    assert stock_crypto.validate_signature(*args)  # control: a good SHA-1 signature

    with pytest.raises(SignatureError):
        consume(sp, xml, request_id)
    assert refuses(crypto.validate_signature, *args) == "signature_algorithm"


def test_refuses_to_sign_with_sha1(sp, idp, files):
    with pytest.raises(SignatureError, match="signature_algorithm"):
        response_from(sp, idp, files, sign_alg=SIG_RSA_SHA1, digest_alg=DIGEST_SHA1)


# -- encryption ----------------------------------------------------------------------------


def test_encrypt_and_decrypt_round_trip(crypto, files):
    response = Response(id="_r", version="2.0", issue_instant="2025-01-01T00:00:00Z")
    response.assertion = _plain_assertion()
    encrypted = crypto.encrypt_assertion(
        response, str(files.sp_cert), pre_encryption_part(), key_type="des-192"
    )
    assert "tripledes" not in encrypted and "Eva" not in encrypted

    decrypted = etree.fromstring(crypto.decrypt(encrypted, str(files.sp_key)).encode())
    assert decrypted.find(f".//{{{SAML}}}AttributeValue").text == "Eva"
    assert refuses(crypto.decrypt, encrypted, str(files.idp_key)) == "no_session_key"


@pytest.mark.parametrize(
    ("asked", "used"),
    [
        (policy.AES128_CBC, policy.AES128_CBC),  # the application's metadata asked for it
        (policy.AES256_CBC, policy.AES256_CBC),
        (policy.TRIPLEDES_CBC, policy.AES256_GCM),  # never: the policy's own instead
    ],
)
def test_encrypts_with_the_asked_algorithm_only_when_the_policy_allows_it(
    crypto, files, asked, used
):
    response = Response(id="_r", version="2.0", issue_instant="2025-01-01T00:00:00Z")
    response.assertion = _plain_assertion()
    encrypted = crypto.encrypt_assertion(
        response, str(files.sp_cert), pre_encryption_part(msg_enc=asked), key_type="aes-128"
    )
    methods = re.findall(r'EncryptionMethod Algorithm="([^"]+)"', encrypted)
    assert methods[0] == used and policy.TRIPLEDES_CBC not in methods
    decrypted = etree.fromstring(crypto.decrypt(encrypted, str(files.sp_key)).encode())
    assert decrypted.find(f".//{{{SAML}}}AttributeValue").text == "Eva"


def _plain_assertion():
    from saml2.saml import Assertion, Attribute, AttributeStatement, AttributeValue, Issuer

    return Assertion(
        id="_a",
        version="2.0",
        issue_instant="2025-01-01T00:00:00Z",
        issuer=Issuer(text="idp"),
        attribute_statement=[
            AttributeStatement(
                attribute=[
                    Attribute(name="givenName", attribute_value=[AttributeValue(text="Eva")])
                ]
            )
        ],
    )


def test_refuses_3des_encrypted_assertion(sp, files, crypto, stock_idp, stock_sp):
    request_id, xml = response_from(sp, stock_idp, files)  # pysaml2's default: 3DES
    assert policy.TRIPLEDES_CBC in algorithms(xml, f"{{{policy.XENC}}}EncryptionMethod")
    assert consume(stock_sp, xml, request_id).ava["givenName"] == ["Eva"]  # control

    # pysaml2 swallows the refusal and hands over a Response without any assertion.
    result = consume(sp, xml, request_id)
    assert result.assertion is None and not result.ava
    assert refuses(crypto.decrypt, xml, str(files.sp_key)) == "data_algorithm"
    # ... which the organisation IdP backend turns into a failed login (AuthnFailed to the
    # application), not an internal error.
    with pytest.raises(LoginFailed) as failed:
        require_assertion(result, State())
    assert failed.value.reason is Reason.FAILED


def test_refuses_rsa_1_5_key_transport(files, crypto, stock_crypto):
    response = Response(id="_r", version="2.0", issue_instant="2025-01-01T00:00:00Z")
    response.assertion = _plain_assertion()
    template = pre_encryption_part(msg_enc=policy.AES128_CBC, key_enc=policy.RSA_1_5)
    encrypted = stock_crypto.encrypt_assertion(
        response, str(files.sp_cert), template, key_type="aes-128"
    )
    assert "Eva" in stock_crypto.decrypt(encrypted, str(files.sp_key))  # control

    assert refuses(crypto.decrypt, encrypted, str(files.sp_key)) == "key_transport"


# -- parsing -------------------------------------------------------------------------------

DTD = '<!DOCTYPE r [<!ENTITY name "Mallory">]>\n'


def test_refuses_documents_with_dtd_or_entities(sp, idp, files, crypto):
    _, xml = response_from(sp, idp, files)
    response_id = etree.fromstring(xml.encode()).get("ID")
    with_dtd = DTD + xml

    assert refuses(crypto.validate_signature, with_dtd, str(files.idp_cert), "pem", RESPONSE,
                   response_id) == "dtd"  # fmt: skip
    assert refuses(crypto.decrypt, with_dtd, str(files.sp_key)) == "dtd"
    with pytest.raises(SignatureError):
        crypto.sign_statement(DTD + "<r/>", RESPONSE, str(files.idp_key), "_r")


# -- selecting the backend -----------------------------------------------------------------


def test_install_selects_configured_backend_and_metadata_keys_only(files):
    server = saml_peers.make_idp(files, [files.sp_metadata], STOCK)
    server.sec.only_use_keys_in_metadata = False  # pysaml2's default

    install(server, CryptoSettings("inprocess"))
    assert isinstance(server.sec.crypto, InProcessBackend)
    assert server.sec.only_use_keys_in_metadata

    install(server, CryptoSettings("xmlsec1"))
    assert isinstance(server.sec.crypto, Xmlsec1Backend)


def test_environment_overrides_configured_backend(files, monkeypatch):
    monkeypatch.setenv(ENVIRONMENT, "xmlsec1")
    server = saml_peers.make_idp(files, [files.sp_metadata], "inprocess")
    assert isinstance(server.sec.crypto, Xmlsec1Backend)
    monkeypatch.setenv(ENVIRONMENT, "fast")
    with pytest.raises(ValueError, match=ENVIRONMENT):
        install(server, CryptoSettings())


def test_settings_leave_the_plugin_config_without_their_keys():
    config = {"crypto_backend": "xmlsec1", "crypto_algorithms": {"digest": [policy.SHA512]},
              "idp_config": {}}  # fmt: skip
    settings = CryptoSettings.from_config(config)
    assert config == {"idp_config": {}}
    assert settings.backend == "xmlsec1"
    assert settings.policy.digest_algorithms == {policy.SHA512}
    assert CryptoSettings.from_config({}).backend == "inprocess"


@pytest.mark.parametrize(
    "config",
    [
        {"crypto_backend": "XMLSecurity"},
        {"crypto_algorithms": {"digest": [policy.SHA1]}},
        {"crypto_algorithms": {"signature": [SIG_RSA_SHA1]}},
        {"crypto_algorithms": {"data_encryption": policy.TRIPLEDES_CBC}},
        {"crypto_algorithms": {"key_size": 2048}},
    ],
)
def test_refuses_unknown_backends_and_broken_algorithms(config):
    with pytest.raises(ValueError):
        CryptoSettings.from_config(config)
