"""The demo SP and the demo organisation IdP talk to each other directly, with no proxy between.

Both run in-process as WSGI apps driven by werkzeug's test client; each test browser is a client
of its own (its own cookies), and the HTML auto-POST forms are followed by hand.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass

import pytest
from bs4 import BeautifulSoup
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.saml import (
    NAMEID_FORMAT_EMAILADDRESS,
    NAMEID_FORMAT_PERSISTENT,
    NAMEID_FORMAT_TRANSIENT,
)
from werkzeug.test import Client

from satosa_efos.demo import DEMO_IDPS
from satosa_efos.keys import ensure_keypair
from satosa_efos.simulators import demo_idp, demo_sp
from satosa_efos.simulators.demo_users import load_demo_users

IDP_BASE = "http://idp.demo.test"
SP_BASE = "http://app.demo.test"
LOA2 = "http://id.elegnamnden.se/loa/1.0/loa2"
LOA3 = "http://id.elegnamnden.se/loa/1.0/loa3"
DEMO_BANNER = "Demo – inte en riktig tjänst"


@dataclass
class Peers:
    idp_app: demo_idp.DemoIdP
    sp_app: demo_sp.DemoSP
    #: Göteborg's demo IdP as ``satosa-efos demo`` runs it: its title, its users only.
    goteborg_idp_app: demo_idp.DemoIdP

    def browser(self) -> tuple[Client, Client]:
        """One browser: a cookie jar for the SP and one for the IdP."""
        return Client(self.sp_app), Client(self.idp_app)


@pytest.fixture(scope="module")
def peers(tmp_path_factory: pytest.TempPathFactory) -> Peers:
    directory = tmp_path_factory.mktemp("demo-peers")
    idp_key, idp_cert = ensure_keypair(directory, "idp", "demo idp")
    sp_key, sp_cert = ensure_keypair(directory, "sp", "demo sp")
    idp_metadata = demo_idp.write_metadata(IDP_BASE, idp_key, idp_cert, directory / "idp.xml")
    sp_metadata = demo_sp.write_metadata(SP_BASE, sp_key, sp_cert, directory / "sp.xml")
    return Peers(
        idp_app=demo_idp.make_app(IDP_BASE, idp_key, idp_cert, [sp_metadata]),
        sp_app=demo_sp.make_app(SP_BASE, sp_key, sp_cert, [idp_metadata]),
        goteborg_idp_app=demo_idp.make_app(
            IDP_BASE,
            idp_key,
            idp_cert,
            [sp_metadata],
            organisation="goteborg",
            title=DEMO_IDPS["goteborg"],
        ),
    )


def form_fields(html: str, form_id: str | None = None) -> tuple[str, dict[str, str]]:
    """The action and the named inputs of a page's form (the last one unless ``form_id``)."""
    soup = BeautifulSoup(html, "html.parser")
    form = soup.find("form", id=form_id) if form_id else soup.find_all("form")[-1]
    assert form is not None, html
    inputs = {field["name"]: field.get("value", "") for field in form.find_all("input")}
    return form["action"], inputs


def path_of(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url)


def start_login(sp: Client) -> dict[str, str]:
    """Press "Logga in" at the SP; return the auto-POSTed AuthnRequest fields."""
    return start_login_in(sp, "sv")


def start_login_in(sp: Client, lang: str) -> dict[str, str]:
    page = sp.post("/sp/login", data={"lang": lang})
    assert page.status_code == 200
    action, fields = form_fields(page.text, "autopost")
    assert action == f"{IDP_BASE}/idp/sso/post"
    return fields


def log_in_at_idp(idp: Client, request_fields: dict[str, str], username: str, password: str):
    """Show the IdP's login form for the request, then submit the credentials."""
    login_page = idp.post("/idp/sso/post", data=request_fields)
    assert login_page.status_code == 200, login_page.text
    action, fields = form_fields(login_page.text)
    fields.update(username=username, password=password)
    return idp.post(path_of(action), data=fields)


