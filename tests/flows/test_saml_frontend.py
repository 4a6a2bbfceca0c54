"""The SAML IdP frontend over real HTTP, one rule at a time (docs/saml.md; issue 6).

Two test applications are registered beside the demo one, each with metadata written for the
rule at hand; their requests are built by pysaml2's own client (with their keys), and the
answers are read where the application reads them (a transport adapter stands in for their
AssertionConsumerService) and decrypted with the application's key:

- ``eid-app``: Swedish eID names and LoA URIs, an encryption key declaring AES-GCM, two ACSs,
  unsigned requests allowed;
- ``sambi-app``: Sambi names, ``require_signed_requests``, no encryption key (signed only), an
  AttributeConsumingService that requests part of what it is listed to get.

Each rule has a conforming and a violating message; "the Swedish eID profile" below is the
Deployment Profile for the Swedish eID Framework (docs/saml.md gives the sections).
"""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
import time
import zlib
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from helpers.browser import Browser, choose_commission
from helpers.saml_sp import SAMBI_GIVEN_NAME, Acs, sp_client, write_sp_metadata
from helpers.stack import start_stack
from lxml import etree
from requests.adapters import HTTPAdapter
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.saml import AuthnContextClassRef
from saml2.samlp import RequestedAuthnContext
from saml2.xmldsig import DIGEST_SHA1, DIGEST_SHA256, SIG_RSA_SHA1, SIG_RSA_SHA256

from satosa_efos.keys import ensure_keypair
from satosa_efos.processes import Server, free_port, gunicorn_argv, stop_all
from satosa_efos.xmlsec import policy as algorithms

pytestmark = pytest.mark.flow

REPO = Path(__file__).resolve().parents[2]
SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
XENC = "http://www.w3.org/2001/04/xmlenc#"
DS = "http://www.w3.org/2000/09/xmldsig#"
STATUS = "urn:oasis:names:tc:SAML:2.0:status:"
PERSISTENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
TRANSIENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
EID2 = "http://id.elegnamnden.se/loa/1.0/loa2"
EID3 = "http://id.elegnamnden.se/loa/1.0/loa3"
EID4 = "http://id.elegnamnden.se/loa/1.0/loa4"
SAMBI3 = "http://id.sambi.se/loa/loa3"
EID_SP, EID_ACS, EID_ACS2 = (
    "https://eid-app.test/sp",
    "https://eid-app.test/acs",
    "https://eid-app.test/acs2",
)
SAMBI_SP, SAMBI_ACS = "https://sambi-app.test/sp", "https://sambi-app.test/acs"
EVA_PNR, EVA_HSA = "191212121212", "SE2120001355-E000000000101"

APPLICATIONS = """
  - id: eid-app
    name: E-legitimationsappen (test)
    protocol: saml
    entity_id: {eid_sp}
    metadata: {eid_metadata}
    allowed_organisations: all
    required_loa: loa3
    loa_profile: swedish_eid
    attribute_profile: swedish_eid
    released_attributes: [givenName, surname, personalIdentityNumber, employeeHsaId,
                          levelOfAssurance]
  - id: sambi-app
    name: Sambiappen (test)
    protocol: saml
    entity_id: {sambi_sp}
    metadata: {sambi_metadata}
    allowed_organisations: all
    required_loa: loa3
    require_signed_requests: true
    released_attributes: [givenName, mail, employeeHsaId, commissionRight]
    hsa: {{commission: one, not_found: continue, unavailable: refuse}}
"""


class ApplicationAcs(HTTPAdapter):
    """Stands in for the test applications' AssertionConsumerService: accepts every POST."""

    def send(self, request, **kwargs):
        response = requests.Response()
        response.status_code, response.url = 200, request.url
        response._content = b"<html><body>received</body></html>"
        response.headers["Content-Type"] = "text/html"
        response.request = request
        return response


