"""The OIDC OP over real HTTP: applications -> proxy (gunicorn, 2 workers, 2 nodes) -> demo IdP.

Relying parties are the ``oic`` client library (the demo OIDC application, and clients driven
from here); ID tokens are also verified independently of it, with ``cryptography`` against the
published JWKS. The proxy's configuration is the demo's plus three test applications whose
redirect URI is a loopback address nothing listens on: the scripted browser stops there and
hands the answer to the test, as an application's callback would receive it.
"""

from __future__ import annotations

import base64
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from helpers.browser import Browser, choose_commission
from helpers.stack import Stack
from oic.oic.message import AccessTokenResponse, AuthorizationResponse
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict

from satosa_efos import demo
from satosa_efos.oidc.pkce import s256
from satosa_efos.processes import Server, free_port, gunicorn_argv, stop_all
from satosa_efos.simulators.demo_rp import oidc_client

pytestmark = pytest.mark.flow

REPO = Path(__file__).resolve().parents[2]
SAMBI3 = "http://id.sambi.se/loa/loa3"
EID3 = "http://id.elegnamnden.se/loa/1.0/loa3"
EID4 = "http://id.elegnamnden.se/loa/1.0/loa4"
PNR = "https://id.oidc.se/claim/personalIdentityNumber"
SECRET = "test-confidential-secret-0123456789abcdef"

TEST_APPLICATIONS = """
  - id: oidc-test-a
    name: Testapp A
    protocol: oidc
    client_id: test-a
    redirect_uris: ["{callback}/a/cb"]
    allowed_organisations: all
    released_attributes: [givenName, surname, employeeHsaId]
  - id: oidc-test-b
    name: Testapp B
    protocol: oidc
    client_id: test-b
    redirect_uris: ["{callback}/b/cb"]
    allowed_organisations: all
    loa_profile: swedish_eid
    released_attributes: [givenName]
  - id: oidc-test-confidential
    name: Testapp C
    protocol: oidc
    client_id: test-confidential
    client_secret: !FILE test-confidential.secret
    redirect_uris: ["{callback}/c/cb"]
    allowed_organisations: all
    released_attributes: [givenName, personalIdentityNumber]
"""


class CapturedCallback(HTTPAdapter):
    """Stands in for the applications' callbacks: answers 200 without any network."""

    def send(self, request, **kwargs):
        response = requests.Response()
        response.status_code, response.url, response.request = 200, request.url, request
        response.headers = CaseInsensitiveDict({"Content-Type": "text/plain"})
        response._content, response.encoding = b"callback reached", "utf-8"
        return response


@dataclass
class OidcStack:
    stack: Stack
    node2: Server
    callback: str

    @property
    def issuer(self) -> str:
        return self.stack.urls.proxy

    @property
    def node2_url(self) -> str:
        return f"http://127.0.0.1:{self.node2.port}"

    def proxy(self) -> Server:
        return next(s for s in self.stack.servers if s.name == "proxy")


@pytest.fixture(scope="module")
def op(tmp_path_factory) -> OidcStack:
    tmp = tmp_path_factory.mktemp("oidc")
    shutil.copytree(REPO / "conf", tmp / "conf", ignore=shutil.ignore_patterns("keys"))
    shutil.copytree(REPO / "metadata", tmp / "metadata")
    conf = tmp / "conf" / "demo"
    callback = f"http://127.0.0.1:{free_port()}"
    (conf / "test-confidential.secret").write_text(SECRET + "\n")
    applications = conf / "applications.yaml"
    applications.write_text(applications.read_text() + TEST_APPLICATIONS.format(callback=callback))
    urls = demo.DemoUrls.free()
    demo_dir, log_dir = tmp / "demo", tmp / "logs"
    log_dir.mkdir()
    demo.prepare(urls, demo_dir, conf)
    servers = demo.servers(urls, demo_dir, conf, workers=2, log_dir=log_dir)
    for server in servers:
        if server.name.startswith("demo-idp-"):
            # Logins are loa3 whatever is asked upstream: the OP must refuse to call it loa4.
            server.env["DEMO_IDP_ANSWER_LOA"] = EID3
    proxy = next(s for s in servers if s.name == "proxy")
    port = free_port()
    node2 = Server(
        "proxy2",
        gunicorn_argv("satosa_efos.app:create_app()", f"127.0.0.1:{port}", 2),
        "127.0.0.1",
        port,
        proxy.env,  # the same configuration, keys and store: another node of one proxy
        log_dir / "proxy2.log",
    )
    running = [*servers, node2]
    try:
        for server in running:
            server.start()
        # A listening port is not yet a booted worker: wait until both nodes and the demo
        # application answer, so no test measures a worker's start-up.
        for url in (urls.proxy, f"http://127.0.0.1:{port}"):
            wait_ready(url)
        requests.get(f"{urls.rp}/", timeout=120).raise_for_status()
        yield OidcStack(Stack(urls, demo_dir, log_dir, servers), node2, callback)
    finally:
        stop_all(running)


