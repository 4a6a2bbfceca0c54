"""The OIDC frontend's part in single logout (issue 7, docs/sso.md, docs/oidc.md).

- **RP-initiated logout** (OpenID Connect RP-Initiated Logout 1.0) at ``<BASE>/oidc/end_session``,
  published as ``end_session_endpoint``: ``id_token_hint`` (an ID token this proxy signed, also an
  expired one, §2), ``client_id``, ``post_logout_redirect_uri`` (compared exactly with the
  client's registered ``post_logout_redirect_uris``; an unregistered one gets a page, never a
  redirect, §3) and ``state``. A hint whose ``sid`` is this browser's session for that client
  logs out at once; without one the user confirms on a page first (§6: a logout request without
  a valid hint could be anyone's).
- **Front-channel logout** (OpenID Connect Front-Channel Logout 1.0): a client with a
  ``frontchannel_logout_uri`` in applications.yaml is loaded in a frame of the logout page with
  ``iss`` and ``sid`` (§3, §4); the ID token carries the same ``sid``. The client's answer cannot
  be seen, so it counts as "notified".
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlencode, urlsplit

from jwkest import BadSignature, JWKESTException
from jwkest.jws import JWS
from satosa.response import SeeOther

from satosa_efos.errors import BadRequest
from satosa_efos.logout.registry import proxy_parts
from satosa_efos.logout.saml import Outgoing
from satosa_efos.sessions.sso import Participant, participant_sid

logger = logging.getLogger(__name__)


class InvalidLogoutRequest(BadRequest):
    code = "bad_logout_message"


def _with_query(url: str, params: dict[str, str]) -> str:
    return f"{url}{'&' if urlsplit(url).query else '?'}{urlencode(params)}"


class OidcLogout:
    def __init__(self, frontend) -> None:
        self.frontend = frontend
        self.base_url = frontend.base_url.rstrip("/")
        self.path = f"{frontend.name}/end_session"
        info = frontend.provider.configuration_information
        self.issuer = info["issuer"]
        info.update(
            {
                "end_session_endpoint": f"{self.base_url}/{self.path}",
                "frontchannel_logout_supported": True,
                "frontchannel_logout_session_supported": True,
            }
        )
        proxy_parts(self.base_url).oidc = self

    def endpoints(self) -> list:
        return [(f"^{self.path}$", self.end_session)]

    # -- RP-initiated logout ------------------------------------------------------------------

    def _hint(self, token: str) -> dict[str, Any]:
        """The claims of an ID token this proxy issued (expiry does not matter here, §2)."""
        try:
            claims = JWS().verify_compact(token, keys=[self.frontend.signing_key], sigalg="RS256")
        except (BadSignature, JWKESTException, ValueError) as exc:
            raise InvalidLogoutRequest(f"id_token_hint does not verify: {exc}") from None
        if not isinstance(claims, dict) or claims.get("iss") != self.issuer:
            raise InvalidLogoutRequest("id_token_hint was not issued here")
        return claims

    def initiator(
        self, client_id: str | None, redirect_uri: str | None, state: str | None
    ) -> dict[str, Any]:
        """The logout's initiator, after the checks of §3 (exact, registered redirect)."""
        app = self.frontend.applications.get(client_id or "")
        if app is None:
            raise InvalidLogoutRequest(f"end_session for unknown client {client_id!r}")
        if redirect_uri and redirect_uri not in app.post_logout_redirect_uris:
            raise InvalidLogoutRequest(
                f"client {client_id}: post_logout_redirect_uri {redirect_uri!r} is not registered"
            )
        initiator: dict[str, Any] = {
            "protocol": "oidc",
            "application": app.client_id,
            "client_id": app.client_id,
        }
        if redirect_uri:
            initiator["post_logout_redirect_uri"] = redirect_uri
            if state:
                initiator["state"] = state
        return initiator

    def end_session(self, context):
        request = context.request if isinstance(context.request, dict) else {}
        values = {k: v for k, v in request.items() if isinstance(v, str)}
        claims = self._hint(values["id_token_hint"]) if values.get("id_token_hint") else None
        client_id = values.get("client_id")
        if claims is not None:
            audience = claims.get("aud")
            audience = audience[0] if isinstance(audience, list) and audience else audience
            if client_id and client_id != audience:
                raise InvalidLogoutRequest("client_id is not the id_token_hint's audience")
            client_id = audience
        redirect_uri = values.get("post_logout_redirect_uri")
        if redirect_uri and not client_id:
            raise InvalidLogoutRequest("post_logout_redirect_uri without a client (§3)")
        initiator = (
            self.initiator(client_id, redirect_uri, values.get("state"))
            if client_id
            else {"protocol": "proxy"}
        )
        walk = proxy_parts(self.base_url).walk
        if walk is None:  # no SSO configured: nothing to end
            back = self.continuation(initiator, False)
            if back is None:
                raise InvalidLogoutRequest("no session and nowhere to return to")
            return SeeOther(back.url)
        session_id, session, _ = walk.current(context)
        if session is None:
            return walk.start(context, initiator)
        if claims is not None and claims.get("sid") == participant_sid(session_id, client_id):
            return walk.start(context, initiator)
        return walk.confirm_page(context, session_id, session, initiator)

    # -- what the walk asks -------------------------------------------------------------------

    def notice(self, participant: Participant) -> dict | None:
        app = self.frontend.applications.get(participant.application)
        uri = app.frontchannel_logout_uri if app is not None else None
        if not uri or not participant.sid:
            return None
        return {
            "protocol": "oidc",
            "application": participant.application,
            "url": _with_query(uri, {"iss": self.issuer, "sid": participant.sid}),
        }

    def continuation(self, initiator: dict, partial: bool) -> Outgoing | None:
        redirect_uri = initiator.get("post_logout_redirect_uri")
        if not redirect_uri:
            return None
        params = {"state": initiator["state"]} if initiator.get("state") else {}
        return Outgoing(
            "redirect", _with_query(redirect_uri, params) if params else redirect_uri, {}
        )


def oidc_logout_endpoints(frontend) -> list:
    """The frontend's end_session endpoint (call from ``register_endpoints``)."""
    return OidcLogout(frontend).endpoints()
