"""Organisation routing over real HTTP: the proxy under gunicorn and two demo organisation IdPs."""

from __future__ import annotations

import base64
import json
import re
import shutil
import time
import zlib
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from helpers.aggregate import build_aggregate
from helpers.browser import Browser, end_sso_session, log_in
from helpers.stack import start_stack
from lxml import etree
from saml2 import BINDING_HTTP_REDIRECT
from saml2.client import Saml2Client
from saml2.config import IdPConfig, SPConfig
from saml2.saml import NAMEID_FORMAT_TRANSIENT, AuthnContextClassRef, NameID
from saml2.samlp import IDPEntry, IDPList, RequestedAuthnContext, Scoping
from saml2.server import Server

from satosa_efos import demo
from satosa_efos.keys import ensure_keypair
from satosa_efos.processes import stop_all
from satosa_efos.simulators import demo_idp, demo_sp

SAML = "urn:oasis:names:tc:SAML:2.0:assertion"

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.flow


@pytest.mark.parametrize(
    ("username", "email", "given_name"),
    [("eva", "eva.sjoberg@goteborg.se", "Eva"), ("cecilia", "cecilia.holm@boras.se", "Cecilia")],
)
def test_logs_in_through_each_organisation_idp(stack, username, email, given_name):
    browser = Browser()
    page = log_in(stack, browser, username, email)
    assert page.status_code == 200, page.text
    attributes = browser.get(f"{stack.urls.app}/sp/attributes.json").json()
    assert attributes["attributes"]["givenName"] == [given_name]
    assert attributes["attributes"]["mail"] == [email]
    organisation = stack.organisation_of(email)
    assert attributes["authenticating_authorities"] == [f"{stack.urls.idps[organisation]}/idp"]


def test_user_of_another_organisation_is_refused_by_the_scope_check(stack):
    """Ivar works for Göteborg; Borås's IdP asserting him must not log him in anywhere."""
    browser = Browser()
    picker = browser.submit(browser.get(f"{stack.urls.app}/"))
    idp_page = browser.choose_method(browser.submit(picker, having="org", org="boras"))
    assert idp_page.url.startswith(stack.urls.idps["boras"])
    page = browser.submit(idp_page, username="ivar", password="demo")

    assert page.status_code == 403
    assert page.url.startswith(stack.urls.proxy)
    assert "Inloggningen nekades" in page.text
    error_id = re.search(r'class="errorid">([0-9a-f]{12})<', page.text).group(1)
    assert browser.get(f"{stack.urls.app}/sp/attributes.json").status_code == 401
    log = stack.logs("proxy")
    assert error_id in log
    audit = [json.loads(json.loads(line)["message"]) for line in log.splitlines()
             if '"satosa_efos.audit"' in line]  # fmt: skip
    refused = [a for a in audit if a["event"] == "scope_refused"]
    assert refused and refused[-1]["organisation"] == "boras"
    assert refused[-1]["attribute"] == "mail"
    assert "ivar.lund@goteborg.se" not in log  # attribute names only, no values