def wait_ready(proxy_url: str) -> None:
    requests.get(f"{proxy_url}/.well-known/openid-configuration", timeout=120).raise_for_status()


# -- the relying party side ----------------------------------------------------------------------


@dataclass
class Pending:
    url: str
    state: str
    nonce: str
    verifier: str | None


class RelyingParty:
    """A client of the OP built with the oic library, as an application would use it."""

    def __init__(self, op: OidcStack, client_id: str, path: str, secret: str | None = None):
        self.op, self.client_id = op, client_id
        self.redirect_uri = f"{op.callback}{path}"
        self.client = oidc_client(op.issuer, client_id, self.redirect_uri, secret)
        self.secret = secret

    def authorization(self, pkce: bool = True, **extra: object) -> Pending:
        state, nonce = f"state-{time.monotonic_ns()}", f"nonce-{time.monotonic_ns()}"
        args = {
            "client_id": self.client_id,
            "response_type": "code",
            "scope": "openid",
            "redirect_uri": self.redirect_uri,
            "state": state,
            "nonce": nonce,
        }
        verifier = None
        if pkce:
            challenge, verifier = self.client.add_code_challenge()
            args.update(challenge)
        args.update(extra)
        request = self.client.construct_AuthorizationRequest(request_args=args)
        return Pending(request.request(self.client.authorization_endpoint), state, nonce, verifier)

    def redeem(self, callback: dict[str, str], pending: Pending, node: str | None = None):
        """The code for tokens with the library (verifying the ID token), optionally at the
        other node."""
        if node:
            self.client.token_endpoint = f"{node}/oidc/token"
            self.client.userinfo_endpoint = f"{node}/oidc/userinfo"
        self.client.parse_response(
            AuthorizationResponse, info=urlencode(callback), sformat="urlencoded"
        )
        args = {"code": callback["code"], "redirect_uri": self.redirect_uri}
        if pending.verifier:
            args["code_verifier"] = pending.verifier
        if not self.secret:
            args["client_id"] = self.client_id
        tokens = self.client.do_access_token_request(
            state=pending.state,
            request_args=args,
            authn_method="client_secret_basic" if self.secret else "",
        )
        assert isinstance(tokens, AccessTokenResponse), tokens.to_dict()
        userinfo = self.client.do_user_info_request(state=pending.state, method="GET")
        return tokens, userinfo.to_dict()


def log_in(op: OidcStack, url: str, username: str = "eva", browser: Browser | None = None):
    """Browser: the authorization URL -> picker -> demo IdP -> back; returns the parameters the
    application's callback receives."""
    browser = browser or Browser()
    browser.session.mount(f"{op.callback}/", CapturedCallback())
    email = {"eva": "eva.sjoberg@goteborg.se", "cecilia": "cecilia.holm@boras.se"}[username]
    page = browser.get(url)
    if not page.url.startswith(op.callback):
        picker = page
        assert 'name="email"' in picker.text, picker.text[:500]
        idp_page = browser.choose_method(browser.submit(picker, having="email", email=email))
        assert "password" in idp_page.text, idp_page.text[:500]
        page = choose_commission(
            browser, browser.submit(idp_page, username=username, password="demo")
        )
    assert page.url.startswith(op.callback), (page.status_code, page.url, page.text[:800])
    return {k: v[0] for k, v in parse_qs(urlsplit(page.url).query).items()}


