"""The SAML frontend's SingleLogoutService (HTTP-Redirect and HTTP-POST): issue 7, docs/sso.md.

Registered by :class:`~satosa_efos.frontends.saml_idp.EfosSAMLFrontend` beside its SSO endpoints,
at the addresses configured in ``idp_config.service.idp.endpoints.single_logout_service`` (which
the published metadata lists, so applications find them). One endpoint per binding takes both
kinds of message:

- a **LogoutRequest** from an application (the user logged out there): the issuer must be a
  registered application, ``Destination`` this endpoint, the age within ``request_max_age``, and
  the message signed by a key of the application's metadata -- otherwise a refusal page and
  nothing is logged out (anyone could send a user's browser here). Then the logout walk ends the
  session and tells the other applications (:mod:`satosa_efos.logout.walk`), and the initiating
  application gets a signed LogoutResponse at its own SingleLogoutService;
- a **LogoutResponse** from an application the walk asked (inside its frame): matched to the
  walk by ``RelayState`` and ``InResponseTo``, from that application, signed by it; noted.

Applications without a SingleLogoutService in their metadata are listed on the result page as
"cannot be logged out from here".
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from functools import partial
from pathlib import Path

from satosa_efos.errors import BadRequest, UnknownApplication
from satosa_efos.logout import saml as slo
from satosa_efos.logout.registry import proxy_parts
from satosa_efos.logout.walk import deliver
from satosa_efos.sessions.sso import Participant

logger = logging.getLogger(__name__)

BINDINGS = {slo.HTTP_REDIRECT, slo.HTTP_POST}


class RefusedLogout(BadRequest):
    """A logout message that is not believed: a page, and nothing is logged out."""

    code = "bad_logout_message"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def received_message(context, binding: str, base_url: str) -> tuple[slo.Received, str]:
    """(the decoded logout message, the URL of the endpoint it came to); a refusal page when it
    cannot be read (SATOSA's context of a SingleLogoutService endpoint)."""
    try:
        received = slo.receive(binding, context.request, context.request_uri)
    except slo.BadLogoutMessage as exc:
        raise RefusedLogout(f"single logout message refused: {exc}") from None
    return received, f"{base_url}/{context.path}"


def configured_endpoints(idp_config: dict) -> list[tuple[str, str]]:
    """(location, binding) of the proxy's SingleLogoutServices from pysaml2's IdP config."""
    service = ((idp_config.get("service") or {}).get("idp") or {}).get("endpoints") or {}
    return [
        (str(url), str(binding))
        for url, binding in service.get("single_logout_service") or []
        if binding in BINDINGS
    ]


class SamlLogout:
    """Single logout for the SAML frontend: its endpoints and what the logout walk asks of it."""

    def __init__(self, frontend) -> None:
        self.frontend = frontend
        self.base_url = frontend.base_url.rstrip("/")
        self.messages = slo.LogoutMessages(frontend.builder)
        self.slo_endpoints = {
            entity_id: slo.slo_endpoints(
                (Path(frontend.settings.registry_dir) / app.metadata).read_bytes(), entity_id
            )
            for entity_id, app in frontend.applications.items()
        }
        self.locations = configured_endpoints(frontend.idp_config)
        proxy_parts(self.base_url).saml = self

    def endpoints(self) -> list:
        prefix = self.base_url + "/"
        found = []
        for location, binding in self.locations:
            if not location.startswith(prefix):
                raise ValueError(f"single_logout_service {location} is not under BASE {prefix}")
            path = location[len(prefix) :]
            found.append((f"^{re.escape(path)}$", partial(self.handle, binding=binding)))
        return found

    # -- receiving ----------------------------------------------------------------------------

    def handle(self, context, binding: str):
        received, endpoint_url = received_message(context, binding, self.base_url)
        if received.kind == slo.LOGOUT_REQUEST:
            return self._request(context, received, endpoint_url)
        return self._response(received, endpoint_url)

    def _checked(self, received: slo.Received, entity_id: str, endpoint_url: str) -> None:
        settings = self.frontend.settings
        sp = self.frontend.sp_metadata[entity_id]
        try:
            slo.check_destination(received, endpoint_url)
            slo.check_time(received, _now(), settings.request_max_age, settings.clock_skew)
            slo.verify(received, sp.signing_certificates, self.frontend.idp.sec.crypto)
        except slo.BadLogoutMessage as exc:
            raise RefusedLogout(f"{received.kind} from {entity_id} refused: {exc}") from None

    def _request(self, context, received: slo.Received, endpoint_url: str):
        entity_id = received.issuer or ""
        if entity_id not in self.frontend.applications:
            raise UnknownApplication(f"LogoutRequest from unregistered issuer {entity_id!r}")
        self._checked(received, entity_id, endpoint_url)
        if received.text("NameID") is None:
            raise RefusedLogout(f"LogoutRequest from {entity_id} names no NameID")
        logger.info("LogoutRequest from %s (%s)", entity_id, received.binding.rsplit(":", 1)[-1])
        initiator = {
            "protocol": "saml",
            "application": entity_id,
            "request_id": received.id,
            "relay_state": received.relay_state,
        }
        walk = proxy_parts(self.base_url).walk
        if walk is None:  # no SSO configured: there is no session to end, only an answer
            outgoing = self.continuation(initiator, partial=False)
            if outgoing is None:
                raise RefusedLogout(f"{entity_id} has no SingleLogoutService for the answer")
            return deliver(outgoing)
        return walk.start(context, initiator)

    def _response(self, received: slo.Received, endpoint_url: str):
        walk = proxy_parts(self.base_url).walk
        found = walk.notice(received.relay_state) if walk is not None else None
        if found is None:
            raise RefusedLogout("LogoutResponse to no logout in progress (RelayState)")
        logout_id, index, notice = found
        entity_id = notice["application"]
        if received.issuer != entity_id:
            raise RefusedLogout(f"LogoutResponse from {received.issuer!r}, not {entity_id}")
        if received.root.get("InResponseTo") != walk.request_id(logout_id, index):
            raise RefusedLogout(f"LogoutResponse from {entity_id} answers another request")
        self._checked(received, entity_id, endpoint_url)
        status, second = received.status
        ok = status == slo.SUCCESS and second != slo.PARTIAL_LOGOUT
        logger.info("LogoutResponse from %s: %s %s", entity_id, status, second or "")
        return walk.answered(
            logout_id, index, ok, " ".join(filter(None, (status, second))), notice["lang"]
        )

    # -- what the walk asks -------------------------------------------------------------------

    def notice(self, participant: Participant) -> dict | None:
        """How to tell this application; None when its metadata has no SingleLogoutService."""
        endpoint = slo.preferred(self.slo_endpoints.get(participant.application, ()))
        if endpoint is None or not participant.name_id:
            return None
        return {
            "protocol": "saml",
            "application": participant.application,
            "name_id": participant.name_id,
            "name_id_format": participant.name_id_format,
            "session_index": participant.session_index,
            "binding": endpoint.binding,
            "location": endpoint.location,
        }

    def logout_request(self, notice: dict, request_id: str, relay_state: str) -> slo.Outgoing:
        endpoint = slo.SloEndpoint(notice["binding"], notice["location"])
        # The NameID as the application received it: the proxy's NameQualifier, its own
        # SPNameQualifier (saml/subject.py).
        name_id = slo.QualifiedNameId(
            notice["name_id"],
            notice.get("name_id_format"),
            self.messages.issuer,
            notice["application"],
        )
        return self.messages.logout_request(
            request_id, endpoint, name_id, notice.get("session_index"), relay_state, _now()
        )

    def continuation(self, initiator: dict, partial: bool) -> slo.Outgoing | None:
        """The initiating application's signed LogoutResponse (SAML core §3.7.2)."""
        return self.messages.answer(
            self.slo_endpoints.get(initiator["application"], ()),
            initiator["request_id"],
            initiator.get("relay_state"),
            _now(),
            partial=partial,
        )


def saml_logout_endpoints(frontend) -> list:
    """The frontend's SingleLogoutService endpoints (call from ``register_endpoints``)."""
    return SamlLogout(frontend).endpoints()
