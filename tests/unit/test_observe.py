"""satosa_efos.observe: each login ends once, with the right outcome, metrics and audit line.

SATOSA's application methods that the observer wraps are played by a small stand-in here; the
real proxy is driven end to end in tests/flows/test_observability.py.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from types import SimpleNamespace

import pytest
from satosa.context import Context
from satosa.internal import AuthenticationInformation, InternalData
from satosa.state import State

from satosa_efos import observe
from satosa_efos.errors import ProxyError
from satosa_efos.failures import LoginFailed, Reason
from satosa_efos.metrics import LOCAL_REGISTRY
from satosa_efos.state_keys import REQUESTED_LOA, ROUTING, SSO_PARTICIPANT

APP = "https://app.example.org/sp"
IDP = "https://idp.goteborg.example/idp"
KEY = "an-audit-key-of-some-length"


class Stand:
    """What SATOSA's WsgiApplication does around the observed methods, reduced to the calls."""

    def __init__(self, config):
        self.config = config
        frontend = SimpleNamespace(settings=SimpleNamespace(trusted_proxies=[]))
        self.module_router = SimpleNamespace(frontends={"idp": {"instance": frontend}},
                                             backends={})  # fmt: skip

    def __call__(self, environ, start_response, debug=False):
        context = environ["context"]
        self._load_state(context)
        try:
            return environ["run"](self, context)
        except ProxyError as error:  # what app.error_response does
            observe.login_refused(error, "0123456789ab")
            return "page"

    def _load_state(self, context):
        pass

    def _auth_req_callback_func(self, context, internal_request):
        return self.next_request(context)

    def _auth_req_finish(self, context, internal_request):
        return "to the IdP"

    def _auth_resp_callback_func(self, context, internal_response):
        return self._auth_resp_finish(context, internal_response)

    def _auth_resp_finish(self, context, internal_response):
        return self.answer(context)

    def _handle_satosa_authentication_error(self, error):
        return "error status to the application"


class Proxy(observe.LoginObserver, Stand):
    pass


@pytest.fixture
def proxy(monkeypatch):
    released = ["givenName", "mail", "personalIdentityNumber"]
    app = SimpleNamespace(
        id="demo-app", entity_id=APP, client_id=None, released_attributes=released
    )
    registries = SimpleNamespace(
        applications=SimpleNamespace(applications=(app,)),
        organisations=SimpleNamespace(by_id={"goteborg": None, "vgr": None}),
    )
    monkeypatch.setattr(observe, "cached_registries", lambda _: registries)
    proxy = Proxy({"BASE": "https://proxy", "MICRO_SERVICES": [{"config": {"audit_key": KEY}}]})
    proxy.next_request = lambda context: "picker page"
    proxy.answer = lambda context: "assertion"
    return proxy


def request(proxy, context, run):
    return proxy({"context": context, "run": run}, None)


def new_context(state: State | None = None, path: str = "orgidp/sso/post") -> Context:
    context = Context()
    context.state = state if state is not None else State()
    context.http_headers = {"REMOTE_ADDR": "192.0.2.10"}
    context.path = path
    return context


def login(**attributes) -> InternalData:
    internal = InternalData(
        auth_info=AuthenticationInformation("loa3", "2026-01-01T10:00:00Z", IDP)
    )
    internal.requester, internal.subject_id = APP, "idp-name-id"
    internal.attributes = attributes
    return internal


def start(proxy) -> State:
    """An AuthnRequest accepted by the frontend, routed to Göteborg's IdP; the state after it."""
    context = new_context()
    context.target_frontend = "idp"

    def run(app, context):
        context.state[REQUESTED_LOA] = {"accepted": ["loa3"], "requested": []}
        context.state[ROUTING] = {"organisation": "goteborg", "method": "own_idp", "idp": IDP,
                                  "source": "picker"}  # fmt: skip
        app._auth_req_callback_func(context, InternalData(requester=APP))
        return app._auth_req_finish(context, None)

    request(proxy, context, run)
    return context.state