class Frontend:
    """The running stack, the test applications' clients and keys, and how to log in."""

    def __init__(self, stack, tmp: Path, keys: dict[str, tuple[Path, Path]]):
        self.stack, self.tmp, self.keys = stack, tmp, keys
        idp = [stack.demo_dir / "metadata" / "proxy" / "idp.xml"]
        self.eid = sp_client(EID_SP, EID_ACS, *keys["eid"], idp)
        self.sambi = sp_client(SAMBI_SP, SAMBI_ACS, *keys["sambi"], idp)
        self.demo = sp_client(
            f"{stack.urls.app}/sp", f"{stack.urls.app}/sp/acs", *keys["demo"], idp
        )

    def sso(self, binding: str = "redirect") -> str:
        return f"{self.stack.urls.proxy}/orgidp/sso/{binding}"

    def browser(self) -> Browser:
        browser = Browser()
        for app in ("https://eid-app.test/", "https://sambi-app.test/"):
            browser.session.mount(app, ApplicationAcs())
        return browser

    def send(
        self,
        client,
        *,
        binding: str = "redirect",
        sign: bool = False,
        sigalg: str = SIG_RSA_SHA256,
        digest: str = DIGEST_SHA256,
        org: str | None = "goteborg",
        destination: str | None = None,
        browser: Browser | None = None,
        **kwargs,
    ):
        """Send an AuthnRequest (pysaml2's client); (request id, browser, first response)."""
        browser = browser or self.browser()
        sso = self.sso(binding)
        embedded = sign and binding == "post"
        request_id, request = client.create_authn_request(
            destination or sso, sign=embedded, sign_alg=sigalg, digest_alg=digest, **kwargs
        )
        query = f"?{urlencode({'org': org})}" if org else ""
        if binding == "redirect":
            info = client.apply_binding(
                BINDING_HTTP_REDIRECT,
                str(request),
                sso,
                relay_state="/rs",
                sign=sign,
                sigalg=sigalg,
            )
            location = dict(info["headers"])["Location"]
            page = browser.get(location + (f"&{query[1:]}" if query else ""))
        else:
            encoded = base64.b64encode(str(request).encode()).decode()
            page = browser.session.post(
                sso + query, data={"SAMLRequest": encoded, "RelayState": "/rs"}, timeout=15
            )
        return request_id, browser, page

    def log_in(self, client, username: str = "eva", **kwargs):
        """The whole login at the Göteborg demo IdP; (request id, browser, answer)."""
        request_id, browser, page = self.send(client, **kwargs)
        page = browser.choose_method(page)
        assert page.url.startswith(self.stack.urls.idps["goteborg"]), page.text[:400]
        choose_commission(browser, browser.submit(page, username=username, password="demo"))
        return request_id, browser, answer(browser)


def answer(browser: Browser) -> dict[str, str]:
    """What the application's ACS received (SAMLResponse and RelayState)."""
    posted = browser.last_post_with("SAMLResponse")
    return {"url": posted.url, **posted.data}


def refused_with_answer(page: requests.Response, browser: Browser) -> dict[str, str]:
    """An error Response straight from the proxy's first page (no login took place)."""
    assert page.status_code == 200 and 'name="SAMLResponse"' in page.text, page.text[:400]
    browser.follow(page)
    return answer(browser)


def xml(posted: dict[str, str]) -> etree._Element:
    return etree.fromstring(base64.b64decode(posted["SAMLResponse"]))


def status(posted: dict[str, str]) -> list[str]:
    return [code.get("Value") for code in xml(posted).iter(f"{{{SAMLP}}}StatusCode")]


def decrypted(posted: dict[str, str], key: Path, tmp_path: Path) -> etree._Element:
    """The assertion as the application sees it: decrypted with its key if encrypted."""
    root = xml(posted)
    if root.find(f"{{{SAML}}}EncryptedAssertion") is None:
        return root.find(f"{{{SAML}}}Assertion")
    path = tmp_path / "encrypted.xml"
    path.write_bytes(etree.tostring(root))
    output = subprocess.run(
        ["xmlsec1", "--decrypt", "--privkey-pem", str(key), str(path)],
        check=True,
        capture_output=True,
    ).stdout
    return etree.fromstring(output).find(f".//{{{SAML}}}Assertion")


