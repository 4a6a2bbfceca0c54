"""Single sign-on micro-services (issue 7, docs/sso.md): reuse a session, note a login, record it.

Three SATOSA micro-services, because a login passes three points that SATOSA keeps apart:

- :class:`SsoReuse` (request, **first** in ``MICRO_SERVICES``): reads the SSO cookie, loads the
  session and applies the reuse rules (DOMAIN.md §5, :func:`~satosa_efos.sessions.sso.
  reuse_decision`): live, exactly an accepted LoA, no ``ForceAuthn`` / ``prompt=login`` /
  exceeded ``max_age``, and the application admits the session's organisation. Then it sends the
  login to the ``sso`` backend (:mod:`satosa_efos.backends.sso`), which answers at once, and
  routing steps aside. Anything else -- no cookie, another LoA, a store outage -- is a normal
  login. It also serves the proxy's own pages: ``/session`` and ``/logout``
  (:mod:`satosa_efos.logout.walk`).
- :class:`SsoLogin` (response, **first** of the response services): notes the login as the
  upstream gave it (subject, attributes, LoA, time, IdP, organisation, method, and the upstream
  IdP's NameID and SessionIndex that its backend left in the state) in SATOSA's state,
  before the HSA look-up and release change the attributes for one application: the next
  application gets its own HSA look-up from the upstream's attributes, not the first one's.
- :class:`SsoRecord` (response, **last**): sees the frontend's answer (it calls the frontend
  itself, through the chain). If the frontend answered with an assertion or a code, it creates
  the session (a new login; the old session of this browser is replaced, its applications
  carried over so that single logout still reaches them) or adds the application to the reused
  one, and sets the cookie. The HSA commission page pauses the chain and resumes it at the hsa
  endpoint; this service is after hsa, so it runs then too, and the note from :class:`SsoLogin`
  waits in the state meanwhile.

Configuration (``sso.yaml``, the :class:`SsoSettings` model; the other two take ``config: {}``).
A store outage never fails a login: the user logs in again and is told nothing (logged).
"""

from __future__ import annotations

import copy
import logging
import time
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from satosa.micro_services.base import RequestMicroService, ResponseMicroService
from satosa.response import Response

from satosa_efos.audit import audit
from satosa_efos.backends.sso import SOURCE
from satosa_efos.config.registries import cached_registries
from satosa_efos.logout.registry import proxy_parts
from satosa_efos.logout.walk import LogoutWalk
from satosa_efos.sessions.cookie import SsoCookie
from satosa_efos.sessions.service import SsoService, authn_epoch
from satosa_efos.sessions.sso import Reuse, SsoSession, reuse_decision
from satosa_efos.sessions.store import DEFAULT_TIMEOUT, StoreUnavailable, check_store_uri
from satosa_efos.state_keys import (
    REQUEST_HINTS,
    REQUESTED_LOA,
    ROUTING,
    SSO_LOGIN,
    SSO_PARTICIPANT,
    SSO_REUSE,
    SSO_SESSION,
    UPSTREAM_SESSION,
)

logger = logging.getLogger(__name__)