def at_backend(state: State) -> Context:
    context = new_context(state)
    context.target_backend = "orgidp"
    return context


def audit_lines(caplog) -> list[dict]:
    return [json.loads(r.getMessage()) for r in caplog.records
            if r.name == "satosa_efos.audit" and '"login"' in r.getMessage()]  # fmt: skip


def counted(name: str, **labels) -> float:
    return LOCAL_REGISTRY.get_sample_value(name, labels) or 0.0


FINISHED = "satosa_efos_logins_finished_total"
GOTEBORG = {"application": "demo-app", "organisation": "goteborg", "method": "own_idp"}


def test_answered_login_is_one_success_with_attribute_names_and_a_pseudonym(proxy, caplog):
    caplog.set_level(logging.INFO, "satosa_efos.audit")
    before = counted(FINISHED, **GOTEBORG, outcome="success")
    state = start(proxy)
    context = at_backend(state)

    def answer(context):
        context.decorate(SSO_PARTICIPANT, object())
        return "assertion"

    proxy.answer = answer
    delivered = login(givenName=["Eva"], mail=["eva@goteborg.se"], personalIdentityNumber=[
        "191212121212"], displayName=["Eva S"])  # fmt: skip
    request(proxy, context, lambda app, c: app._auth_resp_callback_func(c, delivered))
    (line,) = audit_lines(caplog)
    assert line["outcome"] == "success" and line["error_id"] is None
    assert line["attributes"] == ["givenName", "mail", "personalIdentityNumber"]
    assert line["client_address"] == "192.0.2.10" and line["upstream"] == IDP
    assert (line["loa"], line["loa_accepted"], line["routing"]) == ("loa3", ["loa3"], "picker")
    dt.datetime.fromisoformat(line["time"])
    assert len(line["subject"]) == 32 and "191212121212" not in json.dumps(line)
    assert "Eva" not in json.dumps(line)
    assert counted(FINISHED, **GOTEBORG, outcome="success") == before + 1
    assert observe.STATE not in state


def test_error_status_from_the_idp_is_a_failed_login_and_an_upstream_error(proxy, caplog):
    caplog.set_level(logging.INFO, "satosa_efos.audit")
    errors = ("satosa_efos_upstream_errors_total",
              {"upstream": "idp", "operation": "answer", "error": "failed"})  # fmt: skip
    before = LOCAL_REGISTRY.get_sample_value(*errors) or 0.0
    state = start(proxy)
    error = LoginFailed(state, Reason.FAILED, "idp answered AuthnFailed")
    error.error_id = "urn:uuid:1234"
    request(proxy, at_backend(state),
            lambda app, c: app._handle_satosa_authentication_error(error))  # fmt: skip
    (line,) = audit_lines(caplog)
    assert (line["outcome"], line["error_code"], line["error_id"]) == (
        "failed", "failed", "urn:uuid:1234")  # fmt: skip
    assert line["subject"] is None
    assert LOCAL_REGISTRY.get_sample_value(*errors) == before + 1


def test_refusal_after_the_idp_answered_is_refused_with_the_pages_id_and_no_upstream_error(
    proxy, caplog
):
    caplog.set_level(logging.INFO, "satosa_efos.audit")
    errors = ("satosa_efos_upstream_errors_total",
              {"upstream": "idp", "operation": "answer", "error": "outside_scope"})  # fmt: skip
    before = LOCAL_REGISTRY.get_sample_value(*errors) or 0.0
    state = start(proxy)

    def refuse(context):
        raise ProxyError("not Göteborg's user", code="outside_scope", status=403)

    proxy.answer = refuse
    request(proxy, at_backend(state), lambda app, c: app._auth_resp_callback_func(c, login()))
    (line,) = audit_lines(caplog)
    assert (line["outcome"], line["error_code"], line["error_id"]) == (
        "refused", "outside_scope", "0123456789ab")  # fmt: skip
    assert line["subject"] is not None  # the IdP had answered
    assert (LOCAL_REGISTRY.get_sample_value(*errors) or 0.0) == before


