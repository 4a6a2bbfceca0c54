"""SSO plumbing without a running proxy: the cookie, the settings, atomic participants, logout
records, the outage pause, and the SAML single logout messages (signed, verified, refused)."""

from __future__ import annotations

import base64
import datetime as dt
import multiprocessing
import subprocess
import time
import zlib
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import pytest
from bs4 import BeautifulSoup
from cryptography import x509
from helpers.redis import RedisServer
from lxml import etree
from pydantic import ValidationError
from saml2.sigver import (
    CryptoBackendXmlSec1,
    RSACrypto,
    get_xmlsec_binary,
    verify_redirect_signature,
)

from satosa_efos.keys import ensure_keypair
from satosa_efos.logout import saml as slo
from satosa_efos.micro_services.sso import SsoReuse, SsoSettings, _max_age
from satosa_efos.saml.response import ResponseBuilder
from satosa_efos.sessions.answered import oidc_answer
from satosa_efos.sessions.cookie import SsoCookie
from satosa_efos.sessions.service import SsoService
from satosa_efos.sessions.sso import (
    Participant,
    SsoSession,
    logout_token,
    new_session_id,
    participant_sid,
)
from satosa_efos.sessions.store import SqliteSessionStore, StoreUnavailable, open_store
from satosa_efos.state_keys import SSO_PARTICIPANT, SSO_SESSION

NOW = time.time()


def session(**changes) -> SsoSession:
    values = dict(
        session_id=new_session_id(),
        organisation="goteborg",
        method="own_idp",
        upstream="https://idp.goteborg.se",
        loa="loa3",
        authn_instant=NOW,
        created=NOW,
        last_seen=NOW,
        idle_timeout=1800,
        absolute_timeout=36000,
        subject_id="abc",
    )
    values.update(changes)
    return SsoSession(**values)


# -- the cookie ---------------------------------------------------------------------------------


def test_cookie_is_http_only_secure_samesite_none_on_the_whole_site_by_default():
    name, value = SsoCookie().set("x" * 43, 600)
    assert name == "Set-Cookie"
    parts = {p.strip().split("=")[0].lower(): p.strip() for p in value.split(";")}
    assert value.startswith("satosa_efos_sso=" + "x" * 43)
    assert {"httponly", "secure", "path", "samesite", "max-age"} <= set(parts)
    assert parts["path"] == "Path=/" and parts["samesite"] == "SameSite=None"
    assert parts["max-age"] == "Max-Age=600"


def test_cookie_is_cleared_with_max_age_zero():
    assert "Max-Age=0" in SsoCookie().clear()[1]


def test_samesite_none_needs_secure():
    with pytest.raises(ValueError, match="Secure"):
        SsoCookie(secure=False, samesite="None")
    assert "Secure" not in SsoCookie(secure=False, samesite="Lax").set("y" * 43, 1)[1]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("a=1; satosa_efos_sso=" + "v" * 43 + "; b=2", "v" * 43),
        ("satosa_efos_sso=short", None),  # never a value the proxy made
        ('satosa_efos_sso="unterminated', None),
        ("", None),
        (None, None),
    ],
)
def test_cookie_is_read_from_the_cookie_header(header, expected):
    assert SsoCookie().read(header) == expected


# -- configuration ------------------------------------------------------------------------------


def test_settings_defaults_are_the_issue_s():
    settings = SsoSettings()
    assert (settings.idle_timeout, settings.absolute_timeout) == (1800, 36000)
    assert settings.cookie_secure and settings.cookie_samesite == "None"
    assert settings.cookie_name.startswith("__Host-")


@pytest.mark.parametrize(
    "config",
    [
        {"cookie_secure": False},  # SameSite=None without Secure: browsers drop it
        {"cookie_secure": False, "cookie_samesite": "Lax"},  # __Host- without Secure: too
        {"idle_timeout": 7200, "absolute_timeout": 3600},
        {"store": "memcached://x"},
        {"store": "sqlite:"},
        {"cookie_name": "a b"},
        {"unknown": 1},
    ],
)
def test_settings_refuse_what_cannot_work(config):
    with pytest.raises(ValidationError):
        SsoSettings.model_validate(config)