def saml_response_for(peers: Peers, username: str = "anna") -> tuple[Client, dict[str, str]]:
    """Run a login up to the IdP's answer; return the SP browser and the auto-POST fields."""
    sp, idp = peers.browser()
    answer = log_in_at_idp(idp, start_login(sp), username, "demo")
    action, fields = form_fields(answer.text, "autopost")
    assert action == f"{SP_BASE}/sp/acs"
    return sp, fields


def decoded(fields: dict[str, str], name: str) -> str:
    return base64.b64decode(fields[name]).decode("utf-8")


def test_demo_user_logs_in_and_the_application_shows_her_attributes(peers: Peers) -> None:
    sp, fields = saml_response_for(peers, "anna")

    accepted = sp.post("/sp/acs", data=fields)

    # POST-redirect-GET: the page showing the login is a GET, so a reload posts nothing again.
    assert accepted.status_code == 303
    assert accepted.headers["Location"] == f"{SP_BASE}/sp/loggedin"
    page = sp.get("/sp/loggedin")
    assert page.status_code == 200
    assert "Inloggad" in page.text and DEMO_BANNER in page.text
    assert "Anna" in page.text and "urn:oid:2.5.4.42" in page.text
    login = sp.get("/sp/attributes.json").json
    assert login["attributes"]["givenName"] == ["Anna"]
    assert login["attributes"]["sn"] == ["Lindqvist"]
    assert login["attributes"]["personalIdentityNumber"] == ["195006262546"]
    assert login["attributes"]["employeeHsaId"] == ["SE2321000131-E000000001001"]
    assert login["attribute_uris"]["givenName"] == "urn:oid:2.5.4.42"
    assert login["issuer"] == f"{IDP_BASE}/idp"
    assert login["name_id_format"] == NAMEID_FORMAT_PERSISTENT
    assert login["authn_context_class_ref"] == LOA3
    assert login["encryption_methods"] == []
    assert sp.get("/sp/loggedin").text == page.text  # a reload shows the same login


def test_logged_in_page_switches_language_and_keeps_it_after_an_english_login(
    peers: Peers,
) -> None:
    sp, idp = peers.browser()
    answer = log_in_at_idp(idp, start_login_in(sp, "en"), "anna", "demo")
    _, fields = form_fields(answer.text, "autopost")

    accepted = sp.post("/sp/acs", data=fields)

    assert accepted.headers["Location"] == f"{SP_BASE}/sp/loggedin?lang=en"
    english = sp.get("/sp/loggedin?lang=en")
    assert 'lang="en"' in english.text and "Logged in" in english.text
    switch = BeautifulSoup(english.text, "html.parser").find("p", class_="lang").a
    assert switch.text == "Svenska" and switch["href"] == f"{SP_BASE}/sp/loggedin"
    swedish = sp.get(path_of(switch["href"]))
    assert 'lang="sv"' in swedish.text and "Inloggad" in swedish.text and "Anna" in swedish.text
    switch = BeautifulSoup(swedish.text, "html.parser").find("p", class_="lang").a
    assert switch.text == "English" and switch["href"] == f"{SP_BASE}/sp/loggedin?lang=en"


def test_logged_in_page_without_a_login_goes_to_the_start_page(peers: Peers) -> None:
    sp, _ = peers.browser()

    response = sp.get("/sp/loggedin")

    assert response.status_code == 303 and response.headers["Location"] == f"{SP_BASE}/"


def test_logged_in_page_lets_uris_wrap_after_slashes_only(peers: Peers) -> None:
    sp, fields = saml_response_for(peers, "anna")
    sp.post("/sp/acs", data=fields)

    page = sp.get("/sp/loggedin").text

    assert "http://id.elegnamnden.se/<wbr>loa/<wbr>1.0/<wbr>loa3" in page
    assert "http://<wbr>" not in page
    assert '<th scope="row">AuthnContextClassRef</th>' in page


def test_persistent_nameid_is_stable_per_user_and_differs_between_users(peers: Peers) -> None:
    ids = []
    for username in ("anna", "anna", "bertil"):
        sp, fields = saml_response_for(peers, username)
        sp.post("/sp/acs", data=fields)
        ids.append(sp.get("/sp/attributes.json").json["name_id"])
    assert ids[0] == ids[1] != ids[2]