def test_response_from_another_idp_than_asked_is_refused(stack):
    """The request went to Göteborg's IdP; a valid, signed answer from Borås's IdP is refused."""
    browser = Browser()
    picker = browser.submit(browser.get(f"{stack.urls.app}/"))
    browser.submit(picker, having="org", org="goteborg")  # the method page
    to_goteborg = browser.session.post(
        f"{stack.urls.proxy}/routing/select", data={"method": "own_idp"}, allow_redirects=False
    )
    location = to_goteborg.headers["Location"]
    assert location.startswith(stack.urls.idps["goteborg"])
    query = parse_qs(urlsplit(location).query)
    request = etree.fromstring(zlib.decompress(base64.b64decode(query["SAMLRequest"][0]), -15))

    # Borås's IdP (its real key) answers that very request.
    keys = stack.demo_dir / "keys"
    boras = Server(config=IdPConfig().load(demo_idp.idp_config(
        stack.urls.idps["boras"], keys / "demo-idp-boras.key", keys / "demo-idp-boras.crt",
        [stack.demo_dir / "metadata" / "proxy" / "orgidp.xml"])))  # fmt: skip
    acs = request.get("AssertionConsumerServiceURL")
    response = boras.create_authn_response(
        identity={"givenName": ["Cecilia"], "mail": ["cecilia.holm@boras.se"]},
        in_response_to=request.get("ID"),
        destination=acs,
        sp_entity_id=request.find(f"{{{SAML}}}Issuer").text,
        name_id=NameID(format=NAMEID_FORMAT_TRANSIENT, text="x1"),
        authn={"class_ref": "http://id.elegnamnden.se/loa/1.0/loa3"},
        sign_response=True,
        sign_assertion=True,
    )
    page = browser.session.post(acs, data={
        "SAMLResponse": base64.b64encode(str(response).encode()).decode(),
        "RelayState": query["RelayState"][0],
    })  # fmt: skip

    assert page.status_code == 403
    assert "svaret kom från en annan inloggningstjänst" in page.text.lower()
    assert browser.get(f"{stack.urls.app}/sp/attributes.json").status_code == 401


# --- an application that allows only some organisations ---------------------------------------


@pytest.fixture(scope="module")
def restricted(tmp_path_factory):
    """The demo with its application allowed only Göteborg and Borås (one pinned case too)."""
    tmp = tmp_path_factory.mktemp("restricted")
    shutil.copytree(REPO / "conf", tmp / "conf", symlinks=True,
                    ignore=shutil.ignore_patterns("keys"))  # fmt: skip
    applications = tmp / "conf" / "demo" / "applications.yaml"
    applications.write_text(
        applications.read_text().replace(
            "allowed_organisations: all", "allowed_organisations: [goteborg, boras]"
        )
    )
    running = start_stack(tmp, workers=2, conf_dir=tmp / "conf" / "demo")
    yield running
    stop_all(running.servers)


def authn_request_url(
    stack, *, org: str | None = None, idp_list=(), passive=False, force=False, loa=()
) -> str:
    """An AuthnRequest of the demo application, as its SP would send it (HTTP-Redirect)."""
    keys = stack.demo_dir / "keys"
    config = demo_sp.sp_config(stack.urls.app, keys / "demo-app.key", keys / "demo-app.crt",
                               [stack.demo_dir / "metadata" / "proxy" / "idp.xml"])  # fmt: skip
    sp = Saml2Client(SPConfig().load(config))
    kwargs = {}
    if idp_list:
        entries = [IDPEntry(provider_id=entity) for entity in idp_list]
        kwargs["scoping"] = Scoping(idp_list=IDPList(idp_entry=entries))
    if passive:
        kwargs["is_passive"] = "true"
    if force:
        kwargs["force_authn"] = "true"
    if loa:
        kwargs["requested_authn_context"] = RequestedAuthnContext(
            authn_context_class_ref=[AuthnContextClassRef(text=uri) for uri in loa],
            comparison="exact",
        )
    _, info = sp.prepare_for_authenticate(
        entityid=f"{stack.urls.proxy}/metadata/idp.xml", relay_state="/",
        binding=BINDING_HTTP_REDIRECT, **kwargs,
    )  # fmt: skip
    location = dict(info["headers"])["Location"]
    return f"{location}&{urlencode({'org': org})}" if org else location


def test_picker_offers_only_the_organisations_the_application_allows(restricted):
    page = requests.get(authn_request_url(restricted), timeout=10)
    assert page.status_code == 200
    buttons = re.findall(r'name="org" value="([a-z-]+)"', page.text)
    assert sorted(buttons) == ["boras", "goteborg"]


def test_hint_naming_an_organisation_the_application_does_not_allow_is_refused(restricted):
    page = requests.get(authn_request_url(restricted, org="ale"), timeout=10)
    assert page.status_code == 403
    assert "Organisationen har inte tillgång" in page.text


