"""Single logout at the organisation IdPs: the proxy's SP's SingleLogoutService (docs/sso.md).

The organisation IdP backend (the proxy as SP) lists a SingleLogoutService for HTTP-Redirect and
HTTP-POST in its metadata (``sp_config.service.sp.endpoints.single_logout_service``). Through it:

- **The proxy logs the user out at the IdP** (SAML profiles §4.4.3.1, the proxy as session
  participant): after the applications, the logout walk (:mod:`satosa_efos.logout.walk`) sends
  the browser to the SingleLogoutService in the IdP's metadata with a LogoutRequest signed with
  the SP key, naming the NameID exactly as the IdP issued it and the SessionIndex of the login
  (both kept in the SSO session). The IdP's **LogoutResponse** comes back here and is believed
  only if its RelayState names a logout in progress, its InResponseTo is the request id kept in
  that logout's record (in the session store, not in a worker: any worker or node may get it),
  it comes from that IdP, names this endpoint as Destination, is recent, and is signed by a key
  of the IdP's metadata (the message's own KeyInfo is never used). Otherwise the result page
  says its answer was refused, with an error id; the proxy's session has ended regardless.
- **The IdP logs the user out of the proxy** (the user logged out at the IdP): its
  **LogoutRequest** must come from an IdP of the backend's metadata and pass the same checks.
  It ends this browser's proxy session if that is the session it names (the IdP, the NameID and,
  when given, a SessionIndex of the login), tells the session's applications as any logout does,
  and the IdP gets a signed LogoutResponse at its SingleLogoutService from the result page.
  Without the SSO cookie (or with another session) this browser has nothing of that login here,
  and the IdP gets ``Success`` at once: the proxy does not look for a session by NameID (no
  back-channel; docs/sso.md, "Not yet").

Messages are decoded, verified and built by :mod:`satosa_efos.logout.saml`, the same code as the
SAML frontend's single logout.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import logging
import re
from dataclasses import asdict
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit

from cryptography import x509
from saml2.s_utils import UnknownSystemEntity, UnsupportedBinding
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256

from satosa_efos.federation.live import knows
from satosa_efos.frontends.saml_slo import RefusedLogout, received_message
from satosa_efos.logout import saml as slo
from satosa_efos.logout.registry import proxy_parts
from satosa_efos.logout.walk import deliver
from satosa_efos.saml.response import ResponseBuilder
from satosa_efos.sessions.sso import SsoSession

logger = logging.getLogger(__name__)

BINDINGS = (slo.HTTP_REDIRECT, slo.HTTP_POST)
#: Seconds an IdP's logout message may be old: it is made for the browser that brings it.
MESSAGE_MAX_AGE = 300
#: DOMAIN.md §8: the profile allows at most 60 s of clock skew.
CLOCK_SKEW = 60


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def configured_endpoints(sp_config) -> list[tuple[str, str]]:
    """(location, binding) of the SP's SingleLogoutServices (pysaml2's SP configuration)."""
    endpoints = sp_config.getattr("endpoints", "sp") or {}
    return [
        (str(url), str(binding))
        for url, binding in endpoints.get("single_logout_service") or []
        if binding in BINDINGS
    ]


def names_session(
    session: SsoSession, backend: str, entity_id: str, name_id: str, indexes: list[str]
) -> bool:
    """Whether an IdP's LogoutRequest names this session's login: the same IdP (through this
    backend), the same NameID and, when the request gives SessionIndexes, one of them
    (SAML core §3.7.3.2)."""
    upstream = session.upstream_session
    return (
        upstream is not None
        and upstream.backend == backend
        and session.upstream == entity_id
        and upstream.name_id == name_id
        and (not indexes or upstream.session_index in indexes)
    )


class UpstreamLogout:
    """Single logout between the proxy's SP (one SAML backend) and the IdPs of its metadata."""

    def __init__(self, backend, locations: list[tuple[str, str]]) -> None:
        self.backend = backend
        self.name: str = backend.name
        self.base_url: str = backend.base_url.rstrip("/")
        self.locations = locations
        sp = backend.sp
        certificate = x509.load_pem_x509_certificate(Path(sp.config.cert_file).read_bytes())
        builder = ResponseBuilder(
            sp.sec,
            sp.config.entityid,
            sp.config.key_file,
            certificate,
            sp.config.getattr("signing_algorithm", "sp") or SIG_RSA_SHA256,
            sp.config.getattr("digest_algorithm", "sp") or DIGEST_SHA256,
        )
        self.messages = slo.LogoutMessages(builder)
        proxy_parts(self.base_url).upstream[self.name] = self

    def endpoints(self) -> list:
        """SATOSA's url map entries (paths as SATOSA's SAMLBackend makes them for its ACS)."""
        found = []
        for url, binding in self.locations:
            path = urlsplit(url).path.lstrip("/")
            # SATOSA hands a backend only the paths that begin with its name.
            if path.split("/", 1)[0] != self.name:
                raise ValueError(
                    f"single_logout_service {url}: the path must begin with "
                    f"/{self.name}/ (SATOSA routes only those to this backend)"
                )
            found.append((f"^{re.escape(path)}$", partial(self.handle, binding=binding)))
        return found

    # -- the IdP's metadata ---------------------------------------------------------------------

    def idp_endpoints(self, entity_id: str | None) -> tuple[slo.SloEndpoint, ...]:
        """The IdP's HTTP-Redirect and HTTP-POST SingleLogoutServices; () when its metadata has
        none, or it has no usable metadata (e.g. its federation aggregate expired)."""
        metadata = self.backend.sp.metadata
        if not entity_id or not knows(metadata, entity_id):
            return ()
        try:
            services = metadata.single_logout_service(entity_id, None, "idpsso") or {}
        except (UnknownSystemEntity, UnsupportedBinding):
            return ()
        return tuple(
            slo.SloEndpoint(binding, service["location"], service.get("response_location"))
            for binding in BINDINGS
            for service in services.get(binding) or []
            if service.get("location")
        )

    def certificates(self, entity_id: str) -> list[x509.Certificate]:
        """The IdP's signing certificates from its metadata (never from the message)."""
        try:
            pairs = self.backend.sp.metadata.certs(entity_id, "idpsso", "signing")
        except KeyError:
            return []
        found = []
        for _, text in pairs:
            try:
                found.append(x509.load_der_x509_certificate(base64.b64decode(text)))
            except (binascii.Error, ValueError):
                logger.warning("%s: a signing certificate in its metadata is unreadable", entity_id)
        return found

    # -- what the logout walk asks --------------------------------------------------------------

    def notice(self, session: SsoSession) -> dict | None:
        """How to log the session's user out at its IdP; None when the IdP's metadata has no
        SingleLogoutService."""
        upstream = session.upstream_session
        endpoint = slo.preferred(self.idp_endpoints(session.upstream)) if upstream else None
        if endpoint is None or upstream is None:
            return None
        return {
            "backend": self.name,
            "entity_id": session.upstream,
            "binding": endpoint.binding,
            "location": endpoint.location,
            "name_id": asdict(upstream),
        }

    def logout_request(self, notice: dict, request_id: str, relay_state: str) -> slo.Outgoing:
        """The signed LogoutRequest to the IdP (SAML core §3.7.1)."""
        upstream = notice["name_id"]
        name_id = slo.QualifiedNameId(
            upstream["name_id"],
            upstream.get("name_id_format"),
            upstream.get("name_qualifier"),
            upstream.get("sp_name_qualifier"),
        )
        endpoint = slo.SloEndpoint(notice["binding"], notice["location"])
        return self.messages.logout_request(
            request_id, endpoint, name_id, upstream.get("session_index"), relay_state, _now()
        )

    def continuation(self, initiator: dict, partial: bool) -> slo.Outgoing | None:
        """The signed LogoutResponse to an IdP that asked the proxy to log its user out."""
        return self.messages.answer(
            self.idp_endpoints(initiator.get("entity_id")),
            initiator["request_id"],
            initiator.get("relay_state"),
            _now(),
            partial=partial,
        )

    # -- receiving ------------------------------------------------------------------------------

    def handle(self, context, binding: str):
        received, endpoint_url = received_message(context, binding, self.base_url)
        if received.kind == slo.LOGOUT_REQUEST:
            return self._request(context, received, endpoint_url)
        return self._response(context, received, endpoint_url)

    def _check(self, received: slo.Received, entity_id: str, endpoint_url: str) -> None:
        """BadLogoutMessage unless it names this endpoint, is recent and the IdP signed it."""
        slo.check_destination(received, endpoint_url)
        slo.check_time(received, _now(), MESSAGE_MAX_AGE, CLOCK_SKEW)
        slo.verify(received, self.certificates(entity_id), self.backend.sp.sec.crypto)

    def _response(self, context, received: slo.Received, endpoint_url: str):
        """The IdP's answer to the LogoutRequest the logout walk sent."""
        walk = proxy_parts(self.base_url).walk
        pending = walk.upstream_pending(received.relay_state) if walk is not None else None
        if pending is None:
            raise RefusedLogout("LogoutResponse from an IdP to no logout in progress (RelayState)")
        logout_id, upstream = pending
        entity_id = upstream["entity_id"]
        try:
            if received.issuer != entity_id:
                raise slo.BadLogoutMessage(f"issued by {received.issuer!r}, not {entity_id}")
            if received.root.get("InResponseTo") != upstream["request_id"]:
                raise slo.BadLogoutMessage("it answers another request (InResponseTo)")
            self._check(received, entity_id, endpoint_url)
        except slo.BadLogoutMessage as exc:
            return walk.upstream_refused(context, logout_id, f"LogoutResponse refused: {exc}")
        status, second = received.status
        logger.info("LogoutResponse from %s: %s %s", entity_id, status, second or "")
        return walk.upstream_answered(logout_id, status == slo.SUCCESS, status, second)

    def _request(self, context, received: slo.Received, endpoint_url: str):
        """The IdP logs its user out of the proxy (IdP-initiated single logout)."""
        entity_id = received.issuer or ""
        if not knows(self.backend.sp.metadata, entity_id):
            raise RefusedLogout(f"LogoutRequest from {entity_id!r}, not an IdP of the metadata")
        try:
            self._check(received, entity_id, endpoint_url)
        except slo.BadLogoutMessage as exc:
            raise RefusedLogout(f"LogoutRequest from {entity_id} refused: {exc}") from None
        name_id = received.text("NameID")
        if name_id is None:
            raise RefusedLogout(f"LogoutRequest from {entity_id} names no NameID")
        initiator = {
            "protocol": "upstream",
            "backend": self.name,
            "entity_id": entity_id,
            "request_id": received.id,
            "relay_state": received.relay_state,
        }
        walk = proxy_parts(self.base_url).walk
        _, session, _ = walk.current(context) if walk is not None else (None, None, False)
        indexes = received.session_indexes
        if session is not None and names_session(session, self.name, entity_id, name_id, indexes):
            logger.info("LogoutRequest from %s ends this browser's session", entity_id)
            return walk.start(context, {**initiator, "organisation": session.organisation})
        # Nothing of that login in this browser: Success for what it had (docs/sso.md).
        logger.info("LogoutRequest from %s names no session of this browser", entity_id)
        outgoing = self.continuation(initiator, partial=False)
        if outgoing is None:
            raise RefusedLogout(f"{entity_id} has no SingleLogoutService for the answer")
        return deliver(outgoing)