def attributes(assertion: etree._Element) -> dict[str, dict]:
    found = {}
    for attribute in assertion.iter(f"{{{SAML}}}Attribute"):
        found[attribute.get("Name")] = {
            "friendly": attribute.get("FriendlyName"),
            "format": attribute.get("NameFormat"),
            "values": [v.text for v in attribute.findall(f"{{{SAML}}}AttributeValue")],
        }
    return found


def loa(*uris: str, comparison: str = "exact") -> RequestedAuthnContext:
    return RequestedAuthnContext(
        authn_context_class_ref=[AuthnContextClassRef(text=uri) for uri in uris],
        comparison=comparison,
    )


def refusal_page(page: requests.Response, browser: Browser, code_text: str) -> None:
    """A refusal page with an error id, and nothing sent to any application."""
    assert page.status_code == 400, page.status_code
    assert code_text in page.text and re.search(r'class="errorid">[0-9a-f]{12}<', page.text)
    assert 'name="SAMLResponse"' not in page.text
    assert not any("SAMLResponse" in p.data for p in browser.posted)


@pytest.fixture(scope="module")
def frontend(tmp_path_factory) -> Frontend:
    tmp = tmp_path_factory.mktemp("saml-frontend")
    shutil.copytree(
        REPO / "conf", tmp / "conf", symlinks=True, ignore=shutil.ignore_patterns("keys")
    )
    conf = tmp / "conf" / "demo"
    keys = {name: ensure_keypair(tmp / "apps", name, name) for name in ("eid", "sambi")}
    eid_metadata = write_sp_metadata(
        tmp / "apps" / "eid.xml",
        EID_SP,
        [Acs(EID_ACS, 1, is_default=True), Acs(EID_ACS2, 2)],
        keys["eid"][1],
        encryption_cert=keys["eid"][1],
        encryption_methods=[algorithms.AES128_GCM],
    )
    sambi_metadata = write_sp_metadata(
        tmp / "apps" / "sambi.xml",
        SAMBI_SP,
        [Acs(SAMBI_ACS, 1)],
        keys["sambi"][1],
        requested_attributes=[
            SAMBI_GIVEN_NAME,
            "http://sambi.se/attributes/1/surname",
            "urn:oid:0.9.2342.19200300.100.1.3",
            "http://sambi.se/attributes/1/commissionRight",
        ],
    )
    applications = conf / "applications.yaml"
    applications.write_text(
        applications.read_text()
        + APPLICATIONS.format(
            eid_sp=EID_SP,
            eid_metadata=eid_metadata,
            sambi_sp=SAMBI_SP,
            sambi_metadata=sambi_metadata,
        )
    )
    stack = start_stack(tmp, workers=2, conf_dir=conf)
    keys["demo"] = (
        stack.demo_dir / "keys" / "demo-app.key",
        stack.demo_dir / "keys" / "demo-app.crt",
    )
    yield Frontend(stack, tmp, keys)
    stop_all(stack.servers)


# -- bindings, Destination, ACS (Swedish eID profile §5.2, §5.3, §5.4.1, §5.4.2) -------------------


@pytest.mark.parametrize("binding", ["redirect", "post"])
def test_both_bindings_log_in_and_answer_at_the_requested_acs(frontend, binding):
    request_id, _, posted = frontend.log_in(frontend.eid, binding=binding)
    assert posted["url"] == EID_ACS and posted["RelayState"] == "/rs"
    assert status(posted) == [f"{STATUS}Success"]
    assert xml(posted).get("InResponseTo") == request_id
    assert xml(posted).get("Destination") == EID_ACS