def test_request_response_and_assertion_are_signed_with_rsa_sha256(peers: Peers) -> None:
    sp, idp = peers.browser()
    request_fields = start_login(sp)
    _, fields = form_fields(log_in_at_idp(idp, request_fields, "anna", "demo").text, "autopost")
    sha256 = [
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
        "http://www.w3.org/2001/04/xmlenc#sha256",
    ]

    assert signature_algorithms(decoded(request_fields, "SAMLRequest")) == sha256
    assert signature_algorithms(decoded(fields, "SAMLResponse")) == sha256 * 2  # and assertion


def signature_algorithms(xml: str) -> list[str]:
    return re.findall(r'(?:SignatureMethod|DigestMethod) Algorithm="([^"]+)"', xml)


def test_wrong_password_shows_the_error_and_sends_no_response(peers: Peers) -> None:
    sp, idp = peers.browser()

    page = log_in_at_idp(idp, start_login(sp), "anna", "wrong")

    assert "Fel användarnamn eller lösenord" in page.text
    assert "SAMLResponse" not in page.text
    _, fields = form_fields(page.text)
    assert fields["SAMLRequest"] and fields["username"] == "anna"


def test_application_refuses_a_tampered_response(peers: Peers) -> None:
    sp, fields = saml_response_for(peers, "anna")
    xml = decoded(fields, "SAMLResponse")
    assert xml.count(">Lindqvist<") == 1
    fields["SAMLResponse"] = base64.b64encode(xml.replace(">Lindqvist<", ">Lindqvisk<").encode())

    page = sp.post("/sp/acs", data=fields)

    assert page.status_code == 401
    assert "invalid_response" in page.text and "Lindqvisk" not in page.text
    assert sp.get("/sp/attributes.json").status_code == 401


def test_application_refuses_a_response_without_its_request_cookie(peers: Peers) -> None:
    _, fields = saml_response_for(peers, "anna")
    other_browser, _ = peers.browser()

    page = other_browser.post("/sp/acs", data=fields)

    assert page.status_code == 401
    assert "unsolicited" in page.text
    assert other_browser.get("/sp/attributes.json").status_code == 401


def test_application_refuses_the_same_response_twice(peers: Peers) -> None:
    sp, fields = saml_response_for(peers, "anna")
    assert sp.post("/sp/acs", data=fields).status_code == 303

    assert sp.post("/sp/acs", data=fields).status_code == 401


def test_idp_honours_requested_transient_nameid_and_loa(peers: Peers) -> None:
    sp_client = peers.sp_app.client
    destination = f"{IDP_BASE}/idp/sso/post"
    request_id, request = sp_client.create_authn_request(
        destination,
        binding=BINDING_HTTP_POST,
        sign=True,
        nameid_format=NAMEID_FORMAT_TRANSIENT,
        requested_authn_context={"authn_context_class_ref": [LOA2]},
    )
    request_fields = {"SAMLRequest": base64.b64encode(str(request).encode()).decode()}
    _, idp = peers.browser()

    answer = log_in_at_idp(idp, request_fields, "cecilia", "demo")

    _, fields = form_fields(answer.text, "autopost")
    result = sp_client.parse_authn_request_response(
        fields["SAMLResponse"], BINDING_HTTP_POST, outstanding={request_id: "/"}
    )
    assert result.assertion.subject.name_id.format == NAMEID_FORMAT_TRANSIENT
    statement = result.assertion.authn_statement[0]
    assert statement.authn_context.authn_context_class_ref.text == LOA2
    assert result.ava["mail"] == ["cecilia.holm@boras.se"]