def token_request(op: OidcStack, node: str | None = None, auth=None, **form: str):
    response = requests.post(f"{node or op.issuer}/oidc/token", data=form, auth=auth, timeout=15)
    assert response.headers["Cache-Control"] == "no-store"
    return response


def _b64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def verify_id_token(op: OidcStack, jwt: str, client_id: str, nonce: str) -> dict:
    """Verify an ID token with nothing of pyop or oic: RS256 over the JWKS key its kid names."""
    discovery = requests.get(f"{op.issuer}/.well-known/openid-configuration", timeout=15).json()
    jwks = requests.get(discovery["jwks_uri"], timeout=15).json()
    header_b64, payload_b64, signature_b64 = jwt.split(".")
    header = json.loads(_b64(header_b64))
    assert header["alg"] == "RS256"
    key = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
    public = rsa.RSAPublicNumbers(
        int.from_bytes(_b64(key["e"]), "big"), int.from_bytes(_b64(key["n"]), "big")
    ).public_key()
    public.verify(
        _b64(signature_b64),
        f"{header_b64}.{payload_b64}".encode(),
        padding.PKCS1v15(),
        hashes.SHA256(),
    )  # raises InvalidSignature
    claims = json.loads(_b64(payload_b64))
    now = time.time()
    assert claims["iss"] == op.issuer == discovery["issuer"]
    assert claims["aud"] in (client_id, [client_id])
    assert claims["nonce"] == nonce
    assert claims["iat"] - 60 <= now < claims["exp"]
    return claims


# -- tests ------------------------------------------------------------------------------------


def test_demo_oidc_application_logs_in_with_code_flow_and_pkce(op):
    browser = Browser()
    start = browser.get(f"{op.stack.urls.rp}/")
    picker = browser.submit(start)
    authorization = next(r for r in browser.redirects if "/oidc/authorization?" in r)
    asked = {k: v[0] for k, v in parse_qs(urlsplit(authorization).query).items()}
    assert asked["code_challenge_method"] == "S256" and asked["response_type"] == "code"
    idp_page = browser.choose_method(
        browser.submit(picker, having="email", email="eva.sjoberg@goteborg.se")
    )
    page = choose_commission(browser, browser.submit(idp_page, username="eva", password="demo"))

    assert page.status_code == 200, page.text[:1000]
    assert page.url.startswith(f"{op.stack.urls.rp}/rp/loggedin")
    back = next(r for r in browser.redirects if r.startswith(f"{op.stack.urls.rp}/rp/callback"))
    assert parse_qs(urlsplit(back).query)["state"] == [asked["state"]]
    login = browser.get(f"{op.stack.urls.rp}/rp/claims.json").json()
    userinfo = login["userinfo"]
    assert userinfo["given_name"] == "Eva"
    assert userinfo["family_name"] == "Sjöberg"
    assert userinfo["email"] == "eva.sjoberg@goteborg.se"
    assert userinfo[PNR] == "191212121212"
    assert userinfo["employeeHsaId"] == "SE2120001355-E000000000101"
    assert isinstance(userinfo["commissionRight"], list)
    claims = verify_id_token(op, login["id_token_jwt"], "demo-oidc-app", asked["nonce"])
    assert claims["sub"] == userinfo["sub"]
    assert claims["acr"] == SAMBI3  # demo-oidc-app: loa3, Sambi profile
    assert isinstance(claims["auth_time"], int)


def test_code_issued_at_one_node_is_redeemed_at_the_other(op):
    rp = RelyingParty(op, "test-a", "/a/cb")
    # Scopes and the claims parameter ask for more than test-a may have: they get nothing more.
    claims_request = {
        "id_token": {"given_name": None, PNR: {"essential": True}},
        "userinfo": {PNR: None, "email": None},
    }
    pending = rp.authorization(scope="openid profile email", claims=claims_request)
    callback = log_in(op, pending.url)
    assert callback["state"] == pending.state and "code" in callback

    tokens, userinfo = rp.redeem(callback, pending, node=op.node2_url)

    claims = verify_id_token(op, tokens["id_token"].jwt, "test-a", pending.nonce)
    assert userinfo == {
        "sub": claims["sub"],
        "given_name": "Eva",
        "family_name": "Sjöberg",
        "employeeHsaId": "SE2120001355-E000000000101",
    }
    assert claims["given_name"] == "Eva" and PNR not in claims and "email" not in claims
    assert claims["acr"] == SAMBI3