@pytest.mark.parametrize("binding", ["redirect", "post"])
def test_wrong_destination_is_refused_with_a_page(frontend, binding):
    other = frontend.sso("post" if binding == "redirect" else "redirect")
    _, browser, page = frontend.send(frontend.eid, binding=binding, destination=other)
    refusal_page(page, browser, "Fel mottagare")


def test_missing_destination_is_refused_with_a_page(frontend):
    """§5.4.1: "MUST verify that the Destination attribute is present" (signed or not)."""
    request_id, request = frontend.eid.create_authn_request(frontend.sso("post"))
    request.destination = None
    browser = frontend.browser()
    page = browser.session.post(
        frontend.sso("post") + "?org=goteborg",
        data={"SAMLRequest": base64.b64encode(str(request).encode()).decode()},
        timeout=15,
    )
    refusal_page(page, browser, "Fel mottagare")


def test_acs_url_not_in_metadata_is_refused_with_a_page(frontend):
    _, browser, page = frontend.send(
        frontend.eid, assertion_consumer_service_url="https://eid-app.test/acs/../evil"
    )
    refusal_page(page, browser, "Felaktig återadress")
    _, browser, page = frontend.send(
        frontend.eid, assertion_consumer_service_url="https://evil.test/acs"
    )
    refusal_page(page, browser, "Felaktig återadress")


def test_acs_index_must_be_in_metadata(frontend):
    _, _, posted = frontend.log_in(frontend.eid, assertion_consumer_service_index="2")
    assert posted["url"] == EID_ACS2 and status(posted) == [f"{STATUS}Success"]
    _, browser, page = frontend.send(frontend.eid, assertion_consumer_service_index="7")
    refusal_page(page, browser, "Felaktig återadress")


def test_unregistered_application_gets_a_page(frontend, tmp_path):
    key, cert = ensure_keypair(tmp_path, "stranger", "stranger")
    stranger = sp_client(
        "https://stranger.test/sp",
        "https://stranger.test/acs",
        key,
        cert,
        [frontend.stack.demo_dir / "metadata" / "proxy" / "idp.xml"],
    )
    _, _, page = frontend.send(stranger)
    assert page.status_code == 403 and "Okänd tjänst" in page.text


# -- signed requests (§5.2, §8.2; SAML errata E7) --------------------------------------------------


@pytest.mark.parametrize("binding", ["redirect", "post"])
def test_unsigned_request_is_refused_when_signing_is_required(frontend, binding):
    # sambi-app: require_signed_requests; the demo app: AuthnRequestsSigned in its metadata.
    for client, acs in (
        (frontend.sambi, SAMBI_ACS),
        (frontend.demo, f"{frontend.stack.urls.app}/sp/acs"),
    ):
        _, browser, page = frontend.send(client, binding=binding, sign=False)
        posted = refused_with_answer(page, browser)
        assert posted["url"] == acs
        assert status(posted) == [f"{STATUS}Requester", f"{STATUS}RequestDenied"]
        assert xml(posted).find(f".//{{{SAML}}}Assertion") is None
    _, _, posted = frontend.log_in(frontend.sambi, binding=binding, sign=True)
    assert status(posted) == [f"{STATUS}Success"]


@pytest.mark.parametrize("binding", ["redirect", "post"])
def test_sha1_signed_request_is_refused(frontend, binding):
    _, browser, page = frontend.send(
        frontend.sambi, binding=binding, sign=True, sigalg=SIG_RSA_SHA1, digest=DIGEST_SHA1
    )
    posted = refused_with_answer(page, browser)
    assert status(posted) == [f"{STATUS}Requester", f"{STATUS}RequestDenied"]
    # The same signed with RSA-SHA256 from an application that signs although it need not.
    _, _, posted = frontend.log_in(frontend.eid, binding=binding, sign=True)
    assert status(posted) == [f"{STATUS}Success"]