def test_check_config_wants_the_sso_backend_loaded():
    facts = SimpleNamespace(backends=frozenset({"orgidp"}), organisations=None)
    ((loc, message),) = SsoReuse.cross_check({"backend": "sso"}, facts)
    assert loc == ("backend",) and "not loaded" in message
    assert SsoReuse.cross_check({}, SimpleNamespace(backends=frozenset({"sso"}))) == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, None), ("", None), ("60", 60.0), ("0", 0.0), ("x", 0.0), ("-5", 0.0)],
)
def test_max_age_is_read_strictly(value, expected):
    assert _max_age(value) == expected


# -- values derived from the session ------------------------------------------------------------


def test_sid_is_per_client_and_reveals_nothing_of_the_cookie():
    sid_a = participant_sid("session-one-" + "x" * 40, "client-a")
    assert sid_a == participant_sid("session-one-" + "x" * 40, "client-a")
    assert sid_a != participant_sid("session-one-" + "x" * 40, "client-b")
    assert sid_a != participant_sid("session-two-" + "x" * 40, "client-a")
    assert "session" not in sid_a and logout_token("s" * 43) != sid_a


def test_oidc_answer_gives_a_sid_only_with_a_session_and_notes_the_participant():
    decorations: dict = {}
    context = SimpleNamespace(decorate=decorations.__setitem__, get_decoration=decorations.get)
    assert oidc_answer(context, "client-a") == {}
    decorations[SSO_SESSION] = session()
    claims = oidc_answer(context, "client-a")
    assert claims["sid"] == participant_sid(decorations[SSO_SESSION].session_id, "client-a")
    assert decorations[SSO_PARTICIPANT] == Participant("oidc", "client-a", sid=claims["sid"])


# -- the stores: atomic participants, records ---------------------------------------------------


def _add(path: str, session_id: str, index: int) -> None:
    SqliteSessionStore(path).add_participant(session_id, Participant("saml", f"https://a{index}"))