def test_idp_accepts_a_redirect_binding_request_and_answers_by_post(peers: Peers) -> None:
    sp_client = peers.sp_app.client
    request_id, _, http_info = sp_client.prepare_for_negotiated_authenticate(
        entityid=f"{IDP_BASE}/idp", binding=BINDING_HTTP_REDIRECT, relay_state="state-42"
    )
    location = dict(http_info["headers"])["Location"]
    assert location.startswith(f"{IDP_BASE}/idp/sso/redirect?SAMLRequest=")
    _, idp = peers.browser()

    login_page = idp.get(path_of(location))
    action, fields = form_fields(login_page.text, "login")
    assert fields["binding"] == "redirect" and fields["RelayState"] == "state-42"
    answer = idp.post(path_of(action), data=dict(fields, username="eva", password="demo"))

    _, response_fields = form_fields(answer.text, "autopost")
    assert response_fields["RelayState"] == "state-42"
    result = sp_client.parse_authn_request_response(
        response_fields["SAMLResponse"], BINDING_HTTP_POST, outstanding={request_id: "/"}
    )
    assert result.ava["personalIdentityNumber"] == ["191212121212"]


def test_application_shows_the_status_code_of_an_error_response(peers: Peers) -> None:
    sp, idp = peers.browser()
    start_login(sp)
    pending = peers.sp_app.cookie.loads(sp.get_cookie(demo_sp.REQUEST_COOKIE, path="/sp").value)
    # The same request id, now asking for a NameID format the demo IdP does not offer.
    _, request = peers.sp_app.client.create_authn_request(
        f"{IDP_BASE}/idp/sso/post",
        message_id=pending["id"],
        binding=BINDING_HTTP_POST,
        sign=True,
        nameid_format=NAMEID_FORMAT_EMAILADDRESS,
    )
    request_fields = {"SAMLRequest": base64.b64encode(str(request).encode()).decode()}
    _, fields = form_fields(log_in_at_idp(idp, request_fields, "anna", "demo").text, "autopost")

    page = sp.post("/sp/acs", data=fields)

    assert page.status_code == 401
    assert "saml_status" in page.text
    assert "urn:oasis:names:tc:SAML:2.0:status:InvalidNameIDPolicy" in page.text


def test_idp_refuses_an_unreadable_saml_request_with_a_swedish_page(peers: Peers) -> None:
    _, idp = peers.browser()

    page = idp.post("/idp/sso/post", data={"SAMLRequest": "bm90IHNhbWw="})

    assert page.status_code == 400
    assert 'lang="sv"' in page.text and "Inloggningsbegäran kunde inte läsas" in page.text
    assert "Traceback" not in page.text


def test_idp_login_page_is_swedish_first_and_switches_to_english(peers: Peers) -> None:
    sp, _ = peers.browser()
    request_fields = start_login(sp)
    idp = Client(peers.goteborg_idp_app)

    swedish = idp.post("/idp/sso/post", data=request_fields)
    assert "<h1>Logga in hos Göteborgs Stad (demo-IdP)</h1>" in swedish.text
    assert "<title>Logga in hos Göteborgs Stad (demo-IdP) – Demo</title>" in swedish.text
    assert "Användarnamn" in swedish.text
    assert DEMO_BANNER in swedish.text and "<code>demo</code>" in swedish.text
    action, switch = form_fields(swedish.text, "lang-switch")
    assert switch["lang"] == "en"

    english = idp.post(path_of(action), data=switch)
    assert english.status_code == 200
    assert 'lang="en"' in english.text
    assert "<h1>Log in at Göteborgs Stad (demo-IdP)</h1>" in english.text
    assert "Logga in hos" not in english.text


def test_idp_without_a_title_is_called_demo_idp(peers: Peers) -> None:
    sp, idp = peers.browser()

    page = idp.post("/idp/sso/post", data=start_login(sp))

    assert "<h1>Logga in hos Demo-IdP</h1>" in page.text


def test_organisation_idp_lists_and_accepts_only_its_own_users(peers: Peers) -> None:
    sp, _ = peers.browser()
    request_fields = start_login(sp)
    idp = Client(peers.goteborg_idp_app)

    page = idp.post("/idp/sso/post", data=request_fields)

    listed = re.findall(r"<td><code>([^<]+)</code></td>", page.text)
    assert listed == ["eva", "gustav"]
    refused = log_in_at_idp(idp, request_fields, "cecilia", "demo")  # Borås's user
    assert "Fel användarnamn eller lösenord" in refused.text
    assert "SAMLResponse" not in refused.text


