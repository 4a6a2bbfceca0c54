"""Single logout at the organisation's own IdP (issue 7, docs/sso.md "Upstream logout"), over real
HTTP: the demo with two proxy workers; Göteborg's demo IdP has single logout, Borås' metadata
lists no SingleLogoutService (the IdP itself is the same program).

Logging out at an application ends the proxy's session, tells the other applications, and then
sends the browser to the IdP the user logged in at with a signed LogoutRequest; the IdP ends its
own session and answers. An IdP can also start: the user logs out there, and the proxy ends its
session and tells the applications.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from bs4 import BeautifulSoup
from cryptography import x509
from helpers.browser import Browser, choose_commission, end_sso_session, log_in
from helpers.logout import (
    back_to_application,
    result_lists,
    text,
    verify_redirect_signature,
    walk_logout,
)
from helpers.stack import start_stack
from lxml import etree

from satosa_efos import demo
from satosa_efos.logout import saml as slo
from satosa_efos.logout.saml import PARTIAL_LOGOUT, SAML, SAMLP, SUCCESS
from satosa_efos.processes import stop_all
from satosa_efos.saml.response import ResponseBuilder
from satosa_efos.simulators import demo_idp
from satosa_efos.xmlsec.inprocess import InProcessBackend

pytestmark = pytest.mark.flow

EVA = ("eva", "eva.sjoberg@goteborg.se")
CECILIA = ("cecilia", "cecilia.holm@boras.se")


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("upstream-slo")
    urls = demo.DemoUrls.free()

    def boras_without_single_logout(demo_dir: Path) -> None:
        keys = demo_dir / "keys"
        demo_idp.write_metadata(
            urls.idps["boras"],
            keys / "demo-idp-boras.key",
            keys / "demo-idp-boras.crt",
            demo_dir / "metadata" / "idp" / "boras.xml",
            single_logout=False,
        )

    running = start_stack(tmp, workers=2, urls=urls, prepared=boras_without_single_logout)
    yield running
    stop_all(running.servers)


# -- helpers ------------------------------------------------------------------------------------


def sp_entity_id(stack) -> str:
    return f"{stack.urls.proxy}/metadata/sp.xml"


def certificate(stack, name: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate((stack.demo_dir / "keys" / f"{name}.crt").read_bytes())


def upstream_line(page: requests.Response):
    """The result page's line about the organisation's login (None when there is none)."""
    return BeautifulSoup(page.text, "html.parser").find(id="upstream")


def idp_session(browser: Browser, idp: str) -> requests.Response:
    return browser.get(f"{idp}/idp/session.json")


def to_idp_login(stack, browser: Browser, email: str) -> requests.Response:
    """A new login at the first application, as far as the organisation's IdP."""
    picker = browser.submit(browser.get(f"{stack.urls.app}/"))
    return browser.choose_method(browser.submit(picker, having="email", email=email))


@dataclass
class Leaving:
    """Where the proxy sends the browser to the IdP: the URL, its verified LogoutRequest and
    the RelayState (the logout's id)."""

    url: str
    request: etree._Element
    relay_state: str


def stop_before_the_idp(stack, browser: Browser) -> Leaving:
    """Log out at the first application (its only application) and stop where the proxy sends
    the browser to the IdP."""
    to_proxy = browser.session.get(f"{stack.urls.app}/sp/logout", allow_redirects=False)
    assert to_proxy.status_code == 303, to_proxy.text
    to_idp = browser.session.get(to_proxy.headers["Location"], allow_redirects=False)
    assert to_idp.status_code == 303, to_idp.text
    url = to_idp.headers["Location"]
    request = verify_redirect_signature(url, certificate(stack, "backend"), "SAMLRequest")
    relay_state = parse_qs(urlsplit(url).query)["RelayState"][0]
    return Leaving(url, etree.fromstring(request), relay_state)


def signed_as(stack, name: str, issuer: str) -> slo.LogoutMessages:
    """Logout messages signed with a key of the demo directory (e.g. the IdP's), as a test's
    own sender: what an IdP with that key could send (HTTP-POST ones signed in-process)."""
    keys = stack.demo_dir / "keys"
    builder = ResponseBuilder(
        SimpleNamespace(crypto=InProcessBackend()), issuer, keys / f"{name}.key",
        certificate(stack, name),
    )  # fmt: skip
    return slo.LogoutMessages(builder)