def test_concurrent_logins_to_several_applications_all_end_up_in_the_session(tmp_path):
    path = str(tmp_path / "sso.sqlite3")
    store = SqliteSessionStore(path)
    s = session()
    store.save(s)
    workers = [multiprocessing.Process(target=_add, args=(path, s.session_id, i)) for i in range(8)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(20)
    loaded = store.load(s.session_id)
    assert sorted(p.application for p in loaded.participants) == [f"https://a{i}" for i in range(8)]


def test_redis_adds_participants_atomically_and_keeps_records(tmp_path):
    with RedisServer(tmp_path / "redis") as redis:
        store = open_store(redis.url)
        s = session()
        store.save(s)
        for i in range(3):
            store.add_participant(s.session_id, Participant("oidc", f"client-{i}", sid=str(i)))
        assert [p.sid for p in store.load(s.session_id).participants] == ["0", "1", "2"]
        assert store.add_participant(new_session_id(), Participant("oidc", "x")) is None
        store.put_record("logout:abc", {"ok": True}, ttl=0.3)
        assert store.get_record("logout:abc") == {"ok": True}
        time.sleep(0.5)
        assert store.get_record("logout:abc") is None


def test_sqlite_records_expire(tmp_path):
    store = SqliteSessionStore(tmp_path / "sso.sqlite3")
    store.put_record("logout:x", {"n": 1}, ttl=60)
    store.put_record("logout:y", {"n": 2}, ttl=-1)
    assert store.get_record("logout:x") == {"n": 1}
    assert store.get_record("logout:y") is None


def test_after_a_store_failure_the_worker_does_not_wait_for_it_again_at_once(tmp_path):
    with RedisServer(tmp_path / "redis") as redis:
        service = SsoService(redis.url, tmp_path, timeout=0.5, retry_after=30)
        service.store.ping()
        redis.pause()
        try:
            started = time.monotonic()
            with pytest.raises(StoreUnavailable):
                service.store.load("x" * 43)  # waits for the timeout once
            assert time.monotonic() - started >= 0.4
            started = time.monotonic()
            with pytest.raises(StoreUnavailable, match="moments ago"):
                service.store.load("x" * 43)
            assert time.monotonic() - started < 0.1
        finally:
            redis.resume()


# -- SAML single logout messages ----------------------------------------------------------------

SP = "https://app.example.se/sp"
SLO_URL = "https://app.example.se/sp/slo"


@pytest.fixture(params=["xmlsec1", "inprocess"])
def messages(request, tmp_path: Path):
    key, cert = ensure_keypair(tmp_path, "idp", "Test IdP")
    if request.param == "xmlsec1":
        crypto = CryptoBackendXmlSec1(get_xmlsec_binary(["/usr/bin", "/usr/local/bin"]))
    else:
        from satosa_efos.xmlsec.inprocess import InProcessBackend

        crypto = InProcessBackend()
    certificate = x509.load_pem_x509_certificate(cert.read_bytes())
    builder = ResponseBuilder(
        SimpleNamespace(crypto=crypto), "https://login.example.se/idp", key, certificate
    )
    built = slo.LogoutMessages(builder)
    return built, certificate, cert, crypto


def _request(built, binding: str):
    name_id = slo.QualifiedNameId(
        "nameid-1",
        "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
        "https://login.example.se/idp",
        SP,
    )
    return built.logout_request(
        "_req1",
        slo.SloEndpoint(binding, SLO_URL),
        name_id,
        "_session1",
        "logout.0",
        dt.datetime.now(dt.UTC),
    )


def _received(outgoing: slo.Outgoing) -> slo.Received:
    if outgoing.fields:
        return slo.decode(slo.HTTP_POST, outgoing.fields, None)
    query = urlsplit(outgoing.url).query
    values = {k: v[0] for k, v in parse_qs(query).items()}
    return slo.decode(slo.HTTP_REDIRECT, values, query)


def test_redirect_logout_request_verifies_with_pysaml2(messages):
    built, certificate, cert_file, _ = messages
    outgoing = _request(built, slo.HTTP_REDIRECT)
    assert outgoing.url.startswith(SLO_URL + "?SAMLRequest=")
    values = {k: v[0] for k, v in parse_qs(urlsplit(outgoing.url).query).items()}
    pem = "".join(cert_file.read_text().splitlines()[1:-1])
    assert verify_redirect_signature(values, RSACrypto(None), pem)  # pysaml2's own check
    xml = etree.fromstring(zlib.decompress(base64.b64decode(values["SAMLRequest"]), -15))
    name_id = xml.find("{urn:oasis:names:tc:SAML:2.0:assertion}NameID")
    assert name_id.text == "nameid-1" and name_id.get("SPNameQualifier") == SP
    assert name_id.get("NameQualifier") == "https://login.example.se/idp"
    assert xml.findtext("{urn:oasis:names:tc:SAML:2.0:protocol}SessionIndex") == "_session1"
    assert xml.get("NotOnOrAfter") and xml.get("Reason") == slo.REASON_USER


def test_post_logout_request_carries_an_enveloped_signature_xmlsec1_verifies(messages, tmp_path):
    built, _, cert_file, _ = messages
    outgoing = _request(built, slo.HTTP_POST)
    assert outgoing.url == SLO_URL and outgoing.fields["RelayState"] == "logout.0"
    document = tmp_path / "request.xml"
    document.write_bytes(base64.b64decode(outgoing.fields["SAMLRequest"]))
    subprocess.run(
        [
            "xmlsec1",
            "--verify",
            "--pubkey-cert-pem",
            str(cert_file),
            "--id-attr:ID",
            "urn:oasis:names:tc:SAML:2.0:protocol:LogoutRequest",
            str(document),
        ],
        check=True,
        capture_output=True,
    )


@pytest.mark.parametrize("binding", [slo.HTTP_REDIRECT, slo.HTTP_POST])
def test_own_messages_decode_and_verify_and_tampering_is_refused(messages, binding):
    built, certificate, _, crypto = messages
    outgoing = built.logout_response(
        "_resp1",
        slo.SloEndpoint(binding, SLO_URL),
        "_req9",
        "relay",
        dt.datetime.now(dt.UTC),
        partial=True,
    )
    received = _received(outgoing)
    slo.verify(received, [certificate], crypto)
    slo.check_destination(received, SLO_URL)
    assert received.kind == slo.LOGOUT_RESPONSE and received.relay_state == "relay"
    assert received.status == (slo.SUCCESS, slo.PARTIAL_LOGOUT)
    other = x509.load_pem_x509_certificate(
        ensure_keypair(Path(built.key_file).parent, "other", "Other")[1].read_bytes()
    )
    with pytest.raises(slo.BadLogoutMessage):
        slo.verify(received, [other], crypto)  # another key: not the sender's
    with pytest.raises(slo.BadLogoutMessage, match="Destination"):
        slo.check_destination(received, "https://elsewhere.example/slo")


def test_unsigned_or_stale_logout_messages_are_refused(messages):
    built, certificate, _, crypto = messages
    now = dt.datetime.now(dt.UTC)
    xml = (
        '<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
        'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_x" Version="2.0" '
        f'IssueInstant="{(now - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")}">'
        "<saml:Issuer>https://app.example.se/sp</saml:Issuer><saml:NameID>n</saml:NameID>"
        "</samlp:LogoutRequest>"
    )
    received = slo.decode(
        slo.HTTP_POST, {"SAMLRequest": base64.b64encode(xml.encode()).decode()}, None
    )
    with pytest.raises(slo.BadLogoutMessage, match="not signed"):
        slo.verify(received, [certificate], crypto)
    with pytest.raises(slo.BadLogoutMessage, match="too old"):
        slo.check_time(received, now, 300, 60)


def test_a_doctype_or_a_deflate_bomb_is_refused():
    evil = '<!DOCTYPE x [<!ENTITY a "b">]><samlp:LogoutRequest/>'
    with pytest.raises(slo.BadLogoutMessage):
        slo.decode(slo.HTTP_POST, {"SAMLRequest": base64.b64encode(evil.encode()).decode()}, None)
    deflater = zlib.compressobj(9, zlib.DEFLATED, -15)
    bomb = deflater.compress(b"<a>" + b" " * 2_000_000 + b"</a>") + deflater.flush()
    with pytest.raises(slo.BadLogoutMessage, match="inflates"):
        slo.decode(slo.HTTP_REDIRECT, {"SAMLRequest": base64.b64encode(bomb).decode()}, None)


def test_slo_endpoints_come_from_metadata_redirect_first(tmp_path):
    metadata = f"""<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"
      entityID="{SP}"><md:SPSSODescriptor protocolSupportEnumeration="x">
      <md:SingleLogoutService Binding="{slo.HTTP_POST}" Location="{SLO_URL}/post"/>
      <md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:SOAP"
        Location="{SLO_URL}/soap"/>
      <md:SingleLogoutService Binding="{slo.HTTP_REDIRECT}" Location="{SLO_URL}/redirect"
        ResponseLocation="{SLO_URL}/answer"/>
      </md:SPSSODescriptor></md:EntityDescriptor>""".encode()
    endpoints = slo.slo_endpoints(metadata, SP)
    assert [e.binding for e in endpoints] == [slo.HTTP_POST, slo.HTTP_REDIRECT]  # no SOAP
    chosen = slo.preferred(endpoints)
    assert chosen.location == f"{SLO_URL}/redirect" and chosen.response_url == f"{SLO_URL}/answer"
    assert slo.slo_endpoints(metadata, "https://other.example/sp") == ()


# -- the logout walk's result, and the SSO backend ----------------------------------------------


class _Adapter:
    def __init__(self) -> None:
        self.partial = None

    def continuation(self, initiator, partial):
        self.partial = partial
        return slo.Outgoing(slo.HTTP_REDIRECT, "https://a.example/sp/slo?SAMLResponse=x", {})


def test_result_page_sorts_the_applications_and_tells_the_initiator_it_was_partial(tmp_path):
    from satosa_efos.logout.registry import proxy_parts
    from satosa_efos.logout.walk import LogoutWalk

    apps = {
        "https://a.example/sp": "Alfa",
        "https://b.example/sp": "Beta",
        "https://c.example/sp": "Gamma",
        "client-d": "Delta",
        "https://e.example/sp": "Epsilon",
    }
    registries = SimpleNamespace(
        applications=SimpleNamespace(
            for_requester=lambda r: SimpleNamespace(name=apps[r]) if r in apps else None
        ),
        organisations=SimpleNamespace(by_id={}),
    )
    base = "https://walk.example"
    adapter = proxy_parts(base).saml = _Adapter()
    walk = LogoutWalk(SsoService("sqlite:sso.sqlite3", tmp_path), registries, base, 5)
    record = {
        "lang": "sv",
        "initiator": {"protocol": "saml", "application": "https://a.example/sp"},
        "notices": [
            {"protocol": "saml", "application": "https://b.example/sp", "name": "Beta"},
            {"protocol": "saml", "application": "https://c.example/sp", "name": "Gamma"},
            {"protocol": "oidc", "application": "client-d", "name": "Delta", "url": "x"},
        ],
        "unsupported": ["https://e.example/sp"],
    }
    page = walk._done_page(record, {0: {"ok": True}, 1: None}).message
    assert "Du är utloggad – men inte från allt" in page
    for section, names in (("logged-out", ["Alfa", "Beta"]), ("notified", ["Delta"]),
                           ("no-answer", ["Gamma"]), ("unsupported", ["Epsilon"])):  # fmt: skip
        block = page.split(f'id="{section}"', 1)[1].split("</ul>", 1)[0]
        assert [n for n in apps.values() if f"<li>{n}</li>" in block] == names
    assert adapter.partial is True  # the initiator's LogoutResponse says PartialLogout
    assert "Tillbaka till Alfa" in page


def _walk(tmp_path, base: str):
    from satosa_efos.logout.walk import LogoutWalk

    registries = SimpleNamespace(
        applications=SimpleNamespace(
            for_requester=lambda r: SimpleNamespace(name="Alfa") if r == "https://a.example/sp"
            else None
        ),
        organisations=SimpleNamespace(
            by_id={"goteborg": SimpleNamespace(name="Göteborgs Stad", name_en="City of Gothenburg")}
        ),
    )  # fmt: skip
    return LogoutWalk(SsoService("sqlite:sso.sqlite3", tmp_path), registries, base, 5)


@pytest.mark.parametrize(
    ("upstream", "answer", "shown", "partial"),
    [
        ({"slo": True}, {"state": "ok"}, "Göteborgs Stad: utloggad.", False),
        ({"slo": True}, None, "Göteborgs Stad: svarade inte", True),
        ({"slo": True}, {"state": "status", "detail": "Requester / UnknownPrincipal"},
         "Göteborgs Stad: avböjde utloggningen (Requester / UnknownPrincipal).", True),
        ({"slo": True}, {"state": "bad", "error_id": "0123456789ab"},
         "Göteborgs Stad: svaret kunde inte godtas", True),
        ({"slo": False}, None, "Göteborgs Stad: inloggningen där avslutades inte", True),
    ],
)  # fmt: skip
def test_result_page_has_a_line_for_the_organisation_login(
    tmp_path, upstream, answer, shown, partial
):
    from satosa_efos.logout.registry import proxy_parts

    base = "https://walk-upstream.example"
    adapter = proxy_parts(base).saml = _Adapter()
    walk = _walk(tmp_path, base)
    record = {
        "lang": "sv",
        "initiator": {"protocol": "saml", "application": "https://a.example/sp"},
        "notices": [],
        "unsupported": [],
        "upstream": {"organisation": "goteborg", "method": "own_idp", **upstream},
    }
    page = walk._done_page(record, {}, answer).message
    line = BeautifulSoup(page, "html.parser").find(id="upstream")
    assert " ".join(line.get_text().split()).startswith(shown)
    assert ("Du är utloggad – men inte från allt" in page) is partial
    assert adapter.partial is partial  # the initiator's LogoutResponse says PartialLogout
    assert ("0123456789ab" in line.get_text()) is (
        answer == {"state": "bad", "error_id": "0123456789ab"}
    )
    english = BeautifulSoup(walk._done_page({**record, "lang": "en"}, {}, answer).message,
                            "html.parser")  # fmt: skip
    assert english.find(id="upstream").get_text().startswith("City of Gothenburg: ")
    assert "Your organisation's login" in english.get_text()


def test_an_efos_login_has_no_organisation_login_line_and_an_own_idp_one_without_slo_has(
    tmp_path,
):
    walk = _walk(tmp_path, "https://walk-upstream-2.example")
    proxy = {"protocol": "proxy"}
    assert walk._upstream(session(method="efos_mobile", upstream=None), proxy) is None
    assert walk._upstream(session(), proxy) == {  # no upstream_session: an older session
        "organisation": "goteborg", "method": "own_idp", "entity_id": "https://idp.goteborg.se",
        "slo": False,
    }  # fmt: skip
    # The IdP that started the logout is not asked again.
    assert walk._upstream(session(), {"protocol": "upstream", "backend": "orgidp"}) is None


def test_an_idp_logout_request_names_a_session_by_idp_nameid_and_session_index():
    from satosa_efos.backends.upstream_slo import names_session
    from satosa_efos.sessions.sso import UpstreamSession

    s = session(upstream_session=UpstreamSession("orgidp", "n-1", session_index="_i1"))
    idp = "https://idp.goteborg.se"
    assert names_session(s, "orgidp", idp, "n-1", [])
    assert names_session(s, "orgidp", idp, "n-1", ["_i0", "_i1"])
    assert not names_session(s, "orgidp", idp, "n-1", ["_i0"])
    assert not names_session(s, "orgidp", idp, "n-2", [])
    assert not names_session(s, "orgidp", "https://idp.boras.se", "n-1", [])
    assert not names_session(s, "efos_saml", idp, "n-1", [])
    assert not names_session(session(), "orgidp", idp, "n-1", [])


def test_sso_login_keeps_only_the_upstream_note_of_this_login():
    from satosa.context import Context
    from satosa.internal import AuthenticationInformation, InternalData
    from satosa.state import State

    from satosa_efos.micro_services.sso import SsoLogin
    from satosa_efos.state_keys import SSO_LOGIN, UPSTREAM_SESSION

    service = SsoLogin({}, name="sso_login", base_url="https://x")
    service.next = lambda context, data: data
    note = {"issuer": "https://idp.goteborg.se", "backend": "orgidp", "name_id": "n-1",
            "session_index": "_i1"}  # fmt: skip
    for issuer, kept in (("https://idp.goteborg.se", True), ("https://idp.boras.se", False)):
        context = Context()
        context.state = State()
        context.state[UPSTREAM_SESSION] = dict(note)
        data = InternalData(auth_info=AuthenticationInformation("loa3", None, issuer))
        service.process(context, data)
        login = context.state[SSO_LOGIN]
        assert UPSTREAM_SESSION not in context.state  # taken, never left for another login
        expected = {"backend": "orgidp", "name_id": "n-1", "session_index": "_i1"}
        assert login["upstream_session"] == (expected if kept else None)
        new = SsoService("sqlite:x", Path(".")).new_session(login, NOW)
        assert (new.upstream_session is not None) is kept


def test_sso_backend_answers_only_a_request_the_sso_service_vouched_for():
    from satosa.context import Context
    from satosa.state import State

    from satosa_efos.backends.sso import SsoBackend
    from satosa_efos.errors import SessionExpired
    from satosa_efos.state_keys import ROUTING, SSO_REUSE

    answered = []
    backend = SsoBackend(
        lambda context, data: answered.append(data), {"attributes": {}}, {}, "https://x", "sso"
    )
    context = Context()
    context.state = State()
    with pytest.raises(SessionExpired):
        backend.start_auth(context, SimpleNamespace(requester="https://a.example/sp"))
    context.decorate(SSO_REUSE, session(attributes={"givenName": ["Eva"]}, authority="efos"))
    backend.start_auth(context, SimpleNamespace(requester="https://a.example/sp"))
    (data,) = answered
    assert data.auth_info.auth_class_ref == "loa3" and data.auth_info.authority == "efos"
    assert data.auth_info.issuer == "https://idp.goteborg.se" and data.subject_id == "abc"
    assert data.attributes == {"givenName": ["Eva"]}
    assert context.state[ROUTING]["source"] == "sso"
    assert context.state[ROUTING]["idp"] == "https://idp.goteborg.se"
