"""A complete login over real HTTP: demo application -> proxy (gunicorn) -> demo IdP and back.

The proxy runs as two gunicorn instances ("nodes") with several workers each, and the scripted
browser sends every other request for the proxy to the other node, as an unlucky load balancer
would: the login must not depend on anything kept in a worker's or a node's memory.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import subprocess
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from helpers.browser import Browser, log_in
from lxml import etree
from requests.adapters import HTTPAdapter

from satosa_efos.processes import Server, free_port, gunicorn_argv

pytestmark = pytest.mark.flow

SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
DS = "http://www.w3.org/2000/09/xmldsig#"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"


class AlternatingNodes(HTTPAdapter):
    """Sends consecutive requests for the proxy's address to alternating proxy nodes."""

    def __init__(self, proxy_port: int, node_ports: list[int]):
        super().__init__()
        self.proxy_port, self.nodes, self.used = proxy_port, itertools.cycle(node_ports), []

    def send(self, request, **kwargs):
        url = urlsplit(request.url)
        if url.port == self.proxy_port:
            port = next(self.nodes)
            self.used.append(port)
            request.url = url._replace(netloc=f"{url.hostname}:{port}").geturl()
        return super().send(request, **kwargs)


@pytest.fixture(scope="module")
def second_node(stack, tmp_path_factory):
    """Another gunicorn instance of the same proxy configuration and keys."""
    proxy = next(s for s in stack.servers if s.name == "proxy")
    port = free_port()
    log = tmp_path_factory.mktemp("node2") / "proxy2.log"
    node = Server(
        "proxy2",
        gunicorn_argv("satosa_efos.app:create_app()", f"127.0.0.1:{port}", 2),
        "127.0.0.1",
        port,
        dict(proxy.env),
        log,
    )
    node.start()
    yield node
    node.stop()


def login(stack, browser: Browser, username: str = "eva") -> requests.Response:
    email = {"eva": "eva.sjoberg@goteborg.se", "cecilia": "cecilia.holm@boras.se"}[username]
    page = log_in(stack, browser, username, email)
    # The proxy's AuthnRequest to the IdP (HTTP-Redirect) was signed with RSA-SHA256.
    to_idp = next(
        p for p in browser.redirects if p.startswith(stack.urls.idps[stack.organisation_of(email)])
    )
    query = parse_qs(urlsplit(to_idp).query)
    assert query["SigAlg"] == [RSA_SHA256] and query["Signature"]
    return page


def verify_signature(document: etree._Element, cert: Path, tmp_path: Path, name: str) -> None:
    """Verify the (single) enveloped signature of ``document`` with the xmlsec1 program."""
    path = tmp_path / f"{name}.xml"
    path.write_bytes(etree.tostring(document))
    subprocess.run(
        ["xmlsec1", "--verify", "--pubkey-cert-pem", str(cert),
         "--id-attr:ID", f"{SAMLP}:Response", "--id-attr:ID", f"{SAML}:Assertion", str(path)],
        check=True, capture_output=True,
    )  # fmt: skip


def test_login_reaches_application_with_signed_response_across_nodes(stack, second_node, tmp_path):
    browser = Browser()
    nodes = AlternatingNodes(
        urlsplit(stack.urls.proxy).port, [urlsplit(stack.urls.proxy).port, second_node.port]
    )
    browser.session.mount(stack.urls.proxy, nodes)

    page = login(stack, browser)

    assert page.status_code == 200, page.text
    assert page.url.startswith(stack.urls.app)
    assert "Eva" in page.text
    received = browser.get(f"{stack.urls.app}/sp/attributes.json").json()
    attributes = received["attributes"]
    assert attributes["givenName"] == ["Eva"]
    assert attributes["surname"] == ["Sjöberg"]
    assert attributes["mail"] == ["eva.sjoberg@goteborg.se"]
    assert attributes["employeeHsaId"] == ["SE2120001355-E000000000101"]
    assert attributes["personalIdentityNumber"] == ["191212121212"]
    assert len(set(nodes.used)) == 2, "both proxy nodes must have served part of the login"

    # The response the proxy sent to the application: response and assertion both signed
    # (RSA-SHA256) by the proxy's key, the assertion encrypted to the application's key (it has
    # one in its metadata), verified here independently of pysaml2.
    posted = browser.last_post_with("SAMLResponse")
    assert posted.url == f"{stack.urls.app}/sp/acs"
    response = etree.fromstring(base64.b64decode(posted.data["SAMLResponse"]))
    assert response.find(f"{{{SAML}}}Assertion") is None
    assert response.find(f"{{{SAML}}}EncryptedAssertion") is not None
    assertion = decrypt_assertion(response, stack.demo_dir / "keys" / "demo-app.key", tmp_path)
    for element in (response, assertion):
        signature = element.find(f"{{{DS}}}Signature")
        assert signature is not None, f"{element.tag} is not signed"
        assert signature.find(f".//{{{DS}}}SignatureMethod").get("Algorithm") == RSA_SHA256
    cert = stack.demo_dir / "keys" / "frontend.crt"
    verify_signature(assertion, cert, tmp_path, "assertion")
    tampered = etree.fromstring(etree.tostring(response))
    tampered.find(f"{{{SAML}}}Issuer").text = "https://somebody-else.example/idp"
    with pytest.raises(subprocess.CalledProcessError):  # the response signature covers it
        verify_signature(tampered, cert, tmp_path, "tampered")
    verify_signature(response, cert, tmp_path, "response")