def test_hint_naming_an_allowed_organisation_goes_straight_to_its_idp(restricted):
    browser = Browser()
    page = browser.choose_method(browser.get(authn_request_url(restricted, org="boras")))
    assert page.url.startswith(restricted.urls.idps["boras"])


def test_unknown_hint_lets_the_user_pick_instead(restricted):
    page = requests.get(authn_request_url(restricted, org="atlantis"), timeout=10)
    assert page.status_code == 200
    assert "atlantis" in page.text and 'name="org"' in page.text


def test_idp_list_routes_to_that_organisation(restricted):
    idp = f"{restricted.urls.idps['goteborg']}/idp"
    page = requests.get(authn_request_url(restricted, idp_list=[idp]), timeout=10)
    assert page.url.startswith(restricted.urls.idps["goteborg"])  # an IDPList means the own IdP


def test_idp_list_naming_an_unknown_idp_lets_the_user_pick(restricted):
    page = requests.get(
        authn_request_url(restricted, idp_list=["https://idp.example.org/nobody"]), timeout=10
    )
    assert page.status_code == 200
    assert 'name="org"' in page.text


def test_domain_of_nobody_gets_the_picker_with_an_explanation(restricted):
    browser = Browser()
    picker = browser.get(authn_request_url(restricted))
    page = browser.submit(picker, having="email", email="someone@example.com")
    assert page.status_code == 200
    assert "example.com" in page.text and 'name="org"' in page.text


def test_passive_request_without_a_decision_shows_no_picker(restricted):
    page = requests.get(authn_request_url(restricted, passive=True), timeout=10)
    assert 'name="org"' not in page.text
    # IsPassive: the application gets a Responder/NoPassive Response, not a page to act on.
    encoded = re.search(r'name="SAMLResponse" value="([^"]+)"', page.text).group(1)
    response = etree.fromstring(base64.b64decode(encoded))
    samlp = "urn:oasis:names:tc:SAML:2.0:protocol"
    codes = [code.get("Value") for code in response.iter(f"{{{samlp}}}StatusCode")]
    assert codes[-1] == "urn:oasis:names:tc:SAML:2.0:status:NoPassive"


def test_principal_selection_hsa_id_routes_to_its_organisation(restricted):
    """An AuthnRequest whose Principal Selection names a Göteborg HSA-id skips the picker."""
    sso = f"{restricted.urls.proxy}/orgidp/sso/redirect"
    xml = f"""<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"
        xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_ps1" Version="2.0"
        IssueInstant="{time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}" Destination="{sso}"
        AssertionConsumerServiceURL="{restricted.urls.app}/sp/acs"
        ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST">
      <saml:Issuer>{restricted.urls.app}/sp</saml:Issuer>
      <samlp:Extensions>
        <psc:PrincipalSelection
            xmlns:psc="http://id.swedenconnect.se/authn/1.0/principal-selection/ns">
          <psc:MatchValue Name="urn:oid:1.2.752.29.6.2.1"
            >SE2120001355-E000000000101</psc:MatchValue>
        </psc:PrincipalSelection>
      </samlp:Extensions>
    </samlp:AuthnRequest>"""
    # The demo application's metadata says AuthnRequestsSigned: sign it as that SP would.
    keys, metadata = restricted.demo_dir / "keys", restricted.demo_dir / "metadata"
    config = demo_sp.sp_config(restricted.urls.app, keys / "demo-app.key", keys / "demo-app.crt",
                               [metadata / "proxy" / "idp.xml"])  # fmt: skip
    info = Saml2Client(SPConfig().load(config)).apply_binding(
        BINDING_HTTP_REDIRECT, xml, sso, relay_state="/", sign=True
    )
    browser = Browser()
    page = browser.session.get(dict(info["headers"])["Location"], timeout=10)
    assert "Göteborgs Stad" in page.text  # no picker: the method page of the organisation
    page = browser.choose_method(page)
    assert page.url.startswith(restricted.urls.idps["goteborg"]), page.text[:500]


