"""Single sign-on across organisations and single logout (issue 7), over real HTTP.

The demo runs with two gunicorn workers per proxy, once with sessions in SQLite and once in a
real ``redis-server``: a nurse of Göteborg logs in at the regional demo application and then
opens Göteborg's own application (another organisation's) without logging in again; what must
force a new login does; logging out at one application logs her out of the others (each gets a
LogoutRequest it verifies) and of the proxy.
"""

from __future__ import annotations

import base64
import re
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from bs4 import BeautifulSoup
from cryptography import x509
from helpers.browser import Browser, OtherNode, choose_commission, log_in
from helpers.logout import (
    back_to_application,
    result_lists,
    text,
    verify_redirect_signature,
    walk_logout,
)
from helpers.redis import RedisServer
from helpers.stack import Stack, start_second_node, start_stack
from lxml import etree
from saml2 import BINDING_HTTP_REDIRECT
from saml2.client import Saml2Client
from saml2.config import SPConfig
from saml2.saml import AuthnContextClassRef
from saml2.samlp import RequestedAuthnContext

from satosa_efos.processes import stop_all
from satosa_efos.sessions.store import open_store
from satosa_efos.simulators import demo_sp

pytestmark = pytest.mark.flow

SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"
SSO_COOKIE = "satosa_efos_sso"
EVA = ("eva", "eva.sjoberg@goteborg.se")
CECILIA = ("cecilia", "cecilia.holm@boras.se")


@dataclass
class SsoStack:
    stack: Stack
    store_uri: str

    @property
    def urls(self):
        return self.stack.urls

    def __getattr__(self, name):
        return getattr(self.stack, name)


@pytest.fixture(scope="module", params=["sqlite", "redis"])
def sso(request, tmp_path_factory):
    """The demo (two proxy workers) with its SSO sessions in SQLite, then in Redis."""
    tmp = tmp_path_factory.mktemp(f"sso-{request.param}")
    redis = RedisServer(tmp / "redis").start() if request.param == "redis" else None
    env = {"SATOSA_EFOS_SSO_STORE": redis.url} if redis else {}
    stack = start_stack(tmp, workers=2, proxy_env=env)
    store_uri = redis.url if redis else f"sqlite:{stack.demo_dir / 'sso.sqlite3'}"
    yield SsoStack(stack, store_uri)
    stop_all(stack.servers)
    if redis:
        redis.stop()


# -- helpers ------------------------------------------------------------------------------------


def login_at_first_application(sso, browser: Browser, who=EVA) -> requests.Response:
    page = log_in(sso.stack, browser, *who)
    assert page.url.startswith(f"{sso.urls.app}/sp/loggedin"), page.url
    return page


def open_second_application(sso, browser: Browser) -> requests.Response:
    """Göteborg's application: its start page, then its login button."""
    return browser.submit(browser.get(f"{sso.urls.app2}/"))


def session_cookie(browser: Browser):
    return next(c for c in browser.session.cookies if c.name == SSO_COOKIE)


def second_app_request(sso, *, force=False, loa=()) -> str:
    """An AuthnRequest of the second application as its SP would send it (HTTP-Redirect)."""
    keys = sso.demo_dir / "keys"
    config = demo_sp.sp_config(
        sso.urls.app2,
        keys / "demo-app-2.key",
        keys / "demo-app-2.crt",
        [sso.demo_dir / "metadata" / "proxy" / "idp.xml"],
    )
    client = Saml2Client(SPConfig().load(config))
    kwargs = {}
    if force:
        kwargs["force_authn"] = "true"
    if loa:
        kwargs["requested_authn_context"] = RequestedAuthnContext(
            authn_context_class_ref=[AuthnContextClassRef(text=uri) for uri in loa],
            comparison="exact",
        )
    _, info = client.prepare_for_authenticate(
        entityid=f"{sso.urls.proxy}/metadata/idp.xml",
        relay_state="/",
        binding=BINDING_HTTP_REDIRECT,
        **kwargs,
    )
    return dict(info["headers"])["Location"]