def unsigned(url: str) -> str:
    return re.sub(r"&(SigAlg|Signature)=[^&]*", "", url)


# -- the proxy logs the user out at the IdP -----------------------------------------------------


def test_the_proxy_sp_metadata_lists_its_single_logout_service(stack):
    md = "urn:oasis:names:tc:SAML:2.0:metadata"
    wanted = {
        (slo.HTTP_REDIRECT, f"{stack.urls.proxy}/orgidp/slo/redirect"),
        (slo.HTTP_POST, f"{stack.urls.proxy}/orgidp/slo/post"),
    }
    # What `satosa-efos metadata` writes for the IdPs' administrators (docs/metadata.md).
    published = stack.demo_dir / "metadata" / "proxy" / "orgidp.xml"
    services = etree.fromstring(published.read_bytes()).findall(
        f"{{{md}}}SPSSODescriptor/{{{md}}}SingleLogoutService"
    )
    assert {(e.get("Binding"), e.get("Location")) for e in services} == wanted


def test_logout_at_the_application_logs_out_at_the_organisation_idp_too(stack):
    browser = Browser()
    idp = stack.urls.idps["goteborg"]
    assert log_in(stack, browser, *EVA).url.startswith(f"{stack.urls.app}/sp/loggedin")
    given = idp_session(browser, idp).json()["sps"][sp_entity_id(stack)]
    seen = len(browser.redirects)

    done = browser.follow(browser.get(f"{stack.urls.app}/sp/logout"))

    # The IdP received a LogoutRequest signed with the proxy's SP key (checked here with the
    # certificate alone), naming its NameID exactly as it issued it and the SessionIndex.
    to_idp = next(u for u in browser.redirects[seen:] if u.startswith(f"{idp}/idp/slo/redirect"))
    request = etree.fromstring(
        verify_redirect_signature(to_idp, certificate(stack, "backend"), "SAMLRequest")
    )
    assert request.tag == f"{{{SAMLP}}}LogoutRequest"
    assert request.get("Destination") == f"{idp}/idp/slo/redirect"
    assert request.findtext(f"{{{SAML}}}Issuer") == sp_entity_id(stack)
    name_id = request.find(f"{{{SAML}}}NameID")
    assert name_id.text == given["name_id"]
    assert name_id.get("Format") == given["name_id_format"]
    assert name_id.get("NameQualifier") == given["name_qualifier"] == f"{idp}/idp"
    assert name_id.get("SPNameQualifier") == given["sp_name_qualifier"] == sp_entity_id(stack)
    assert request.findtext(f"{{{SAMLP}}}SessionIndex") == given["session_index"]
    received = browser.get(f"{idp}/idp/logout.json").json()
    assert received["received"] == "LogoutRequest" and received["signature_verified"]
    assert received["matched_session"]
    # Its LogoutResponse came back to the proxy's SP, and the result page says so.
    assert any(
        u.startswith(f"{stack.urls.proxy}/orgidp/slo/redirect?SAMLResponse=")
        for u in browser.redirects[seen:]
    )
    assert done.url.startswith(f"{stack.urls.proxy}/orgidp/slo/redirect")
    assert "Du är utloggad" in text(done) and "inte från allt" not in text(done)
    assert result_lists(done)["logged-out"] == ["Demoapplikation"]
    line = upstream_line(done)
    assert line["data-state"] == "ok" and line.get_text() == "Göteborgs Stad: utloggad."
    # The application gets its LogoutResponse: Success, nothing left open.
    back_to_application(browser, done)
    answer = browser.get(f"{stack.urls.app}/sp/logout.json").json()
    assert answer["received"] == "LogoutResponse" and answer["status"] == [SUCCESS]

    # The IdP's session is gone: a new login at the application asks for the password again.
    assert idp_session(browser, idp).status_code == 401
    idp_page = to_idp_login(stack, browser, EVA[1])
    assert idp_page.url.startswith(idp)
    assert 'id="login"' in idp_page.text and 'id="continue"' not in idp_page.text
    page = choose_commission(browser, browser.submit(idp_page, username="eva", password="demo"))
    assert page.url.startswith(f"{stack.urls.app}/sp/loggedin"), page.url


