"""The proxy's WSGI application: SATOSA, with the project's refusal pages and logging.

Stock SATOSA answers a bad request with a one-line text, an unknown SP or a broken message with
HTTP 500 and a stack trace in the log only. Here every refusal is a Swedish-first page with an
error id that is also in the log line, with a 4xx status when the fault is the request's.
"""

from __future__ import annotations

import logging
import logging.config
import os
from http.cookies import CookieError, SimpleCookie
from pathlib import Path

from saml2.s_utils import UnknownSystemEntity
from satosa.exception import (
    SATOSAAuthenticationFlowError,
    SATOSABadRequestError,
    SATOSAMissingStateError,
    SATOSANoBoundEndpointError,
    SATOSAStateError,
)
from satosa.proxy_server import CookiesSameSiteCompatMiddleware, ToBytesMiddleware, WsgiApplication
from satosa.response import Response
from satosa.satosa_config import SATOSAConfig
from satosa.state import State, cookie_to_state, state_to_cookie

from satosa_efos import state_cookie
from satosa_efos.config.proxy import require_proxy_config
from satosa_efos.errors import (
    BadRequest,
    NotFound,
    ProxyError,
    SessionExpired,
    UnknownApplication,
    new_error_id,
)
from satosa_efos.health import HealthMiddleware, Readiness
from satosa_efos.logging_json import logging_config
from satosa_efos.micro_services.routing import OrganisationRouting
from satosa_efos.observe import LoginObserver, login_refused, with_metrics
from satosa_efos.web.messages import message
from satosa_efos.web.render import render

logger = logging.getLogger(__name__)

_SATOSA_ERRORS: tuple[tuple[type[BaseException], type[ProxyError]], ...] = (
    (SATOSANoBoundEndpointError, NotFound),
    (SATOSABadRequestError, BadRequest),
    (SATOSAMissingStateError, SessionExpired),
    (SATOSAStateError, SessionExpired),
    (SATOSAAuthenticationFlowError, BadRequest),
    (UnknownSystemEntity, UnknownApplication),
)


def as_proxy_error(exc: BaseException) -> ProxyError:
    """The refusal a failure stands for; anything unexpected is an internal error."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ProxyError):
            return current
        for satosa_type, ours in _SATOSA_ERRORS:
            if isinstance(current, satosa_type):
                return ours(str(current))
        current = current.__cause__ or current.__context__
    return ProxyError(type(exc).__name__)


#: Refusals after which a remembered organisation may be the problem: their page links to
#: the routing micro-service's "forget" address.
ROUTING_CODES = {
    "outside_scope",
    "no_login_method",
    "organisation_not_allowed",
    "wrong_idp",
    "idp_unavailable",  # the organisation's IdP left the federation metadata: try another way
}


def error_response(error: ProxyError, path: str = "", forget_url: str | None = None) -> Response:
    """Render the refusal page and log the same error id."""
    error_id = new_error_id()
    login_refused(error, error_id)  # metrics, and the audit line of the login it ends
    log = logger.exception if error.status == 500 else logger.warning
    log(
        "request refused: %s (%s)",
        error.code,
        error.detail,
        extra={
            "error_id": error_id,
            "error_code": error.code,
            "status": error.status,
            "path": path,
        },  # fmt: skip
    )
    body = render(
        "error.html",
        error_id=error_id,
        sv=message("sv", error.code),
        en=message("en", error.code),
        forget_url=forget_url if error.code in ROUTING_CODES else None,
    )
    status = f"{error.status} {_REASONS.get(error.status, 'Error')}"
    return Response(body, status=status, content="text/html; charset=utf-8")


_REASONS = {
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class _SealedState:
    """What ``satosa.state.state_to_cookie`` needs of a state, written in this proxy's format."""

    def __init__(self, state: State) -> None:
        self.delete = state.delete
        self.session_id = state.session_id
        self._data = state.data

    def urlstate(self, encryption_key: str) -> str:
        return state_cookie.encode(self._data, encryption_key)