@pytest.mark.parametrize("binding", ["redirect", "post"])
def test_request_signed_with_another_key_is_refused(frontend, binding, tmp_path):
    """An attacker's key, its certificate in the signature's own KeyInfo: never trusted."""
    key, cert = ensure_keypair(tmp_path, "attacker", "attacker")
    forger = sp_client(
        SAMBI_SP, SAMBI_ACS, key, cert, [frontend.stack.demo_dir / "metadata" / "proxy" / "idp.xml"]
    )
    _, browser, page = frontend.send(forger, binding=binding, sign=True)
    posted = refused_with_answer(page, browser)
    assert status(posted) == [f"{STATUS}Requester", f"{STATUS}RequestDenied"]


def test_stale_request_is_refused(frontend):
    _, request = frontend.eid.create_authn_request(frontend.sso("post"))
    request.issue_instant = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3600))
    browser = frontend.browser()
    page = browser.session.post(
        frontend.sso("post"),
        data={"SAMLRequest": base64.b64encode(str(request).encode()).decode()},
        timeout=15,
    )
    assert status(refused_with_answer(page, browser)) == [
        f"{STATUS}Requester",
        f"{STATUS}RequestDenied",
    ]


# -- levels of assurance (DOMAIN.md §5; §5.3.1, §5.4.4) --------------------------------------------


def upstream_request(browser: Browser, idp_url: str) -> etree._Element:
    """The AuthnRequest the proxy sent the organisation IdP (HTTP-Redirect)."""
    location = next(url for url in browser.redirects if url.startswith(idp_url))
    encoded = parse_qs(urlsplit(location).query)["SAMLRequest"][0]
    return etree.fromstring(zlib.decompress(base64.b64decode(encoded), -15))


def upstream_class_refs(upstream: etree._Element) -> tuple[str | None, list[str]]:
    requested = upstream.find(f"{{{SAMLP}}}RequestedAuthnContext")
    if requested is None:
        return None, []
    return requested.get("Comparison"), [
        ref.text for ref in requested.findall(f"{{{SAML}}}AuthnContextClassRef")
    ]


def test_comparison_other_than_exact_is_request_unsupported(frontend):
    _, browser, page = frontend.send(
        frontend.eid, requested_authn_context=loa(EID3, comparison="minimum")
    )
    posted = refused_with_answer(page, browser)
    assert status(posted) == [f"{STATUS}Requester", f"{STATUS}RequestUnsupported"]


def test_unknown_loa_uri_is_no_authn_context(frontend):
    _, browser, page = frontend.send(
        frontend.eid, requested_authn_context=loa("urn:example:loa:high")
    )
    posted = refused_with_answer(page, browser)
    assert status(posted) == [f"{STATUS}Requester", f"{STATUS}NoAuthnContext"]


def test_required_loa_is_asked_upstream_and_answered_in_the_applications_profile(
    frontend, tmp_path
):
    """No RequestedAuthnContext: required_loa (loa3) applies, exactly, in each party's URIs."""
    _, browser, posted = frontend.log_in(frontend.eid)
    upstream = upstream_request(browser, frontend.stack.urls.idps["goteborg"])
    assert upstream_class_refs(upstream) == ("exact", [EID3])  # the demo IdPs: swedish_eid
    assertion = decrypted(posted, frontend.keys["eid"][0], tmp_path)
    assert assertion.findtext(f".//{{{SAML}}}AuthnContextClassRef") == EID3
    assert attributes(assertion)["urn:sambi:names:attribute:levelOfAssurance"]["values"] == [EID3]


def test_requested_loa_is_carried_upstream_and_answered_exactly(frontend, tmp_path):
    _, browser, posted = frontend.log_in(frontend.eid, requested_authn_context=loa(EID2))
    upstream = upstream_request(browser, frontend.stack.urls.idps["goteborg"])
    assert upstream_class_refs(upstream) == ("exact", [EID2])
    assertion = decrypted(posted, frontend.keys["eid"][0], tmp_path)
    assert assertion.findtext(f".//{{{SAML}}}AuthnContextClassRef") == EID2


