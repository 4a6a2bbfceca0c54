"""Every login observed once, where SATOSA passes it: the login metrics and the audit line.

SATOSA hands a login from the frontend to the micro-services and the backend, and back, through
a few methods of its application object; :class:`LoginObserver` (mixed into the proxy's
``EfosProxy``) wraps them, so no frontend, backend or micro-service has to remember to report:

- the frontend accepted a request (``_auth_req_callback_func``): the login *started*; its start
  time and application go into SATOSA's state (a few bytes), because the login ends in another
  request, maybe in another worker or node;
- the proxy sends the user to the login method (``_auth_req_finish``) and gets the login back
  (``_auth_resp_callback_func``): the *round trip* of the upstream;
- the frontend answers (``_auth_resp_finish``): *success* when it built an assertion or a code
  (it tells single sign-on who it answered, :data:`~satosa_efos.state_keys.SSO_PARTICIPANT`),
  else *refused* (e.g. a weaker LoA than accepted, answered with a SAML status);
- a login ends without a user (``_handle_satosa_authentication_error``,
  :class:`~satosa_efos.failures.LoginFailed`): *cancelled*, *refused* or *failed*, with SATOSA's
  error id;
- a refusal page (``app.error_response`` calls :func:`login_refused` with the page's error id):
  *refused*, *unavailable* (503) or *error* (500).

Whichever comes first ends the login: one ``login`` audit line (:func:`~satosa_efos.audit.
audit_login`) and one count in ``satosa_efos_logins_finished_total``. A login the user abandons
(closes the picker) never ends: started minus finished shows them.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import hashlib
import hmac
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from satosa_efos import audit, metrics
from satosa_efos.config.models import LoginMethod
from satosa_efos.config.registries import cached_registries
from satosa_efos.errors import ProxyError, new_error_id
from satosa_efos.failures import LoginFailed, Reason
from satosa_efos.health import FileFacts, Readiness, certificate_not_after
from satosa_efos.logout.registry import proxy_parts
from satosa_efos.state_keys import (
    REQUESTED_LOA,
    ROUTING,
    SSO_PARTICIPANT,
    SSO_REUSE,
    SSO_SESSION,
)
from satosa_efos.web.messages import MESSAGES

logger = logging.getLogger(__name__)

#: State entry of a login in progress: ``t`` start (epoch s), ``app`` application id, ``u``
#: when the user was sent to the login method.
STATE = "satosa_efos_obs"
#: The ``source`` of routing for a login answered from the SSO session (backends/sso.py).
SSO_SOURCE = "sso"
METHODS = (*(str(m) for m in LoginMethod), SSO_SOURCE)
IDP_METHODS = (str(LoginMethod.OWN_IDP), str(LoginMethod.INERA_IDP))
#: Error codes of the frontends' own refusing answers (no page, a SAML status / OIDC error).
ANSWER_CODES = ("weaker_loa", "answer_refused")
#: How long the count of SSO sessions is reused by a worker, seconds.
SSO_COUNT_CACHE = 15.0


#: The ``code`` / ``error`` label values: the refusal pages' codes and the reasons a login ends.
ERROR_CODES = frozenset({*MESSAGES["sv"], *(str(r) for r in Reason), *ANSWER_CODES})


@dataclass
class _Request:
    """What one HTTP request learnt about the login it belongs to."""

    observer: Observer
    context: Any = None
    #: A login whose start raised (its state entry, and what was raised): a frontend may answer
    #: that itself (IsPassive), or the application renders a page.
    failed_start: tuple[dict, BaseException] | None = None
    #: The login as the backend delivered it in this request (before the response chain).
    delivered: Any = None
    #: Facts of the state taken before the frontend removes its entries.
    facts: dict | None = None
    finished: bool = False


_CURRENT: contextvars.ContextVar[_Request | None] = contextvars.ContextVar(
    "satosa_efos_observe", default=None
)


def _facts(state: Any) -> dict:
    state = state if state is not None else {}
    routing = state.get(ROUTING) or {}
    contract = state.get(REQUESTED_LOA) or {}
    return {
        "organisation": routing.get("organisation"),
        "method": routing.get("method"),
        "idp": routing.get("idp"),
        "source": routing.get("source"),
        "loa_requested": list(contract.get("requested") or []),
        "loa_accepted": list(contract.get("accepted") or []),
    }


def _outcome_of_status(status: int) -> str:
    return {500: "error", 503: "unavailable"}.get(status, "refused")


def _outcome_of_reason(reason: Reason) -> str:
    return {Reason.CANCELLED: "cancelled", Reason.FAILED: "failed"}.get(reason, "refused")


class Observer:
    """The bounded label values and the audit settings of one proxy."""

    def __init__(self, proxy: Any, config: Any):
        try:
            registries = cached_registries(Path(".").resolve())  # create_app chdirs to conf/
        except Exception:  # a configuration without registries: every application is "other"
            registries = None
        apps = registries.applications.applications if registries else ()
        self.application_ids = {r: a.id for a in apps for r in (a.entity_id, a.client_id) if r}
        self.applications = {a.id: a for a in apps}
        self.organisations = frozenset(registries.organisations.by_id if registries else ())
        audit.configure(_audit_key(config), _trusted_proxies(proxy))

    # -- labels ---------------------------------------------------------------------------------

    def application_id(self, requester: str | None) -> str:
        return self.application_ids.get(requester or "", metrics.OTHER)

    # -- the login's events ---------------------------------------------------------------------

    def started(self, context: Any, requester: str | None) -> dict:
        record = {"t": round(time.time(), 3), "app": self.application_id(requester)}
        context.state[STATE] = record
        with _never_fails("login start"):
            metrics.LOGINS_STARTED.labels(record["app"]).inc()
        return record

    def finish(self, context: Any, record: dict, outcome: str, **details: Any) -> None:
        """The end of a login: counted and audited, once. Never the reason a login fails."""
        request = _CURRENT.get()
        if request is not None:
            request.finished = True
        with _never_fails("login end"):
            self._finish(context, record, outcome, **details)

    def _finish(
        self,
        context: Any,
        record: dict,
        outcome: str,
        *,
        internal: Any = None,
        facts: dict | None = None,
        code: str | None = None,
        error_id: str | None = None,
    ) -> None:
        state = getattr(context, "state", None)
        facts = facts or _facts(state)
        app_id = record.get("app") or metrics.OTHER
        reused = facts["source"] == SSO_SOURCE
        method_label = SSO_SOURCE if reused else metrics.bounded(facts["method"], METHODS)
        organisation = metrics.bounded(facts["organisation"], self.organisations)
        duration = max(0.0, time.time() - float(record.get("t") or time.time()))
        metrics.LOGINS_FINISHED.labels(app_id, organisation, method_label, outcome).inc()
        metrics.LOGIN_DURATION.labels(method_label, outcome).observe(duration)
        auth = getattr(internal, "auth_info", None)
        attributes = getattr(internal, "attributes", None) or {}
        session = context.get_decoration(SSO_SESSION) or context.get_decoration(SSO_REUSE)
        audit.audit_login(
            audit.LoginRecord(
                outcome=outcome,
                session_id=getattr(state, "session_id", None),
                sso_session=audit.sso_session_pseudonym(getattr(session, "key", None)),
                client_address=audit.client_address_of(context),
                application=app_id,
                requester=getattr(internal, "requester", None)
                or ((state or {}).get("SATOSA_BASE") or {}).get("requester"),
                organisation=facts["organisation"],
                method=facts["method"],
                upstream=getattr(auth, "issuer", None) or facts["idp"],
                routing=facts["source"],
                loa_requested=facts["loa_requested"],
                loa_accepted=facts["loa_accepted"],
                loa=getattr(auth, "auth_class_ref", None),
                attributes=self._released(app_id, attributes) if outcome == "success" else [],
                subject=audit.subject_pseudonym(attributes, getattr(internal, "subject_id", None),
                                                getattr(auth, "issuer", None))
                if internal is not None else None,
                error_code=code,
                error_id=error_id,
                duration_ms=int(duration * 1000),
            )
        )  # fmt: skip

    def _released(self, app_id: str, attributes: dict) -> list[str]:
        """The names the application's registration releases that the login had values for
        (the frontend may narrow them further to what a SAML application's metadata asks)."""
        app = self.applications.get(app_id)
        if app is None:
            return []
        return sorted(n for n in app.released_attributes
                      if attributes.get(n) or n == "levelOfAssurance")  # fmt: skip


@contextlib.contextmanager
def _never_fails(what: str):
    try:
        yield
    except Exception:  # observing a login must not end it (a full disk, a logging handler)
        logger.exception("%s not observed", what)


def _audit_key(config: Any) -> bytes:
    """The key of the subject pseudonyms: the ``audit_key`` the micro-services are configured
    with (the scope check's), so every audit line names one person the same way; without one,
    a key derived from the state encryption key."""
    for plugin in config.get("MICRO_SERVICES") or []:
        plugin_config = plugin.get("config") if isinstance(plugin, dict) else None
        key = (plugin_config or {}).get("audit_key")
        if isinstance(key, str) and key:
            return key.encode()
    state_key = str(config.get("STATE_ENCRYPTION_KEY") or "")
    logger.warning("no audit_key configured: audit pseudonyms use a key derived from the state "
                   "encryption key")  # fmt: skip
    return hmac.new(state_key.encode(), b"satosa-efos audit subject", hashlib.sha256).digest()


def _trusted_proxies(proxy: Any) -> list:
    """The reverse proxies the SAML frontend believes (``trusted_proxies`` of saml_idp.yaml)."""
    for frontend in proxy.module_router.frontends.values():
        settings = getattr(frontend["instance"], "settings", None)
        networks = getattr(settings, "trusted_proxies", None)
        if networks:
            return list(networks)
    return []


def _at_backend_endpoint(context: Any) -> bool:
    return bool(context.target_backend and not context.target_frontend
                and not context.target_micro_service)  # fmt: skip


def _upstream_kind(method: str | None) -> str | None:
    return "idp" if method in IDP_METHODS else None


def _answer_error(facts: dict, error: BaseException) -> None:
    """A login ended at a backend endpoint before the backend delivered it: the upstream's
    answer was an error or unusable (organisation IdPs; Efos counts its own calls)."""
    kind = _upstream_kind(facts["method"])
    if kind:
        with _never_fails("upstream error"):
            metrics.UPSTREAM_ERRORS.labels(kind, "answer", _code(error)).inc()


class LoginObserver:
    """Mixed into SATOSA's ``WsgiApplication`` (``class EfosProxy(LoginObserver, ...)``)."""

    def __init__(self, config):
        super().__init__(config)
        self.observer = Observer(self, config)

    def __call__(self, environ, start_response, debug=False):
        token = _CURRENT.set(_Request(self.observer))
        try:
            return super().__call__(environ, start_response, debug)
        finally:
            request = _CURRENT.get()
            if request is not None and request.failed_start and not request.finished:
                # The frontend answered a failed start itself (IsPassive: NoPassive).
                record, exc = request.failed_start
                code = exc.code if isinstance(exc, ProxyError) else type(exc).__name__
                self.observer.finish(request.context, record, "refused", facts=request.facts,
                                     code=code, error_id=new_error_id())  # fmt: skip
            _CURRENT.reset(token)

    def _load_state(self, context):
        super()._load_state(context)
        request = _CURRENT.get()
        if request is not None:
            request.context = context

    def _auth_req_callback_func(self, context, internal_request):
        record = self.observer.started(context, internal_request.requester)
        try:
            return super()._auth_req_callback_func(context, internal_request)
        except Exception as exc:
            context.state.pop(STATE, None)
            request = _CURRENT.get()
            if request is not None:
                request.failed_start, request.facts = (record, exc), _facts(context.state)
            raise

    def _auth_req_finish(self, context, internal_request):
        record = context.state.get(STATE)
        if record is not None:
            record["u"] = round(time.time(), 3)
        try:
            return super()._auth_req_finish(context, internal_request)
        except Exception as exc:
            kind = _upstream_kind((context.state.get(ROUTING) or {}).get("method"))
            if kind:
                with _never_fails("upstream error"):
                    metrics.UPSTREAM_ERRORS.labels(kind, "request", _code(exc)).inc()
            raise

    def _auth_resp_callback_func(self, context, internal_response):
        request = _CURRENT.get()
        if request is not None:
            request.delivered = internal_response
        record = context.state.get(STATE) or {}
        routing = context.state.get(ROUTING) or {}
        if record.get("u") and routing.get("source") != SSO_SOURCE:
            method = metrics.bounded(routing.get("method"), METHODS)
            with _never_fails("round trip"):
                metrics.UPSTREAM_ROUND_TRIP.labels(method).observe(time.time() - record["u"])
        return super()._auth_resp_callback_func(context, internal_response)

    def _auth_resp_finish(self, context, internal_response):
        facts = _facts(context.state)
        request = _CURRENT.get()
        if request is not None:
            request.facts = facts
        response = super()._auth_resp_finish(context, internal_response)
        record = context.state.pop(STATE, None)
        if record is not None:
            if context.get_decoration(SSO_PARTICIPANT) is not None:
                self.observer.finish(context, record, "success", internal=internal_response,
                                     facts=facts)  # fmt: skip
            else:
                loa = getattr(internal_response.auth_info, "auth_class_ref", None)
                code = "answer_refused" if loa in facts["loa_accepted"] else "weaker_loa"
                self.observer.finish(context, record, "refused", internal=internal_response,
                                     facts=facts, code=code, error_id=new_error_id())  # fmt: skip
        return response

    def _handle_satosa_authentication_error(self, error):
        state = error.state
        facts = _facts(state)
        response = super()._handle_satosa_authentication_error(error)
        request = _CURRENT.get()
        record = state.pop(STATE, None) if state is not None else None
        if record is not None and request is not None and request.context is not None:
            reason = error.reason if isinstance(error, LoginFailed) else Reason.FAILED
            error_id = getattr(error, "error_id", None)
            if _at_backend_endpoint(request.context) and request.delivered is None:
                _answer_error(facts, error)
            self.observer.finish(request.context, record, _outcome_of_reason(reason),
                                 internal=request.delivered, facts=facts, code=str(reason),
                                 error_id=error_id)  # fmt: skip
        return response


def _code(exc: BaseException) -> str:
    if isinstance(exc, LoginFailed):
        code = str(exc.reason)
    else:
        code = getattr(exc, "code", None) or "error"
    return metrics.bounded(code, ERROR_CODES)


def login_refused(error: ProxyError, error_id: str) -> None:
    """Called by ``app.error_response`` for every refusal page: the refusal metric, and the end of
    the login the request belongs to (if it does, and nothing ended it yet)."""
    with _never_fails("refusal"):
        metrics.REFUSALS.labels(metrics.bounded(error.code, ERROR_CODES)).inc()
    request = _CURRENT.get()
    if request is None or request.finished or request.context is None:
        return
    context = request.context
    if request.failed_start is not None:
        record, _ = request.failed_start
    elif error.code != "not_found" and (
        context.target_frontend or context.target_backend or context.target_micro_service
    ):
        record = (context.state or {}).pop(STATE, None) if context.state is not None else None
    else:
        record = None
    if record is None:
        return
    facts = request.facts or _facts(context.state)
    if _at_backend_endpoint(context) and request.delivered is None:
        _answer_error(facts, error)
    outcome = _outcome_of_status(error.status)
    request.observer.finish(context, record, outcome, internal=request.delivered, facts=facts,
                            code=error.code, error_id=error_id)  # fmt: skip


# -- /metrics -----------------------------------------------------------------------------------


def _relative(path: Path, base: Path) -> str:
    try:
        return str(path.relative_to(base))
    except ValueError:
        return str(path)


def _certificates(readiness: Readiness):
    """Seconds until each certificate the configuration names expires (the proxy's signing and
    encryption certificates, pinned federation signers, client certificates)."""
    not_after = FileFacts(certificate_not_after)
    base = readiness.conf_dir.resolve()

    def certificates() -> Iterable:
        now = dt.datetime.now(dt.UTC)
        items = []
        for path, plugin in readiness.targets.cert_files.items():
            try:
                items.append(([plugin, _relative(path, base)],
                              (not_after(path) - now).total_seconds()))  # fmt: skip
            except (OSError, ValueError):  # /readyz says what is wrong with it
                continue
        yield metrics.seconds_left_gauge(
            metrics.CERTIFICATE_EXPIRY,
            "Seconds until the certificate's notAfter (negative: expired).",
            ["plugin", "file"], items)  # fmt: skip

    return certificates


def _federation(proxy: Any):
    """Seconds until the validUntil of each federation aggregate a worker has loaded."""
    sources = [(name, live) for name, backend in proxy.module_router.backends.items()
               for live in getattr(backend["instance"], "federation", None) or []]  # fmt: skip

    def federation_metadata() -> Iterable:
        now = dt.datetime.now(dt.UTC)
        items = [([name, str(live.file)], (live.aggregate.valid_until - now).total_seconds())
                 for name, live in sources if live.aggregate is not None]  # fmt: skip
        yield metrics.seconds_left_gauge(
            metrics.METADATA_EXPIRY,
            "Seconds until the validUntil of the loaded federation aggregate (negative: expired).",
            ["backend", "file"], items)  # fmt: skip

    return federation_metadata


def _sso_count(base_url: str):
    def count() -> int | None:
        service = proxy_parts(base_url).sso
        return None if service is None else service.store.count()

    return metrics.Cached(count, SSO_COUNT_CACHE)


def with_metrics(wsgi_app, proxy: Any, readiness: Readiness):
    """``wsgi_app`` with ``/metrics`` answered in front of it (like ``/healthz``)."""
    scrape = metrics.ScrapeCollector(
        _certificates(readiness),
        _federation(proxy),
        metrics.sso_session_gauge(_sso_count(proxy.config["BASE"])),
        metrics.readiness_gauges(lambda: ((c.name, c.ok) for c in readiness.checks())),
    )
    return metrics.MetricsMiddleware(wsgi_app, scrape)