def test_an_idp_without_single_logout_is_named_as_not_logged_out(stack):
    browser = Browser()
    idp = stack.urls.idps["boras"]
    assert log_in(stack, browser, *CECILIA).url.startswith(f"{stack.urls.app}/sp/loggedin")
    seen = len(browser.redirects)

    done = browser.follow(browser.get(f"{stack.urls.app}/sp/logout"))

    assert not any(u.startswith(idp) for u in browser.redirects[seen:])
    assert "Du är utloggad – men inte från allt" in text(done)
    line = upstream_line(done)
    assert line["data-state"] == "unsupported"
    assert line.get_text().startswith("Borås Stad: inloggningen där avslutades inte")
    assert "Stäng webbläsaren" in text(done)
    back_to_application(browser, done)
    answer = browser.get(f"{stack.urls.app}/sp/logout.json").json()
    assert answer["status"] == [SUCCESS, PARTIAL_LOGOUT]
    # The proxy's session ended; the IdP's did not: it still offers to continue without a
    # password (the control of the previous test's "asks for the password again").
    assert "Du är inte inloggad" in text(browser.get(f"{stack.urls.proxy}/session"))
    assert idp_session(browser, idp).status_code == 200
    assert 'id="continue"' in to_idp_login(stack, browser, CECILIA[1]).text


def test_the_idp_refusing_is_shown_with_its_status(stack):
    browser = Browser()
    idp = stack.urls.idps["goteborg"]
    log_in(stack, browser, *EVA)
    # The IdP's session is gone already (e.g. expired there): it answers UnknownPrincipal.
    for cookie in [c for c in browser.session.cookies if c.name.startswith("demo_idp_session")]:
        browser.session.cookies.clear(cookie.domain, cookie.path, cookie.name)

    done = browser.follow(browser.get(f"{stack.urls.app}/sp/logout"))

    line = upstream_line(done)
    assert line["data-state"] == "status"
    assert line.get_text() == (
        "Göteborgs Stad: avböjde utloggningen (Requester / UnknownPrincipal)."
    )
    assert browser.get(f"{idp}/idp/logout.json").json()["matched_session"] is False
    assert "Du är inte inloggad" in text(browser.get(f"{stack.urls.proxy}/session"))


def test_a_forged_or_misdirected_logout_response_is_refused_and_the_session_stays_ended(stack):
    browser = Browser()
    idp = stack.urls.idps["goteborg"]
    log_in(stack, browser, *EVA)
    leaving = stop_before_the_idp(stack, browser)
    to_idp, request, relay_state = leaving.url, leaving.request, leaving.relay_state
    # Whatever comes back, the proxy's session ended before the browser left.
    assert "Du är inte inloggad" in text(browser.get(f"{stack.urls.proxy}/session"))
    endpoint = slo.SloEndpoint(slo.HTTP_REDIRECT, f"{stack.urls.proxy}/orgidp/slo/redirect")
    now = dt.datetime.now(dt.UTC)
    as_idp = signed_as(stack, "demo-idp-goteborg", f"{idp}/idp")
    as_other = signed_as(stack, "demo-app", f"{idp}/idp")  # a key not in the IdP's metadata
    forged = {
        "unsigned": unsigned(as_idp.logout_response("_f1", endpoint, request.get("ID"),
                                                    relay_state, now).url),
        "another request": as_idp.logout_response("_f2", endpoint, "_another", relay_state,
                                                  now).url,
        "another key": as_other.logout_response("_f3", endpoint, request.get("ID"),
                                                relay_state, now).url,
    }  # fmt: skip

    for why, url in forged.items():
        page = browser.get(url)
        line = upstream_line(page)
        assert line is not None and line["data-state"] == "bad", why
        error_id = BeautifulSoup(page.text, "html.parser").find(id="upstream-error-id").text
        assert re.fullmatch(r"[0-9a-f]{12}", error_id), why
        assert error_id in stack.logs(), why  # the same id in the log
        assert result_lists(page)["logged-out"] == ["Demoapplikation"], why
        assert "Du är inte inloggad" in text(browser.get(f"{stack.urls.proxy}/session")), why
    # A LogoutResponse to no logout in progress is a refusal page; nothing is noted.
    stray = as_idp.logout_response("_f4", endpoint, request.get("ID"), "no-such-logout", now)
    refused = browser.get(stray.url)
    assert refused.status_code == 400 and "Felaktig utloggningsbegäran" in refused.text

    # The IdP's own answer still counts after the refusals.
    done = browser.get(to_idp)
    assert upstream_line(done)["data-state"] == "ok"
    # The page of results was recorded before the browser left: it can be shown again.
    again = browser.session.post(
        f"{stack.urls.proxy}/logout/done", data={"l": relay_state}, timeout=10
    )
    assert result_lists(again)["logged-out"] == ["Demoapplikation"]
    assert upstream_line(again)["data-state"] == "ok"