def test_login_through_an_idp_known_only_from_a_signed_aggregate(tmp_path):
    """Organisation IdP metadata from a signed federation aggregate instead of metadata/idp/."""
    shutil.copytree(REPO / "conf", tmp_path / "conf", symlinks=True,
                    ignore=shutil.ignore_patterns("keys"))  # fmt: skip
    conf = tmp_path / "conf" / "demo"
    urls = demo.DemoUrls.free()
    demo.prepare(urls, tmp_path / "demo", conf)  # the demo IdPs' metadata files
    idp_metadata = tmp_path / "demo" / "metadata" / "idp"
    signer_key, signer_cert = ensure_keypair(tmp_path / "federation", "signer", "Federation")
    aggregate = build_aggregate(sorted(idp_metadata.glob("*.xml")), signer_key,
                                tmp_path / "federation" / "aggregate.xml")  # fmt: skip
    for path in idp_metadata.glob("*.xml"):
        path.unlink()
    backend = conf / "plugins" / "backends" / "organisation_idps.yaml"
    text = backend.read_text()
    backend.write_text(text.replace(
        "  sp_config:\n",
        f"  federation:\n    - file: {aggregate}\n      signer_cert: {signer_cert}\n  sp_config:\n",
    ))  # fmt: skip
    running = start_stack(tmp_path, workers=2, conf_dir=conf, urls=urls)
    try:
        browser = Browser()
        page = log_in(running, browser, "cecilia", "cecilia.holm@boras.se")
        assert page.status_code == 200, page.text
    finally:
        stop_all(running.servers)


def test_remembered_choice_is_used_and_can_be_forgotten(stack):
    browser = Browser()
    picker = browser.submit(browser.get(f"{stack.urls.app}/"))
    idp_page = browser.submit(picker, having="org", org="boras", remember="1")
    assert browser.session.cookies.get("satosa_efos_org") == "boras"
    idp_page = browser.choose_method(idp_page)
    browser.submit(idp_page, username="cecilia", password="demo")
    end_sso_session(browser)  # else the SSO session answers the next login (docs/sso.md)

    again = browser.submit(browser.get(f"{stack.urls.app}/"))
    assert 'name="org"' not in again.text, "the picker should be skipped"
    assert browser.choose_method(again).url.startswith(stack.urls.idps["boras"])

    page = browser.get(f"{stack.urls.proxy}/routing/forget")
    assert page.status_code == 200 and "glömt" in page.text
    assert browser.session.cookies.get("satosa_efos_org") is None
    assert browser.submit(browser.get(f"{stack.urls.app}/")).url.startswith(stack.urls.proxy)


def test_refusal_after_routing_links_to_forgetting_the_choice(stack):
    browser = Browser()
    picker = browser.submit(browser.get(f"{stack.urls.app}/"))
    idp_page = browser.choose_method(browser.submit(picker, having="org", org="boras"))
    page = browser.submit(idp_page, username="ivar", password="demo")
    assert page.status_code == 403
    assert f'href="{stack.urls.proxy}/routing/forget"' in page.text


def test_passive_force_and_requested_loa_are_passed_to_the_organisation_idp(restricted):
    loa = "http://id.elegnamnden.se/loa/1.0/loa3"
    url = authn_request_url(restricted, org="boras", passive=True, force=True, loa=[loa])
    to_idp = requests.get(url, timeout=10, allow_redirects=False)
    assert to_idp.status_code in (302, 303)
    location = to_idp.headers["Location"]
    assert location.startswith(restricted.urls.idps["boras"])
    encoded = parse_qs(urlsplit(location).query)["SAMLRequest"][0]
    upstream = etree.fromstring(zlib.decompress(base64.b64decode(encoded), -15))
    assert upstream.get("IsPassive") == "true"
    assert upstream.get("ForceAuthn") == "true"
    samlp = "urn:oasis:names:tc:SAML:2.0:protocol"
    requested = upstream.find(f"{{{samlp}}}RequestedAuthnContext")
    assert requested is not None and requested.get("Comparison") == "exact"
    assert [e.text for e in requested.findall(f"{{{SAML}}}AuthnContextClassRef")] == [loa]