def decrypt_assertion(response: etree._Element, key: Path, tmp_path: Path) -> etree._Element:
    """The EncryptedAssertion decrypted by the xmlsec1 program with the application's key."""
    path = tmp_path / "encrypted.xml"
    path.write_bytes(etree.tostring(response))
    decrypted = subprocess.run(
        ["xmlsec1", "--decrypt", "--privkey-pem", str(key), str(path)],
        check=True, capture_output=True,
    ).stdout  # fmt: skip
    assertion = etree.fromstring(decrypted).find(f".//{{{SAML}}}Assertion")
    assert assertion is not None
    return etree.fromstring(etree.tostring(assertion))


def test_application_receives_only_released_attributes(stack):
    browser = Browser()
    login(stack, browser, "eva")
    names = set(browser.get(f"{stack.urls.app}/sp/attributes.json").json()["attributes"])
    released = {"givenName", "surname", "displayName", "mail", "personalIdentityNumber",
                "employeeHsaId", "commissionHsaId", "commissionName", "commissionPurpose",
                "commissionRight", "healthCareUnitHsaId", "healthCareUnitName",
                "healthCareProviderHsaId", "healthCareProviderName"}  # fmt: skip
    assert names <= released


def test_logs_are_json_lines_without_personnummer(stack):
    browser = Browser()
    login(stack, browser, "eva")
    log = stack.logs("proxy")
    lines = [line for line in log.splitlines() if line.startswith("{")]
    assert lines, "the proxy wrote no JSON log lines"
    for line in lines:
        json.loads(line)
    assert "191212121212" not in log
    assert "19121212-1212" not in log
    assert "SAMLRequest=" not in log


def test_unknown_path_gets_swedish_page_with_error_id(stack):
    reply = requests.get(f"{stack.urls.proxy}/no/such/page", timeout=10)
    assert reply.status_code == 404
    assert "Sidan finns inte" in reply.text and "Page not found" in reply.text
    error_id = re.search(r'class="errorid">([0-9a-f]{12})<', reply.text).group(1)
    assert "Traceback" not in reply.text
    assert error_id in stack.logs("proxy")


@pytest.mark.parametrize(
    ("binding", "payload"),
    [
        ("redirect", "not-base64-!!!"),
        ("redirect", base64.b64encode(b"\x78\x9c not deflated").decode()),
        ("post", base64.b64encode(b"<samlp:AuthnRequest xmlns:samlp='x'><unclosed>").decode()),
    ],
)
def test_unparseable_saml_request_gets_refusal_page(stack, binding, payload):
    url = f"{stack.urls.proxy}/orgidp/sso/{binding}"
    if binding == "redirect":
        reply = requests.get(url, params={"SAMLRequest": payload}, timeout=10)
    else:
        reply = requests.post(url, data={"SAMLRequest": payload}, timeout=10)
    assert reply.status_code == 400
    assert "Felaktigt inloggningsmeddelande" in reply.text
    assert re.search(r'class="errorid">[0-9a-f]{12}<', reply.text)
    assert "Traceback" not in reply.text and "SAMLResponse" not in reply.text


def test_request_from_unregistered_application_is_refused(stack, tmp_path):
    """A well-formed AuthnRequest from an SP that is not in applications.yaml: 403, no login."""
    from satosa_efos.keys import ensure_keypair
    from satosa_efos.simulators import demo_sp

    key, cert = ensure_keypair(tmp_path, "stranger", "stranger")
    config = demo_sp.sp_config(
        "http://127.0.0.1:1",
        str(key),
        str(cert),
        [str(stack.demo_dir / "metadata" / "proxy" / "idp.xml")],
    )
    from saml2.client import Saml2Client
    from saml2.config import SPConfig

    sp_conf = SPConfig()
    sp_conf.load(config)
    client = Saml2Client(sp_conf)
    _, info = client.prepare_for_authenticate(
        entityid=f"{stack.urls.proxy}/metadata/idp.xml",
        relay_state="x",
        binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect",
        sign=False,
    )
    location = dict(info["headers"])["Location"]
    reply = requests.get(location, timeout=10, allow_redirects=False)
    assert reply.status_code == 403
    assert "Okänd tjänst" in reply.text