def answered_at_once(page: requests.Response, acs: str) -> bool:
    """The proxy answered with an assertion for ``acs`` (the POST binding page), no login."""
    soup = BeautifulSoup(page.text, "html.parser")
    form = soup.find("form")
    return bool(form and form.get("action") == acs and soup.find(attrs={"name": "SAMLResponse"}))


def asks_for_organisation(page: requests.Response) -> bool:
    return page.status_code == 200 and 'name="org"' in page.text


def proxy_certificate(sso) -> x509.Certificate:
    pem = (sso.demo_dir / "keys" / "frontend.crt").read_bytes()
    return x509.load_pem_x509_certificate(pem)


# -- single sign-on -----------------------------------------------------------------------------


def test_second_application_of_another_organisation_needs_no_new_login(sso):
    browser = Browser()
    login_at_first_application(sso, browser)
    first = browser.get(f"{sso.urls.app}/sp/attributes.json").json()
    seen = len(browser.redirects)

    page = open_second_application(sso, browser)

    assert page.url.startswith(f"{sso.urls.app2}/sp/loggedin"), page.url
    assert not any(
        url.startswith(tuple(sso.urls.idps.values())) for url in browser.redirects[seen:]
    )
    assert "routing/select" not in " ".join(p.url for p in browser.posted[-3:])
    second = browser.get(f"{sso.urls.app2}/sp/attributes.json").json()
    assert second["attributes"]["givenName"] == ["Eva"]
    assert second["attributes"]["employeeHsaId"] == ["SE2120001355-E000000000101"]
    assert second["authn_context_class_ref"] == first["authn_context_class_ref"]
    assert second["authenticating_authorities"] == first["authenticating_authorities"]
    # Each application its own pairwise NameID and SessionIndex.
    assert second["name_id"] != first["name_id"]
    assert second["session_index"] and second["session_index"] != first["session_index"]
    # The first application's commission was not copied: this one needs none (HSA per app).
    assert "commissionName" in first["attributes"]
    assert "commissionName" not in second["attributes"]
    # The proxy's session page names both applications.
    summary = text(browser.get(f"{sso.urls.proxy}/session"))
    assert "Inloggad som Eva Sjöberg via Göteborgs Stad" in summary
    assert "Demoapplikation" in summary and "Omsorgsjournalen" in summary


def test_session_cookie_is_opaque_and_http_only(sso):
    browser = Browser()
    login_at_first_application(sso, browser)
    cookie = session_cookie(browser)
    assert len(cookie.value) >= 43 and "Eva" not in cookie.value
    assert cookie.path == "/" and cookie.has_nonstandard_attr("HttpOnly")
    assert not cookie.secure  # conf/demo: plain http on loopback; production sets Secure
    assert open_store(sso.store_uri).load(cookie.value) is not None


def test_force_authn_asks_for_a_new_login(sso):
    browser = Browser()
    login_at_first_application(sso, browser)
    acs = f"{sso.urls.app2}/sp/acs"
    assert answered_at_once(browser.get(second_app_request(sso)), acs)  # the control
    assert asks_for_organisation(browser.get(second_app_request(sso, force=True)))


def test_another_level_of_assurance_asks_for_a_new_login(sso):
    browser = Browser()
    login_at_first_application(sso, browser)
    acs = f"{sso.urls.app2}/sp/acs"
    loa3 = "http://id.elegnamnden.se/loa/1.0/loa3"
    assert answered_at_once(browser.get(second_app_request(sso, loa=[loa3])), acs)
    # Exact, DOMAIN.md §5: a loa3 session answers neither loa2 nor loa4.
    for other in ("http://id.elegnamnden.se/loa/1.0/loa2", "http://id.elegnamnden.se/loa/1.0/loa4"):
        assert asks_for_organisation(browser.get(second_app_request(sso, loa=[other])))