def test_peers_serve_metadata_and_answer_unknown_paths_with_404(peers: Peers) -> None:
    sp, idp = peers.browser()

    assert f'entityID="{IDP_BASE}/idp"' in idp.get("/idp/metadata").text
    assert f'entityID="{SP_BASE}/sp"' in sp.get("/sp/metadata").text
    assert "Demoapplikation" in sp.get("/").text
    assert idp.get("/nothing-here").status_code == 404
    assert sp.get("/sp/nothing-here").status_code == 404


def test_logout_forgets_the_login_in_this_browser(peers: Peers) -> None:
    sp, fields = saml_response_for(peers, "david")
    sp.post("/sp/acs", data=fields)

    response = sp.get("/sp/logout?local=1")  # this application only, no single logout

    assert response.status_code == 303 and response.headers["Location"] == f"{SP_BASE}/"
    assert sp.get("/sp/attributes.json").status_code == 401


# -- the demo IdP's session and single logout ------------------------------------------------------


def logged_in(peers: Peers, username: str = "anna") -> tuple[Client, Client]:
    """A browser logged in at the SP through the IdP (which now has a session)."""
    sp, idp = peers.browser()
    answer = log_in_at_idp(idp, start_login(sp), username, "demo")
    _, fields = form_fields(answer.text, "autopost")
    assert sp.post("/sp/acs", data=fields).status_code == 303
    return sp, idp


def test_idp_session_offers_to_continue_without_a_password(peers: Peers) -> None:
    sp, idp = logged_in(peers)
    given = idp.get("/idp/session.json").json
    login = sp.get("/sp/attributes.json").json
    assert given["user"] == "anna"
    assert given["sps"][f"{SP_BASE}/sp"]["name_id"] == login["name_id"]
    assert given["sps"][f"{SP_BASE}/sp"]["session_index"] == login["session_index"]

    page = idp.post("/idp/sso/post", data=start_login(sp))
    assert "Fortsätt som Anna Lindqvist" in page.text
    action, fields = form_fields(page.text, "continue")
    answer = idp.post(path_of(action), data=fields)  # no username, no password

    _, fields = form_fields(answer.text, "autopost")
    assert sp.post("/sp/acs", data=fields).status_code == 303
    again = sp.get("/sp/attributes.json").json
    assert again["name_id"] == login["name_id"] and again["session_index"] != login["session_index"]
    # A browser without the session gets no such offer.
    _, other = peers.browser()
    assert 'id="continue"' not in other.post("/idp/sso/post", data=start_login(sp)).text


def test_single_logout_from_the_sp_ends_the_idp_session(peers: Peers) -> None:
    sp, idp = logged_in(peers)
    login = sp.get("/sp/attributes.json").json

    to_idp = sp.get("/sp/logout")  # HTTP-Redirect, signed by the SP
    assert to_idp.status_code == 303
    assert to_idp.headers["Location"].startswith(f"{IDP_BASE}/idp/slo/redirect?SAMLRequest=")
    to_sp = idp.get(path_of(to_idp.headers["Location"]))
    assert to_sp.status_code == 303
    assert to_sp.headers["Location"].startswith(f"{SP_BASE}/sp/slo/redirect?SAMLResponse=")
    back = sp.get(path_of(to_sp.headers["Location"]))

    assert back.status_code == 303 and sp.get("/sp/attributes.json").status_code == 401
    assert sp.get("/sp/logout.json").json["status"] == [
        "urn:oasis:names:tc:SAML:2.0:status:Success"
    ]
    received = idp.get("/idp/logout.json").json
    assert received["received"] == "LogoutRequest" and received["matched_session"]
    assert received["name_id"] == login["name_id"]
    assert received["session_index"] == [login["session_index"]]
    assert idp.get("/idp/session.json").status_code == 401  # the IdP's session is gone
    assert 'id="continue"' not in idp.post("/idp/sso/post", data=start_login(sp)).text