def test_sub_is_pairwise_per_client_and_survives_a_restart(op):
    a, b = RelyingParty(op, "test-a", "/a/cb"), RelyingParty(op, "test-b", "/b/cb")

    def sub_at(rp: RelyingParty) -> str:
        pending = rp.authorization()
        tokens, userinfo = rp.redeem(log_in(op, pending.url), pending)
        assert tokens["id_token"]["sub"] == userinfo["sub"]
        return userinfo["sub"]

    first = sub_at(a)
    at_b = sub_at(b)  # same person, same redirect host, another client
    proxy = op.proxy()
    proxy.stop()
    proxy.start()
    wait_ready(op.issuer)
    again = sub_at(RelyingParty(op, "test-a", "/a/cb"))

    assert again == first
    assert at_b != first
    assert len(first) == 64


@pytest.mark.parametrize(
    "redirect_uri",
    ["{cb}/a/cb/", "{cb}/a/cb?next=/", "{cb}/A/cb", "{cb}/b/cb", "https://evil.example/a/cb", ""],
)
def test_redirect_uri_must_be_exactly_a_registered_one(op, redirect_uri):
    params = {
        "client_id": "test-a",
        "response_type": "code",
        "scope": "openid",
        "state": "s",
        "redirect_uri": redirect_uri.format(cb=op.callback),
        "code_challenge": s256("v" * 43),
        "code_challenge_method": "S256",
    }
    response = requests.get(
        f"{op.issuer}/oidc/authorization?{urlencode(params)}", allow_redirects=False, timeout=15
    )
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "Felaktig återadress" in response.text


def test_malformed_request_with_unregistered_redirect_uri_is_not_redirected(op):
    # Stock SATOSA redirects a malformed request (here: no scope) to its redirect_uri unchecked.
    params = {
        "client_id": "test-a",
        "response_type": "code",
        "redirect_uri": "https://evil.example/",
    }
    response = requests.get(
        f"{op.issuer}/oidc/authorization?{urlencode(params)}", allow_redirects=False, timeout=15
    )
    assert response.status_code == 400 and "Location" not in response.headers


def test_unknown_client_gets_a_page(op):
    params = {"client_id": "nobody", "response_type": "code", "scope": "openid",
              "redirect_uri": f"{op.callback}/a/cb"}  # fmt: skip
    response = requests.get(
        f"{op.issuer}/oidc/authorization?{urlencode(params)}", allow_redirects=False, timeout=15
    )
    assert response.status_code == 403 and "Location" not in response.headers
    assert "Okänd tjänst" in response.text


def test_replayed_code_is_refused(op):
    rp = RelyingParty(op, "test-a", "/a/cb")
    pending = rp.authorization()
    callback = log_in(op, pending.url)
    form = {"grant_type": "authorization_code", "code": callback["code"], "client_id": "test-a",
            "redirect_uri": rp.redirect_uri, "code_verifier": pending.verifier}  # fmt: skip

    first = token_request(op, **form)
    replay = token_request(op, node=op.node2_url, **form)

    assert first.status_code == 200, first.text
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"


def test_code_verifier_must_come_and_match(op):
    rp = RelyingParty(op, "test-a", "/a/cb")
    pending = rp.authorization()
    callback = log_in(op, pending.url)
    form = {"grant_type": "authorization_code", "code": callback["code"], "client_id": "test-a",
            "redirect_uri": rp.redirect_uri}  # fmt: skip

    missing = token_request(op, **form)
    wrong = token_request(op, **form, code_verifier=pending.verifier[:-1] + "x")
    other_client = token_request(op, **{**form, "client_id": "test-b"}, code_verifier="x" * 43)
    other_redirect = token_request(
        op, **{**form, "redirect_uri": f"{op.callback}/b/cb"}, code_verifier=pending.verifier
    )
    right = token_request(op, **form, code_verifier=pending.verifier)

    for refused in (missing, wrong, other_client, other_redirect):
        assert refused.status_code == 400, refused.text
        assert refused.json()["error"] == "invalid_grant"
    # A refused attempt does not use the code up: only a redemption does.
    assert right.status_code == 200, right.text
    assert right.json()["token_type"] == "Bearer"


