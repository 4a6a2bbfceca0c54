"""Mobilt Efos through the `saml` adapter: an upstream Efos-capable IdP (a demo "Inera IdP").

The demo configuration is copied, and by configuration alone the `efos_mobile` login method is
moved from the collect adapter to the saml one.
"""

from __future__ import annotations

import base64
import shutil
from pathlib import Path

import pytest
from helpers.browser import Browser
from helpers.stack import start_stack
from lxml import etree

from satosa_efos import demo
from satosa_efos.keys import ensure_keypair
from satosa_efos.processes import Server, free_port, gunicorn_argv, stop_all
from satosa_efos.simulators import demo_idp

REPO = Path(__file__).resolve().parents[2]
LOA3 = "http://id.elegnamnden.se/loa/1.0/loa3"
LOA2 = "http://id.elegnamnden.se/loa/1.0/loa2"
SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
STATUS = "urn:oasis:names:tc:SAML:2.0:status:"
pytestmark = pytest.mark.flow

BACKEND = """module: satosa_efos.backends.efos_saml.EfosSamlBackend
name: efos_saml
config:
  idp_entity_id: {idp}/idp
  requested_loa: [{loa3}]
  sp_config:
    entityid: {proxy}/metadata/efos-sp.xml
    key_file: {keys}/backend.key
    cert_file: {keys}/backend.crt
    metadata:
      local: ["{metadata}"]
    service:
      sp:
        authn_requests_signed: true
        want_response_signed: true
        want_assertions_or_response_signed: true
        signing_algorithm: http://www.w3.org/2001/04/xmldsig-more#rsa-sha256
        digest_algorithm: http://www.w3.org/2001/04/xmlenc#sha256
        endpoints:
          assertion_consumer_service:
            - ["{proxy}/efos_saml/acs/post", urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST]
"""


@pytest.fixture(scope="module")
def saml_adapter(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("saml-adapter")
    shutil.copytree(REPO / "conf", tmp / "conf", symlinks=True,
                    ignore=shutil.ignore_patterns("keys"))  # fmt: skip
    conf = tmp / "conf" / "demo"
    urls = demo.DemoUrls.free()
    inera_port = free_port()
    inera = f"http://127.0.0.1:{inera_port}"
    key, cert = ensure_keypair(tmp / "inera", "inera", "Inera IdP (demo)")
    inera_metadata = demo_idp.write_metadata(inera, key, cert, tmp / "inera" / "inera.xml")

    (conf / "plugins" / "backends" / "efos_saml.yaml").write_text(BACKEND.format(
        idp=inera, loa3=LOA3, proxy=urls.proxy, keys=tmp / "demo" / "keys",
        metadata=inera_metadata))  # fmt: skip
    proxy_conf = conf / "proxy_conf.yaml"
    collect = "  - plugins/backends/efos_mobile.yaml\n"
    both = collect + "  - plugins/backends/efos_saml.yaml\n"
    proxy_conf.write_text(proxy_conf.read_text().replace(collect, both))
    routing = conf / "plugins" / "microservices" / "routing.yaml"
    routing.write_text(routing.read_text().replace("efos_mobile: efos", "efos_mobile: efos_saml"))

    stack = start_stack(tmp, workers=2, conf_dir=conf, urls=urls)

    def idp(answer_loa: str = "") -> Server:
        return Server(
            "inera-idp",
            gunicorn_argv("satosa_efos.simulators.demo_idp:create_app()",
                          f"127.0.0.1:{inera_port}", 1),
            "127.0.0.1", inera_port,
            {"DEMO_IDP_BASE_URL": inera, "DEMO_IDP_KEY": str(key), "DEMO_IDP_CERT": str(cert),
             "DEMO_IDP_METADATA": str(stack.demo_dir / "metadata" / "proxy" / "efos_saml.xml"),
             "DEMO_IDP_ORGANISATION": "*", "DEMO_IDP_TITLE": "Inera IdP (demo)",
             "DEMO_IDP_ANSWER_LOA": answer_loa},
            tmp / f"inera{answer_loa and '-downgrading'}.log",
        )  # fmt: skip

    yield stack, inera, idp
    stop_all(stack.servers)


def login_through_inera(stack, inera: str):
    browser = Browser()
    picker = browser.submit(browser.get(f"{stack.urls.app}/"))
    idp_page = browser.submit(picker, having="org", org="ale")
    assert idp_page.url.startswith(inera), idp_page.url
    return browser, browser.submit(idp_page, username="david", password="demo")


def test_efos_login_through_an_upstream_saml_idp_at_the_requested_loa(saml_adapter):
    stack, inera, idp = saml_adapter
    server = idp().start()
    try:
        browser, page = login_through_inera(stack, inera)
    finally:
        server.stop()
    assert page.status_code == 200, page.text
    received = browser.get(f"{stack.urls.app}/sp/attributes.json").json()
    assert received["attributes"]["personalIdentityNumber"] == ["197010632391"]
    # Asked upstream in its URIs (requested_loa), answered to the application in its own
    # profile (Sambi, the demo application's default).
    assert received["authn_context_class_ref"] == "http://id.sambi.se/loa/loa3"
    assert received["authenticating_authorities"] == [f"{inera}/idp"]


def test_weaker_loa_from_the_upstream_idp_is_answered_with_no_authn_context(saml_adapter):
    """DOMAIN.md §5: the downgrade is refused, and since the application's request was valid it
    gets a SAML error Response (Requester/NoAuthnContext) without any assertion, not a page."""
    stack, inera, idp = saml_adapter
    server = idp(answer_loa=LOA2).start()
    try:
        browser, page = login_through_inera(stack, inera)
    finally:
        server.stop()
    posted = browser.last_post_with("SAMLResponse")
    assert posted.url == f"{stack.urls.app}/sp/acs"
    response = etree.fromstring(base64.b64decode(posted.data["SAMLResponse"]))
    codes = [code.get("Value") for code in response.iter(f"{{{SAMLP}}}StatusCode")]
    assert codes == [f"{STATUS}Requester", f"{STATUS}NoAuthnContext"]
    assert response.find(f"{{{SAML}}}Assertion") is None
    assert response.find(f"{{{SAML}}}EncryptedAssertion") is None
    assert page.status_code == 401 and "NoAuthnContext" in page.text  # the application's page
    assert browser.get(f"{stack.urls.app}/sp/attributes.json").status_code == 401