def test_weaker_loa_from_the_organisation_idp_is_no_authn_context(frontend):
    """Asked for loa4 only, the demo IdP answers loa3 anyway: the application gets an error
    Response, never the weaker login (the Efos adapter's variant: test_efos_saml_adapter.py)."""
    _, browser, posted = frontend.log_in(frontend.eid, requested_authn_context=loa(EID4))
    upstream = upstream_request(browser, frontend.stack.urls.idps["goteborg"])
    assert upstream_class_refs(upstream) == ("exact", [EID4])
    assert status(posted) == [f"{STATUS}Requester", f"{STATUS}NoAuthnContext"]
    assert xml(posted).find(f".//{{{SAML}}}EncryptedAssertion") is None


# -- IsPassive and ForceAuthn (§5.3) ---------------------------------------------------------------


def test_is_passive_without_a_decision_is_no_passive_not_a_page(frontend):
    _, browser, page = frontend.send(frontend.eid, org=None, is_passive="true")
    assert 'name="org"' not in page.text  # no organisation picker
    posted = refused_with_answer(page, browser)
    assert status(posted) == [f"{STATUS}Responder", f"{STATUS}NoPassive"]
    _, browser, page = frontend.send(frontend.eid, org=None)  # the same without IsPassive
    assert 'name="org"' in page.text or 'name="email"' in page.text


def test_is_passive_goes_upstream_and_its_no_passive_comes_back(frontend):
    _, browser, page = frontend.send(frontend.eid, is_passive="true")
    page = browser.follow(browser.choose_method(page))
    upstream = upstream_request(browser, frontend.stack.urls.idps["goteborg"])
    assert upstream.get("IsPassive") == "true"
    posted = answer(browser)
    assert posted["url"] == EID_ACS
    assert status(posted) == [f"{STATUS}Responder", f"{STATUS}NoPassive"]


def test_force_authn_is_passed_upstream(frontend):
    _, browser, _ = frontend.log_in(frontend.eid, force_authn="true")
    idp = frontend.stack.urls.idps["goteborg"]
    assert upstream_request(browser, idp).get("ForceAuthn") == "true"
    _, browser, _ = frontend.log_in(frontend.eid)
    assert upstream_request(browser, idp).get("ForceAuthn") in (None, "false")


# -- the assertion (§6.1, §6.2, §8.3, §8.4) --------------------------------------------------------


def test_assertion_is_encrypted_for_the_application_and_decrypts_with_its_key(frontend):
    request_id, _, posted = frontend.log_in(frontend.eid)
    root = xml(posted)
    assert root.find(f"{{{SAML}}}Assertion") is None
    data = root.find(f"{{{SAML}}}EncryptedAssertion/{{{XENC}}}EncryptedData")
    methods = [m.get("Algorithm") for m in data.iter(f"{{{XENC}}}EncryptionMethod")]
    assert methods[0] in algorithms.AES_KEY_BYTES and "gcm" in methods[0]  # it declared GCM
    assert methods[1:] == [algorithms.RSA_OAEP_MGF1P]
    assert not {algorithms.TRIPLEDES_CBC, algorithms.RSA_1_5} & set(methods)
    # The application's own SAML library, with its key, accepts it.
    result = frontend.eid.parse_authn_request_response(
        posted["SAMLResponse"], BINDING_HTTP_POST, outstanding={request_id: "/rs"}
    )
    assert result.assertion.subject.name_id.format == PERSISTENT
    assert result.ava["givenName"] == ["Eva"]


def test_application_without_encryption_key_gets_a_signed_assertion(frontend):
    request_id, _, posted = frontend.log_in(frontend.sambi, sign=True)
    assertion = xml(posted).find(f"{{{SAML}}}Assertion")
    assert assertion is not None and assertion.find(f"{{{DS}}}Signature") is not None
    assert xml(posted).find(f"{{{DS}}}Signature") is not None
    frontend.sambi.parse_authn_request_response(
        posted["SAMLResponse"], BINDING_HTTP_POST, outstanding={request_id: "/rs"}
    )