@pytest.mark.parametrize(
    "pkce",
    [
        {},
        {"code_challenge": s256("v" * 43)},  # no method: plain (RFC 7636 §4.3)
        {"code_challenge": "v" * 43, "code_challenge_method": "plain"},
    ],
)
def test_public_client_without_s256_pkce_is_refused_before_any_login(op, pkce):
    rp = RelyingParty(op, "test-a", "/a/cb")
    pending = rp.authorization(pkce=False, **pkce)
    browser = Browser()
    callback = log_in(op, pending.url, browser=browser)
    assert callback["error"] == "invalid_request"
    assert callback["state"] == pending.state and "code" not in callback
    assert not any(url.startswith(op.stack.urls.idps["goteborg"]) for url in browser.redirects)


def test_asking_loa4_when_the_login_is_loa3_gets_an_error_never_a_weaker_acr(op):
    rp = RelyingParty(op, "test-a", "/a/cb")
    pending = rp.authorization(acr_values=EID4)
    callback = log_in(op, pending.url)
    assert callback["error"] == "unmet_authentication_requirements"
    assert callback["state"] == pending.state and "code" not in callback


def test_requested_acr_is_answered_exactly(op):
    rp = RelyingParty(op, "test-b", "/b/cb")
    pending = rp.authorization(acr_values=f"{EID4} {EID3}")
    tokens, _ = rp.redeem(log_in(op, pending.url), pending)
    assert tokens["id_token"]["acr"] == EID3


def test_unknown_acr_value_is_refused(op):
    rp = RelyingParty(op, "test-a", "/a/cb")
    pending = rp.authorization(acr_values="urn:example:loa:high")
    callback = log_in(op, pending.url)
    assert callback["error"] == "invalid_request" and callback["state"] == pending.state


def test_prompt_none_without_an_organisation_is_login_required(op):
    rp = RelyingParty(op, "test-a", "/a/cb")
    pending = rp.authorization(prompt="none")
    callback = log_in(op, pending.url)
    assert callback["error"] == "login_required" and callback["state"] == pending.state


def test_confidential_client_redeems_with_its_secret(op):
    rp = RelyingParty(op, "test-confidential", "/c/cb", secret=SECRET)
    pending = rp.authorization(pkce=False)  # PKCE is optional for a confidential client
    callback = log_in(op, pending.url)
    form = {"grant_type": "authorization_code", "code": callback["code"],
            "redirect_uri": rp.redirect_uri}  # fmt: skip

    no_secret = token_request(op, **form, client_id="test-confidential")
    wrong = token_request(op, auth=("test-confidential", "x" * 40), **form)
    tokens, userinfo = rp.redeem(callback, pending)

    assert no_secret.status_code == 401 and no_secret.json()["error"] == "invalid_client"
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    assert userinfo[PNR] == "191212121212" and set(userinfo) == {"sub", "given_name", PNR}


def test_discovery_describes_what_the_op_enforces(op):
    discovery = requests.get(f"{op.issuer}/.well-known/openid-configuration", timeout=15).json()
    assert discovery["issuer"] == op.issuer
    assert discovery["response_types_supported"] == ["code"]
    assert discovery["code_challenge_methods_supported"] == ["S256"]
    assert discovery["subject_types_supported"] == ["pairwise"]
    assert discovery["id_token_signing_alg_values_supported"] == ["RS256"]
    assert {SAMBI3, EID3, EID4} <= set(discovery["acr_values_supported"])
    for endpoint in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri"):
        assert discovery[endpoint].startswith(f"{op.issuer}/oidc/")
    jwks = requests.get(discovery["jwks_uri"], timeout=15).json()
    assert [(k["kty"], k["alg"], k["use"]) for k in jwks["keys"]] == [("RSA", "RS256", "sig")]
    assert "d" not in jwks["keys"][0]  # the public half only