def test_logout_request_for_no_session_here_is_answered_unknown_principal(peers: Peers) -> None:
    sp, _ = logged_in(peers)
    to_idp = sp.get("/sp/logout")
    _, elsewhere = peers.browser()  # a browser with no session at the IdP

    to_sp = elsewhere.get(path_of(to_idp.headers["Location"]))
    sp.get(path_of(to_sp.headers["Location"]))

    assert sp.get("/sp/logout.json").json["status"] == [
        "urn:oasis:names:tc:SAML:2.0:status:Requester",
        "urn:oasis:names:tc:SAML:2.0:status:UnknownPrincipal",
    ]
    assert elsewhere.get("/idp/logout.json").json["matched_session"] is False


def test_unsigned_logout_request_is_refused_and_ends_nothing(peers: Peers) -> None:
    sp, idp = logged_in(peers)
    location = sp.get("/sp/logout").headers["Location"]
    unsigned = re.sub(r"&SigAlg=[^&]*|&Signature=[^&]*", "", path_of(location))

    refused = idp.get(unsigned)

    assert refused.status_code == 403 and "bad_logout" in refused.text
    assert idp.get("/idp/session.json").status_code == 200


def test_logout_at_the_idp_sends_the_sp_a_logout_request(peers: Peers) -> None:
    sp, idp = logged_in(peers)
    login = sp.get("/sp/attributes.json").json

    to_sp = idp.get("/idp/logout")
    assert to_sp.headers["Location"].startswith(f"{SP_BASE}/sp/slo/redirect?SAMLRequest=")
    to_idp = sp.get(path_of(to_sp.headers["Location"]))
    page = idp.get(path_of(to_idp.headers["Location"]))

    assert sp.get("/sp/logout.json").json["name_id"] == login["name_id"]
    assert sp.get("/sp/attributes.json").status_code == 401
    assert idp.get("/idp/session.json").status_code == 401
    assert page.status_code == 200 and "Utloggad från" in page.text
    answer = idp.get("/idp/logout.json").json
    assert answer == {"received": "LogoutResponse", "binding": BINDING_HTTP_REDIRECT,
                      "issuer": f"{SP_BASE}/sp", "signature_verified": True,
                      "status": ["urn:oasis:names:tc:SAML:2.0:status:Success"]}  # fmt: skip


# DOMAIN.md §6: the published test personnummer (one samordningsnummer) the demo may use.
PUBLISHED_TEST_NUMBERS = {
    "195006262546",
    "197309069289",
    "198906059483",
    "191212121212",
    "197010632391",
}
# Organisation numbers of the organisations whose users carry an HSA-id: VGR (DOMAIN.md §6)
# and Göteborgs Stad. An HSA-id starts with SE<organisation number>- of the user's organisation.
ORGANISATION_NUMBERS = {"vgr": "2321000131", "goteborg": "2120001355"}


def test_demo_users_carry_only_published_test_identifiers() -> None:
    users = load_demo_users()

    assert len({user.username for user in users}) == len(users)
    for user in users:
        assert set(user.attributes.get("personalIdentityNumber", [])) <= PUBLISHED_TEST_NUMBERS
        for hsa_id in user.attributes.get("employeeHsaId", []):
            prefix = f"SE{ORGANISATION_NUMBERS[user.organisation]}-"
            assert re.fullmatch(re.escape(prefix) + "[A-Za-z0-9]+", hsa_id), (user, hsa_id)
            assert len(hsa_id) <= 31
        domain = user.attributes["mail"][0].rsplit("@", 1)[1]
        assert domain in {"vgregion.se", "boras.se", "ale.se", "goteborg.se", "lerum.se"}
        assert {"givenName", "sn", "displayName", "mail"} <= set(user.attributes)
    served = {org: {u.username for u in users if u.idp == org} for org in DEMO_IDPS}
    assert served == {"goteborg": {"eva", "gustav"}, "boras": {"cecilia", "ivar"}}
    # One user is at another organisation's IdP, to show the scope check; nobody else is.
    assert [u.username for u in users if u.idp != u.organisation] == ["ivar"]
    assert any(u.attributes.get("employeeHsaId") for u in users if u.organisation == "goteborg")