class StateCookie:
    """SATOSA's state cookie in :mod:`satosa_efos.state_cookie`'s format (AES-GCM, no LZMA);
    SATOSA's own format is still read, for logins in progress during an upgrade."""

    def _load_state(self, context):
        name, key = self.config["COOKIE_STATE_NAME"], self.config["STATE_ENCRYPTION_KEY"]
        state = None
        if context.cookie:
            try:
                morsel = SimpleCookie(context.cookie).get(name)
            except CookieError:
                morsel = None
            value = morsel.value if morsel is not None else ""
            if value.startswith(state_cookie.PREFIX):
                try:
                    state = State()
                    state.data = state_cookie.decode(value, key)
                except state_cookie.StateCookieError as exc:
                    logger.warning("state cookie refused, login state starts afresh: %s", exc)
                    state = None
            elif value:
                try:
                    state = cookie_to_state(context.cookie, name, key)
                except SATOSAStateError:
                    state = None
        if state is None or not state.session_id:
            state = State()
        context.state = state

    def _save_state(self, resp, context):
        name = self.config["COOKIE_STATE_NAME"]
        cookie = state_to_cookie(
            _SealedState(context.state),
            name=name,
            path="/",
            encryption_key=self.config["STATE_ENCRYPTION_KEY"],
            secure=self.config.get("COOKIE_SECURE"),
            httponly=self.config.get("COOKIE_HTTPONLY"),
            samesite=self.config.get("COOKIE_SAMESITE"),
            max_age=self.config.get("COOKIE_MAX_AGE"),
        )
        resp.headers = [(header, value) for (header, value) in resp.headers
                        if header != "Set-Cookie" or not value.startswith(f"{name}=")]  # fmt: skip
        resp.headers.append(tuple(cookie.output().split(": ", 1)))


class EfosProxy(LoginObserver, StateCookie, WsgiApplication):
    """SATOSA's WSGI application with typed refusals instead of SATOSA's generic errors."""

    def __init__(self, config):
        super().__init__(config)
        routing = [m for m in self.request_micro_services or []
                   if isinstance(m, OrganisationRouting)]  # fmt: skip
        self.forget_url = f"{config['BASE']}/{routing[0].name}/forget" if routing else None

    def run(self, context):
        try:
            self._load_state(context)
            spec = self.module_router.endpoint_routing(context)
            resp = self._run_bound_endpoint(context, spec)
            self._save_state(resp, context)
            return resp
        except Exception as exc:
            return error_response(as_proxy_error(exc), context.path or "", self.forget_url)

    def __call__(self, environ, start_response, debug=False):
        path = environ.get("PATH_INFO", "").lstrip("/")
        if path == "" or ".." in path:
            return error_response(NotFound(f"/{path}"), path)(environ, start_response)
        # SATOSA keeps REQUEST_URI as context.request_uri; gunicorn calls it RAW_URI. The SAML
        # frontend verifies a redirect signature over the query string exactly as it was sent.
        if "REQUEST_URI" not in environ and "RAW_URI" in environ:
            environ["REQUEST_URI"] = environ["RAW_URI"]
        try:
            return super().__call__(environ, start_response, debug=True)
        except Exception as exc:
            return error_response(as_proxy_error(exc), path)(environ, start_response)


def create_app(conf_dir: str | os.PathLike | None = None):
    """Build the WSGI application for a configuration directory (checked first).

    The working directory becomes the configuration directory, so that every relative path in
    SATOSA's and pysaml2's settings means what check-config checked.
    """
    conf_dir = Path(conf_dir or os.environ.get("SATOSA_EFOS_CONF_DIR", ".")).resolve()
    config = require_proxy_config(conf_dir)
    os.chdir(conf_dir)
    logging.config.dictConfig(config.data.get("LOGGING") or logging_config())
    app = EfosProxy(SATOSAConfig(config.data))
    # /healthz, /readyz and /metrics are answered before SATOSA's routing (satosa_efos.health,
    # satosa_efos.observe).
    readiness = Readiness(conf_dir, config.data)
    wsgi = ToBytesMiddleware(CookiesSameSiteCompatMiddleware(app, app.config))
    return with_metrics(HealthMiddleware(wsgi, readiness), app, readiness)