class SsoSettings(BaseModel):
    """``config`` of ``sso.yaml`` (checked by check-config, with lines)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Where applications.yaml and the organisation registry are.
    registry_dir: str = "."
    #: ``sqlite:PATH`` (one node, relative to the configuration directory) or ``redis://…`` /
    #: ``rediss://…`` (several nodes; ``rediss`` is TLS, a password goes in the URL from
    #: ``${ENV}``).
    store: str = "sqlite:state/sso.sqlite3"
    #: Seconds a store operation may take before the login goes on without SSO.
    store_timeout: float = Field(DEFAULT_TIMEOUT, gt=0, le=10)
    #: A session ends after this many seconds without a login to any application (30 min) ...
    idle_timeout: int = Field(1800, ge=60, le=86400)
    #: ... and this long after it began, whatever happens (10 h).
    absolute_timeout: int = Field(36000, ge=300, le=7 * 86400)
    #: The name of the :class:`~satosa_efos.backends.sso.SsoBackend` in BACKEND_MODULES.
    backend: str = "sso"
    #: ``__Host-``: browsers accept the cookie only if Secure, for Path=/ and with no Domain, so
    #: no other host (a subdomain) can plant a session id of its choosing (RFC 6265bis §4.1.3.2).
    cookie_name: str = Field("__Host-satosa_efos_sso", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    #: Only the plain-http demo on loopback may say false.
    cookie_secure: bool = True
    #: ``None`` (default): the cookie also comes with a SAML application's cross-site POST;
    #: ``Lax``: only with GET navigations (OIDC, HTTP-Redirect) -- see docs/sso.md.
    cookie_samesite: Literal["None", "Lax", "Strict"] = "None"
    #: Seconds the logout page waits for the applications before it shows the result.
    logout_wait: int = Field(10, ge=2, le=60)

    @field_validator("store")
    @classmethod
    def _usable_store(cls, value: str) -> str:
        return check_store_uri(value)

    @model_validator(mode="after")
    def _consistent(self) -> SsoSettings:
        if self.cookie_samesite == "None" and not self.cookie_secure:
            raise ValueError("cookie_samesite: None needs cookie_secure: true (browsers drop it)")
        if self.cookie_name.startswith("__Host-") and not self.cookie_secure:
            raise ValueError("a __Host- cookie needs cookie_secure: true (browsers drop it)")
        if self.idle_timeout > self.absolute_timeout:
            raise ValueError("idle_timeout is longer than absolute_timeout")
        return self


class NoConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _max_age(value: object) -> float | None:
    """OIDC ``max_age`` (seconds) from the request hints; unreadable means 0 (log in again)."""
    if value is None or value == "":
        return None
    try:
        return max(0.0, float(str(value)))
    except ValueError:
        return 0.0


class SsoReuse(RequestMicroService):
    CONFIG_MODEL = SsoSettings

    @staticmethod
    def cross_check(config: dict, facts) -> list[tuple[tuple, str]]:
        """check-config: the SSO backend is loaded."""
        backend = config.get("backend", "sso")
        if backend not in facts.backends:
            loaded = ", ".join(sorted(facts.backends)) or "none"
            return [
                (
                    ("backend",),
                    f"backend '{backend}' is not loaded (backends: {loaded}); add "
                    "plugins/backends/sso.yaml to BACKEND_MODULES",
                )
            ]
        return []

    def __init__(self, config, internal_attributes=None, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.settings = settings = SsoSettings.model_validate(config or {})
        registries = cached_registries(settings.registry_dir)
        self.applications = registries.applications
        self.service = SsoService(
            store_uri=settings.store,
            base_dir=Path(".").resolve(),  # the configuration directory (create_app chdirs)
            idle_timeout=settings.idle_timeout,
            absolute_timeout=settings.absolute_timeout,
            cookie=SsoCookie(
                settings.cookie_name, settings.cookie_secure, settings.cookie_samesite
            ),
            timeout=settings.store_timeout,
        )
        parts = proxy_parts(self.base_url)
        parts.sso = self.service
        parts.walk = self.walk = LogoutWalk(
            self.service, registries, self.base_url, settings.logout_wait
        )

    def register_endpoints(self):
        return self.walk.endpoints()

    def process(self, context, data):
        session = self._reusable(context, data.requester)
        if session is not None:
            context.decorate(SSO_REUSE, session)
            context.target_backend = self.settings.backend
        return super().process(context, data)

    def _reusable(self, context, requester: str) -> SsoSession | None:
        application = self.applications.for_requester(requester)
        if application is None or not self.service.cookie.read(context.cookie):
            return None
        try:
            _, session = self.service.current(context.cookie)
        except StoreUnavailable as exc:
            # Issue 7: an outage costs the user a login, never an error page.
            logger.warning("SSO store unavailable, a fresh login for %s: %s", requester, exc)
            audit("sso_store_unavailable", requester=requester)
            return None
        hints = context.get_decoration(REQUEST_HINTS) or {}
        contract = context.state.get(REQUESTED_LOA) or {}
        decision = reuse_decision(
            session,
            now=time.time(),
            accepted_loas=contract.get("accepted") or (),
            force_authn=bool(hints.get("force_authn")),
            max_age=_max_age(hints.get("max_age")),
            allowed_organisations=application.allowed_organisations,
        )
        audit(
            "sso_decision",
            requester=requester,
            decision=decision.value,
            organisation=session.organisation if session else None,
        )
        return session if decision is Reuse.REUSE else None


class SsoLogin(ResponseMicroService):
    CONFIG_MODEL = NoConfig

    def __init__(self, config, internal_attributes=None, *args, **kwargs):
        super().__init__(*args, **kwargs)
        NoConfig.model_validate(config or {})

    def process(self, context, data):
        routed = context.state.get(ROUTING) or {}
        auth = data.auth_info
        # Only the note of this very login (its issuer): never one left from another login.
        upstream = context.state.pop(UPSTREAM_SESSION, None) or {}
        context.state[SSO_LOGIN] = {
            "reused": routed.get("source") == SOURCE,
            "organisation": routed.get("organisation"),
            "method": routed.get("method"),
            "upstream": auth.issuer,
            "authority": auth.authority,
            "loa": auth.auth_class_ref,
            "authn_instant": authn_epoch(auth.timestamp, time.time()),
            "subject_id": data.subject_id,
            "attributes": copy.deepcopy(data.attributes),
            "upstream_session": {k: v for k, v in upstream.items() if k != "issuer"}
            if upstream.get("issuer") and upstream.get("issuer") == auth.issuer
            else None,
        }
        return super().process(context, data)


class SsoRecord(ResponseMicroService):
    CONFIG_MODEL = NoConfig

    def __init__(self, config, internal_attributes=None, *args, **kwargs):
        super().__init__(*args, **kwargs)
        NoConfig.model_validate(config or {})

    def process(self, context, data):
        login = context.state.pop(SSO_LOGIN, None)
        service: SsoService | None = proxy_parts(self.base_url).sso
        if login is None or service is None:
            if service is None:
                logger.error("sso_record without the sso micro-service: no session recorded")
            return super().process(context, data)
        now = time.time()
        try:
            _, current = service.current(context.cookie, now)
        except StoreUnavailable as exc:
            logger.warning("SSO store unavailable, login not recorded: %s", exc)
            return super().process(context, data)
        if login["reused"]:
            if current is None:  # ended meanwhile (logout, expiry): answer, record nothing
                return super().process(context, data)
            session, new = current, False
        else:
            session, new = service.new_session(login, now), True
            if current is not None:  # replaced; its applications still need single logout
                session.participants = list(current.participants)
        context.decorate(SSO_SESSION, session)
        response = super().process(context, data)
        participant = context.get_decoration(SSO_PARTICIPANT)
        if participant is None or not isinstance(response, Response):
            return response  # an error answer (or a page): nothing to record
        try:
            if new:
                session.add_participant(participant)
                service.store.save(session)
                if current is not None:
                    service.store.delete(current.session_id)
                response.headers.append(
                    service.cookie.set(session.session_id, service.cookie_lifetime(session, now))
                )
            else:
                service.store.add_participant(session.session_id, participant, now)
        except StoreUnavailable as exc:
            logger.warning("SSO store unavailable, login not recorded: %s", exc)
            return response
        audit(
            "sso_session",
            action="created" if new else "reused",
            requester=participant.application,
            organisation=session.organisation,
            method=session.method,
            loa=session.loa,
        )
        return response