def test_expired_session_asks_for_a_new_login(sso):
    browser = Browser()
    login_at_first_application(sso, browser)
    store = open_store(sso.store_uri)
    value = session_cookie(browser).value
    session = store.load(value)
    session.last_seen = time.time() - session.idle_timeout - 1  # 30 minutes idle
    store.save(session)
    assert store.load(value) is None
    assert asks_for_organisation(browser.get(second_app_request(sso)))


def test_organisation_the_application_does_not_admit_asks_for_a_new_login(sso):
    browser = Browser()
    login_at_first_application(sso, browser, CECILIA)  # Borås; the second application: no
    page = open_second_application(sso, browser)
    assert asks_for_organisation(page)
    offered = re.findall(r'name="org" value="([a-z-]+)"', page.text)
    assert "boras" not in offered


def test_oidc_application_gets_the_session_too_with_a_sid(sso):
    browser = Browser()
    login_at_first_application(sso, browser)
    seen = len(browser.redirects)
    # The OIDC application needs one commission; Eva has two: a choice, not a login.
    page = choose_commission(browser, browser.submit(browser.get(f"{sso.urls.rp}/")))
    assert page.url.startswith(f"{sso.urls.rp}/rp/loggedin"), page.url
    assert not any(
        url.startswith(tuple(sso.urls.idps.values())) for url in browser.redirects[seen:]
    )
    claims = browser.get(f"{sso.urls.rp}/rp/claims.json").json()["id_token"]
    first = browser.get(f"{sso.urls.app}/sp/attributes.json").json()
    assert claims["sid"] and len(claims["sid"]) >= 40
    assert claims["acr"] == "http://id.sambi.se/loa/loa3"
    assert first["authn_context_class_ref"] == "http://id.sambi.se/loa/loa3"


# -- single logout --------------------------------------------------------------------------------


@pytest.mark.parametrize("binding", ["redirect", "post"])
def test_logout_at_one_application_logs_out_of_the_other_and_of_the_proxy(sso, binding):
    browser = Browser()
    login_at_first_application(sso, browser)
    open_second_application(sso, browser)
    second = browser.get(f"{sso.urls.app2}/sp/attributes.json").json()
    seen = len(browser.redirects)

    page = browser.follow(browser.get(f"{sso.urls.app}/sp/logout?binding={binding}"))
    assert "Du loggas ut" in text(page)
    done = walk_logout(browser, page)

    assert result_lists(done)["logged-out"] == [
        "Demoapplikation",
        "Omsorgsjournalen, Göteborgs Stad (demo)",
    ]
    # The second application received a signed LogoutRequest for its NameID and SessionIndex;
    # the signature is verified here independently of the proxy's and pysaml2's code.
    to_second = next(
        u for u in browser.redirects[seen:] if u.startswith(f"{sso.urls.app2}/sp/slo/redirect")
    )
    request = etree.fromstring(
        verify_redirect_signature(to_second, proxy_certificate(sso), "SAMLRequest")
    )
    assert request.tag == f"{{{SAMLP}}}LogoutRequest"
    assert request.get("Destination") == f"{sso.urls.app2}/sp/slo/redirect"
    assert request.findtext(f"{{{SAML}}}NameID") == second["name_id"]
    assert request.findtext(f"{{{SAMLP}}}SessionIndex") == second["session_index"]
    received = browser.get(f"{sso.urls.app2}/sp/logout.json").json()
    assert received["received"] == "LogoutRequest" and received["signature_verified"]
    assert received["matched_login"]
    assert browser.get(f"{sso.urls.app2}/sp/attributes.json").status_code == 401
    # The initiating application gets its signed LogoutResponse (Success) and is logged out.
    back = back_to_application(browser, done)
    assert back.url.startswith(f"{sso.urls.app}/"), back.url
    answer = browser.get(f"{sso.urls.app}/sp/logout.json").json()
    assert answer["received"] == "LogoutResponse" and answer["status"] == [SUCCESS]
    assert browser.get(f"{sso.urls.app}/sp/attributes.json").status_code == 401
    # ... and of the proxy: no session any more, the next application asks for a login.
    assert "Du är inte inloggad" in text(browser.get(f"{sso.urls.proxy}/session"))
    assert asks_for_organisation(open_second_application(sso, browser))