def test_start_answered_by_the_frontend_itself_is_one_refused_login(proxy, caplog):
    """IsPassive, and routing needs a page: the frontend answers NoPassive, no page is shown."""
    caplog.set_level(logging.INFO, "satosa_efos.audit")

    def passive(context):
        raise ProxyError("needs a page", code="no_passive", status=400)

    proxy.next_request = passive

    def frontend(app, context):
        try:
            app._auth_req_callback_func(context, InternalData(requester=APP))
        except ProxyError:
            return "NoPassive status"

    context = new_context()
    context.target_frontend = "idp"
    assert request(proxy, context, frontend) == "NoPassive status"
    (line,) = audit_lines(caplog)
    assert (line["outcome"], line["error_code"]) == ("refused", "no_passive")
    assert len(line["error_id"]) == 12


def test_unrelated_refusal_ends_no_login(proxy, caplog):
    """A login abandoned at the picker, then a page that does not exist: no login line."""
    caplog.set_level(logging.INFO, "satosa_efos.audit")
    state = start(proxy)

    def missing(app, context):
        raise ProxyError("/favicon.ico", code="not_found", status=404)

    request(proxy, new_context(state, "favicon.ico"), missing)
    assert audit_lines(caplog) == []
    assert observe.STATE in state


def test_made_up_requester_is_counted_as_other(proxy):
    before = counted("satosa_efos_logins_started_total", application="other")
    context = new_context()
    made_up = InternalData(requester="https://made-up.example.org/sp")
    request(proxy, context, lambda app, c: app._auth_req_callback_func(c, made_up))
    assert counted("satosa_efos_logins_started_total", application="other") == before + 1
    assert context.state[observe.STATE]["app"] == "other"


def test_metadata_gauge_is_the_loaded_aggregates_time_left():
    until = dt.datetime.now(dt.UTC) + dt.timedelta(days=2)
    loaded = SimpleNamespace(
        file="federation/sambi.xml", aggregate=SimpleNamespace(valid_until=until)
    )
    never = SimpleNamespace(file="federation/other.xml", aggregate=None)  # nothing good loaded yet
    proxy = SimpleNamespace(module_router=SimpleNamespace(
        backends={"orgidp": {"instance": SimpleNamespace(federation=[loaded, never])},
                  "efos": {"instance": SimpleNamespace()}}))  # fmt: skip
    (family,) = observe._federation(proxy)()
    ((sample),) = family.samples
    assert sample.labels == {"backend": "orgidp", "file": "federation/sambi.xml"}
    assert 2 * 86400 - 60 < sample.value <= 2 * 86400


def test_metrics_carry_the_readiness_answer_as_gauges(prod_conf, monkeypatch):
    """/metrics says what /readyz says (the dashboards' readiness panels read it)."""
    from satosa_efos.config.proxy import require_proxy_config
    from satosa_efos.health import Readiness

    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)  # this process's metrics
    config = require_proxy_config(prod_conf)
    readiness = Readiness(prod_conf, config.data)
    proxy = SimpleNamespace(module_router=SimpleNamespace(backends={}),
                            config={"BASE": config.data["BASE"]})  # fmt: skip
    app = observe.with_metrics(lambda environ, start_response: [b""], proxy, readiness)

    body = b"".join(app({"PATH_INFO": "/metrics", "REQUEST_METHOD": "GET"}, lambda *a: None))

    status, report = readiness.report()
    text = body.decode()
    assert f"satosa_efos_ready {1.0 if status == 200 else 0.0}" in text
    assert report["checks"]
    for name, check in report["checks"].items():
        assert f'satosa_efos_readiness_check_ok{{check="{name}"}} {float(check["ok"])}' in text