def test_an_idp_answering_by_http_post_is_believed_when_it_signed(stack):
    browser = Browser()
    idp = stack.urls.idps["goteborg"]
    log_in(stack, browser, *EVA)
    leaving = stop_before_the_idp(stack, browser)
    request, relay_state = leaving.request, leaving.relay_state
    endpoint = slo.SloEndpoint(slo.HTTP_POST, f"{stack.urls.proxy}/orgidp/slo/post")
    now = dt.datetime.now(dt.UTC)

    def post(messages: slo.LogoutMessages) -> requests.Response:
        answer = messages.logout_response("_p1", endpoint, request.get("ID"), relay_state, now)
        assert answer.url == endpoint.location and "SAMLResponse" in answer.fields
        return browser.session.post(answer.url, data=answer.fields, timeout=10)

    # An enveloped signature by a key the IdP's metadata does not hold: refused ...
    refused = post(signed_as(stack, "demo-app", f"{idp}/idp"))
    assert upstream_line(refused)["data-state"] == "bad"
    # ... by the IdP's key: believed.
    believed = post(signed_as(stack, "demo-idp-goteborg", f"{idp}/idp"))
    assert upstream_line(believed)["data-state"] == "ok"


def test_an_idp_that_never_answers_loses_no_results(stack):
    browser = Browser()
    log_in(stack, browser, *EVA)
    relay_state = stop_before_the_idp(stack, browser).relay_state

    # The browser never comes back from the IdP; the result page is still there, and says so.
    page = browser.session.post(
        f"{stack.urls.proxy}/logout/done", data={"l": relay_state}, timeout=10
    )

    assert result_lists(page)["logged-out"] == ["Demoapplikation"]
    line = upstream_line(page)
    assert line["data-state"] == "no_answer" and "svarade inte" in line.get_text()
    assert "Du är utloggad – men inte från allt" in text(page)


# -- the IdP logs the user out of the proxy ------------------------------------------------------


def test_logout_at_the_idp_ends_the_proxy_session_and_tells_the_applications(stack):
    browser = Browser()
    idp = stack.urls.idps["goteborg"]
    log_in(stack, browser, *EVA)
    second = browser.submit(browser.get(f"{stack.urls.app2}/"))
    assert second.url.startswith(f"{stack.urls.app2}/sp/loggedin"), second.url
    seen = len(browser.redirects)

    page = browser.get(f"{idp}/idp/logout")

    assert page.url.startswith(f"{stack.urls.proxy}/orgidp/slo/redirect?SAMLRequest=")
    assert "Du loggas ut" in text(page)
    done = walk_logout(browser, page)
    assert result_lists(done)["logged-out"] == [
        "Demoapplikation",
        "Omsorgsjournalen, Göteborgs Stad (demo)",
    ]
    assert upstream_line(done) is None  # the IdP is not asked again: it asked
    for app in (stack.urls.app, stack.urls.app2):
        assert browser.get(f"{app}/sp/logout.json").json()["matched_login"]
        assert browser.get(f"{app}/sp/attributes.json").status_code == 401
    assert "Du är inte inloggad" in text(browser.get(f"{stack.urls.proxy}/session"))
    # Back to the IdP with a LogoutResponse signed with the SP key, answering its request.
    request_url = next(u for u in browser.redirects[seen:] if "/orgidp/slo/redirect" in u)
    request_id = etree.fromstring(
        verify_redirect_signature(request_url, certificate(stack, "demo-idp-goteborg"),
                                  "SAMLRequest")
    ).get("ID")  # fmt: skip
    back = BeautifulSoup(done.text, "html.parser").find(id="logout-back")
    assert back.get_text(strip=True) == "Tillbaka till Göteborgs Stad"
    response = etree.fromstring(
        verify_redirect_signature(back["href"], certificate(stack, "backend"), "SAMLResponse")
    )
    assert response.get("InResponseTo") == request_id
    assert response.get("Destination") == f"{idp}/idp/slo/redirect"
    final = back_to_application(browser, done)
    assert final.url.startswith(f"{idp}/idp/slo/redirect") and "Utloggad från" in text(final)
    answer = browser.get(f"{idp}/idp/logout.json").json()
    assert answer["received"] == "LogoutResponse" and answer["status"] == [SUCCESS]