def test_one_authn_and_one_attribute_statement_and_bearer_confirmation(frontend, tmp_path):
    request_id, _, posted = frontend.log_in(frontend.eid)
    assertion = decrypted(posted, frontend.keys["eid"][0], tmp_path)
    assert len(assertion.findall(f"{{{SAML}}}AuthnStatement")) == 1
    assert len(assertion.findall(f"{{{SAML}}}AttributeStatement")) == 1
    confirmation = assertion.find(f"{{{SAML}}}Subject/{{{SAML}}}SubjectConfirmation")
    assert confirmation.get("Method") == "urn:oasis:names:tc:SAML:2.0:cm:bearer"
    data = confirmation.find(f"{{{SAML}}}SubjectConfirmationData")
    assert data.get("InResponseTo") == request_id and data.get("Recipient") == EID_ACS
    assert data.get("Address") == "127.0.0.1" and data.get("NotOnOrAfter")
    assert assertion.findtext(f".//{{{SAML}}}Audience") == EID_SP
    authorities = [a.text for a in assertion.iter(f"{{{SAML}}}AuthenticatingAuthority")]
    assert authorities == [f"{frontend.stack.urls.idps['goteborg']}/idp"]


def test_attribute_names_follow_each_applications_profile(frontend, tmp_path):
    _, _, eid = frontend.log_in(frontend.eid)
    names = attributes(decrypted(eid, frontend.keys["eid"][0], tmp_path))
    assert names["urn:oid:1.2.752.29.4.13"] == {
        "friendly": "personalIdentityNumber",
        "format": "urn:oasis:names:tc:SAML:2.0:attrname-format:uri",
        "values": [EVA_PNR],
    }
    assert names["urn:oid:2.5.4.4"]["friendly"] == "sn"
    assert names["urn:oid:1.2.752.29.6.2.1"]["values"] == [EVA_HSA]
    _, _, sambi = frontend.log_in(frontend.sambi, sign=True)
    names = attributes(xml(sambi).find(f"{{{SAML}}}Assertion"))
    assert names[SAMBI_GIVEN_NAME]["friendly"] == "givenName"
    rights = names["http://sambi.se/attributes/1/commissionRight"]
    assert rights["values"] == ["Läsa;alla;SJF", "Skriva;alla;VE"]  # one Attribute, two values


def test_release_is_listed_and_requested_and_never_leaks_between_applications(frontend, tmp_path):
    expected = {
        "eid": {
            "urn:oid:2.5.4.42",
            "urn:oid:2.5.4.4",
            "urn:oid:1.2.752.29.4.13",
            "urn:oid:1.2.752.29.6.2.1",
            "urn:sambi:names:attribute:levelOfAssurance",
        },
        # listed [givenName, mail, employeeHsaId, commissionRight] ∩ requested [givenName,
        # surname, mail, commissionRight]: no employeeHsaId, no surname.
        "sambi": {
            SAMBI_GIVEN_NAME,
            "urn:oid:0.9.2342.19200300.100.1.3",
            "http://sambi.se/attributes/1/commissionRight",
        },
    }
    for name in ("eid", "sambi", "eid", "sambi"):  # interleaved: no shared default to leak
        client = getattr(frontend, name)
        _, _, posted = frontend.log_in(client, sign=name == "sambi")
        assertion = decrypted(posted, frontend.keys[name][0], tmp_path)
        assert set(attributes(assertion)) == expected[name], name


# -- NameID (§3, §6.2) -----------------------------------------------------------------------------


def name_id(frontend, client, name: str, tmp_path: Path, **kwargs) -> etree._Element:
    _, _, posted = frontend.log_in(client, sign=name == "sambi", **kwargs)
    if status(posted) != [f"{STATUS}Success"]:
        return posted
    return decrypted(posted, frontend.keys[name][0], tmp_path).find(f".//{{{SAML}}}NameID")