def test_logout_tells_the_oidc_application_front_channel(sso):
    browser = Browser()
    login_at_first_application(sso, browser)
    choose_commission(browser, browser.submit(browser.get(f"{sso.urls.rp}/")))
    sid = browser.get(f"{sso.urls.rp}/rp/claims.json").json()["id_token"]["sid"]

    page = browser.follow(browser.get(f"{sso.urls.app}/sp/logout"))
    frames = [f["src"] for f in BeautifulSoup(page.text, "html.parser").find_all("iframe")]
    rp_frame = next(src for src in frames if src.startswith(f"{sso.urls.rp}/"))
    query = parse_qs(urlsplit(rp_frame).query)
    assert query == {"iss": [sso.urls.proxy], "sid": [sid]}  # Front-Channel Logout 1.0 §3
    done = walk_logout(browser, page)

    assert result_lists(done)["notified"] == ["Demoapplikation (OIDC)"]
    assert browser.get(f"{sso.urls.rp}/rp/logout.json").json()["matched_login"]
    assert browser.get(f"{sso.urls.rp}/rp/claims.json").status_code == 401


def test_rp_initiated_logout_logs_out_of_the_saml_applications(sso):
    browser = Browser()
    login_at_first_application(sso, browser)
    open_second_application(sso, browser)
    choose_commission(browser, browser.submit(browser.get(f"{sso.urls.rp}/")))

    page = browser.get(f"{sso.urls.rp}/rp/logout")  # id_token_hint with this session's sid
    assert page.url.startswith(f"{sso.urls.proxy}/oidc/end_session")
    done = walk_logout(browser, page)

    assert sorted(result_lists(done)["logged-out"]) == [
        "Demoapplikation",
        "Demoapplikation (OIDC)",
        "Omsorgsjournalen, Göteborgs Stad (demo)",
    ]
    back = back_to_application(browser, done)
    assert back.url.startswith(f"{sso.urls.rp}/")
    assert browser.get(f"{sso.urls.rp}/rp/logout.json").json() == {
        "received": "end_session",
        "state_ok": True,
    }
    for app in (sso.urls.app, sso.urls.app2):
        assert browser.get(f"{app}/sp/logout.json").json()["matched_login"]


def test_end_session_never_redirects_to_an_unregistered_address(sso):
    browser = Browser()
    login_at_first_application(sso, browser)
    page = browser.get(
        f"{sso.urls.proxy}/oidc/end_session?client_id=demo-oidc-app"
        "&post_logout_redirect_uri=https%3A%2F%2Fevil.example%2F"
    )
    assert page.status_code == 400 and page.url.startswith(f"{sso.urls.proxy}/oidc/end_session")
    assert not any("evil.example" in url for url in browser.redirects)
    assert "Inloggad som" in text(browser.get(f"{sso.urls.proxy}/session"))


def test_logout_without_proof_asks_the_user_first(sso):
    browser = Browser()
    login_at_first_application(sso, browser)
    # RP-initiated logout without id_token_hint (§6: could be anyone's): a question, no logout.
    ask = browser.get(
        f"{sso.urls.proxy}/oidc/end_session?client_id=demo-oidc-app&post_logout_redirect_uri="
        f"{sso.urls.rp}/rp/loggedout&state=s1"
    )
    assert "Logga ut?" in text(ask)
    # Another site's form without the session's token: still only the question.
    forged = browser.session.post(f"{sso.urls.proxy}/logout", data={"token": "x"}, timeout=10)
    assert "Logga ut?" in text(forged)
    assert "Inloggad som" in text(browser.get(f"{sso.urls.proxy}/session"))
    # The user says yes on the proxy's own page.
    done = walk_logout(browser, browser.submit(ask, having="token"))
    back = BeautifulSoup(done.text, "html.parser").find(id="logout-back")["href"]
    assert back == f"{sso.urls.rp}/rp/loggedout?state=s1"
    assert "Du är inte inloggad" in text(browser.get(f"{sso.urls.proxy}/session"))