def test_an_idp_logout_request_by_http_post_is_verified_and_ends_the_session(stack):
    browser = Browser()
    idp = stack.urls.idps["goteborg"]
    log_in(stack, browser, *EVA)

    # The IdP posts a LogoutRequest with pysaml2's enveloped signature.
    page = browser.follow(browser.get(f"{idp}/idp/logout?binding=post"))

    assert browser.last_post_with("SAMLRequest").url == f"{stack.urls.proxy}/orgidp/slo/post"

    assert "Du loggas ut" in text(page)
    done = walk_logout(browser, page)
    assert result_lists(done)["logged-out"] == ["Demoapplikation"]
    assert "Du är inte inloggad" in text(browser.get(f"{stack.urls.proxy}/session"))
    final = back_to_application(browser, done)
    assert "Utloggad från" in text(final)
    assert browser.get(f"{idp}/idp/logout.json").json()["status"] == [SUCCESS]


def test_an_idp_logout_request_without_the_proxy_cookie_is_answered_success(stack):
    browser = Browser()
    idp = stack.urls.idps["goteborg"]
    log_in(stack, browser, *EVA)
    end_sso_session(browser)  # this browser brings the proxy nothing of that login

    page = browser.get(f"{idp}/idp/logout")

    assert page.url.startswith(f"{idp}/idp/slo/redirect?SAMLResponse=")
    answer = browser.get(f"{idp}/idp/logout.json").json()
    assert answer["received"] == "LogoutResponse" and answer["status"] == [SUCCESS]
    # Nothing of it here: the application was not told.
    assert browser.get(f"{stack.urls.app}/sp/attributes.json").status_code == 200


def test_an_unsigned_logout_request_from_the_idp_logs_out_nothing(stack):
    browser = Browser()
    idp = stack.urls.idps["goteborg"]
    log_in(stack, browser, *EVA)
    given = idp_session(browser, idp).json()["sps"][sp_entity_id(stack)]
    endpoint = slo.SloEndpoint(slo.HTTP_REDIRECT, f"{stack.urls.proxy}/orgidp/slo/redirect")
    name_id = slo.QualifiedNameId(given["name_id"], given["name_id_format"],
                                  given["name_qualifier"], given["sp_name_qualifier"])  # fmt: skip
    request = signed_as(stack, "demo-idp-goteborg", f"{idp}/idp").logout_request(
        "_u1", endpoint, name_id, given["session_index"], "x", dt.datetime.now(dt.UTC)
    )

    page = browser.get(unsigned(request.url))

    assert page.status_code == 400 and "Felaktig utloggningsbegäran" in page.text
    assert "Inloggad som Eva Sjöberg" in text(browser.get(f"{stack.urls.proxy}/session"))
    # The same request signed with the IdP's key does end it (the control).
    page = browser.get(request.url)
    assert "Du loggas ut" in text(page)
    assert "Du är inte inloggad" in text(browser.get(f"{stack.urls.proxy}/session"))
    assert result_lists(walk_logout(browser, page))["logged-out"] == ["Demoapplikation"]