def test_persistent_name_id_is_pairwise_and_stable_across_nodes_and_restarts(frontend, tmp_path):
    first = name_id(frontend, frontend.eid, "eid", tmp_path)
    assert first.get("Format") == PERSISTENT
    assert first.get("SPNameQualifier") == EID_SP
    assert EVA_PNR not in first.text and EVA_HSA not in first.text
    other_app = name_id(frontend, frontend.sambi, "sambi", tmp_path)
    assert other_app.text != first.text
    proxy = next(s for s in frontend.stack.servers if s.name == "proxy")
    port = free_port()
    node = Server(
        "proxy2",
        gunicorn_argv("satosa_efos.app:create_app()", f"127.0.0.1:{port}", 2),
        "127.0.0.1",
        port,
        dict(proxy.env),
        frontend.tmp / "proxy2.log",
    ).start()
    try:
        # The other node answers every request the browser sends to the proxy.
        browser = frontend.browser()
        browser.session.mount(frontend.stack.urls.proxy, OtherNode(proxy.port, port))
        _, _, posted = frontend.log_in(frontend.eid, browser=browser)
        assert (
            decrypted(posted, frontend.keys["eid"][0], tmp_path).findtext(f".//{{{SAML}}}NameID")
            == first.text
        )
    finally:
        node.stop()
    proxy.stop()
    proxy.start()
    assert name_id(frontend, frontend.eid, "eid", tmp_path).text == first.text


class OtherNode(HTTPAdapter):
    def __init__(self, port: int, other: int):
        super().__init__()
        self.port, self.other = port, other

    def send(self, request, **kwargs):
        url = urlsplit(request.url)
        if url.port == self.port:
            request.url = url._replace(netloc=f"{url.hostname}:{self.other}").geturl()
        return super().send(request, **kwargs)


def test_transient_name_id_on_request_is_fresh_each_time(frontend, tmp_path):
    one = name_id(frontend, frontend.eid, "eid", tmp_path, nameid_format=TRANSIENT)
    two = name_id(frontend, frontend.eid, "eid", tmp_path, nameid_format=TRANSIENT)
    assert one.get("Format") == TRANSIENT == two.get("Format")
    assert one.text != two.text


def test_unsupported_name_id_format_is_invalid_name_id_policy(frontend):
    _, browser, page = frontend.send(
        frontend.eid, nameid_format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
    )
    posted = refused_with_answer(page, browser)
    assert status(posted) == [f"{STATUS}Requester", f"{STATUS}InvalidNameIDPolicy"]


# -- Mobilt Efos: cancel, IsPassive and LoA answered with a status ---------------------------------


def test_efos_cancel_is_the_profiles_cancel_status(frontend):
    requests.post(f"{frontend.stack.urls.efos_phone}/control/reset", timeout=10)
    _, browser, page = frontend.send(frontend.eid, org="ale")
    assert page.url.startswith(f"{frontend.stack.urls.proxy}/efos/page"), page.url
    browser.follow(browser.get(f"{frontend.stack.urls.proxy}/efos/cancel"))
    posted = answer(browser)
    assert posted["url"] == EID_ACS
    assert status(posted) == [f"{STATUS}Responder", "http://id.elegnamnden.se/status/1.0/cancel"]


def test_efos_passive_and_unreachable_loa_are_answered_before_any_qr_code(frontend):
    _, browser, page = frontend.send(frontend.eid, org="ale", is_passive="true")
    assert status(refused_with_answer(page, browser)) == [
        f"{STATUS}Responder",
        f"{STATUS}NoPassive",
    ]
    _, browser, page = frontend.send(frontend.eid, org="ale", requested_authn_context=loa(EID4))
    assert status(refused_with_answer(page, browser)) == [
        f"{STATUS}Requester",
        f"{STATUS}NoAuthnContext",
    ]