def test_log_out_everywhere_from_the_session_page(sso):
    browser = Browser()
    login_at_first_application(sso, browser)
    open_second_application(sso, browser)
    page = browser.get(f"{sso.urls.proxy}/session")
    done = walk_logout(browser, browser.submit(page, having="token"))
    assert result_lists(done)["logged-out"] == [
        "Demoapplikation",
        "Omsorgsjournalen, Göteborgs Stad (demo)",
    ]
    assert browser.get(f"{sso.urls.app}/sp/attributes.json").status_code == 401


def test_unsigned_logout_request_logs_out_nothing(sso):
    browser = Browser()
    login_at_first_application(sso, browser)
    first = browser.get(f"{sso.urls.app}/sp/attributes.json").json()
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    xml = (
        f'<samlp:LogoutRequest xmlns:samlp="{SAMLP}" xmlns:saml="{SAML}" ID="_forged" '
        f'Version="2.0" IssueInstant="{now}" Destination="{sso.urls.proxy}/idp/slo/redirect">'
        f"<saml:Issuer>{sso.urls.app}/sp</saml:Issuer><saml:NameID>{first['name_id']}"
        "</saml:NameID></samlp:LogoutRequest>"
    )
    deflater = zlib.compressobj(9, zlib.DEFLATED, -15)
    encoded = base64.b64encode(deflater.compress(xml.encode()) + deflater.flush()).decode()
    page = browser.session.get(
        f"{sso.urls.proxy}/idp/slo/redirect", params={"SAMLRequest": encoded}, timeout=10
    )
    assert page.status_code == 400 and "Felaktig utloggningsbegäran" in page.text
    assert "Inloggad som" in text(browser.get(f"{sso.urls.proxy}/session"))


# -- several nodes, and a store outage ------------------------------------------------------------


@pytest.fixture(scope="module")
def shared_redis(tmp_path_factory):
    """Two proxy instances (two workers each) on different ports, one Redis between them."""
    tmp = tmp_path_factory.mktemp("sso-nodes")
    redis = RedisServer(tmp / "redis").start()
    stack = start_stack(tmp, workers=2, proxy_env={"SATOSA_EFOS_SSO_STORE": redis.url})
    node = start_second_node(stack)
    yield SsoStack(stack, redis.url), node, redis
    node.stop()
    stop_all(stack.servers)
    redis.stop()


def test_two_proxy_instances_sharing_redis_continue_each_others_sessions(shared_redis):
    sso, node, _ = shared_redis
    browser = Browser()
    login_at_first_application(sso, browser)  # at the first instance
    before = Path(node.log).read_text(errors="replace")
    browser.session.mount(sso.urls.proxy, OtherNode(urlsplit(sso.urls.proxy).port, node.port))

    page = open_second_application(sso, browser)  # at the second instance

    assert page.url.startswith(f"{sso.urls.app2}/sp/loggedin"), page.url
    answered = Path(node.log).read_text(errors="replace")[len(before) :]
    assert "answered from the SSO session" in answered


def test_stopped_redis_means_a_fresh_login_and_no_error(shared_redis):
    sso, _, redis = shared_redis
    browser = Browser()
    login_at_first_application(sso, browser)
    redis.stop()

    page = open_second_application(sso, browser)

    assert asks_for_organisation(page), page.text  # a fresh login, not an error page
    idp_page = browser.choose_method(browser.submit(page, having="email", email=EVA[1]))
    finished = browser.submit(idp_page, username="eva", password="demo")
    assert finished.url.startswith(f"{sso.urls.app2}/sp/loggedin"), finished.url
    assert "SSO store unavailable" in sso.logs()
