"""The proxy's OpenID Connect OP towards applications: SATOSA's pyop-based frontend, driven by
the application registry (docs/oidc.md).

SATOSA's :class:`~satosa.frontends.openid_connect.OpenIDConnectFrontend` brings the endpoints
(discovery, JWKS, authorization, token, userinfo) and pyop the protocol. This subclass changes
what a regional, multi-node proxy cannot take as it is:

- Clients are the ``protocol: oidc`` entries of ``applications.yaml``; no dynamic registration.
- The authorization request is checked before pyop sees it, in the order that decides where an
  error may go (RFC 6749 §4.1.2.1): an unknown client or a ``redirect_uri`` that is not exactly
  a registered one gets a page and is never redirected (stock SATOSA redirects to the request's
  redirect_uri when the request is malformed, even an unregistered one); after that, errors go
  back to the application. Only the code flow; PKCE with S256 for public clients
  (:mod:`satosa_efos.oidc.pkce`); ``request`` objects refused.
- The LoA contract (:data:`~satosa_efos.state_keys.REQUESTED_LOA`) is written from
  ``acr_values`` or the application's ``required_loa``, and the answer carries exactly one of
  the accepted levels as ``acr`` or is ``unmet_authentication_requirements``
  (:mod:`satosa_efos.oidc.acr`).
- ``sub`` is pairwise per client_id, from a configured salt (:mod:`satosa_efos.oidc.pairwise`).
- Claims are the application's ``released_attributes`` under their OIDC names, bound to the
  login's code and token (:mod:`satosa_efos.sessions.pyop_authz`), whatever scopes are asked.
- Codes and tokens are in a store every worker and node shares (SQLite or Redis,
  :mod:`satosa_efos.sessions.pyop_stores`); a code is redeemed once, atomically.
- The token endpoint checks client, code, redirect_uri and PKCE itself and answers
  ``invalid_grant`` for a missing or wrong ``code_verifier`` (RFC 7636 §4.6); token and userinfo
  answers are ``Cache-Control: no-store`` (RFC 6749 §5.1).

Configuration: :class:`OidcOpSettings` (``conf/plugins/frontends/oidc_op.yaml``).
"""

from __future__ import annotations

import base64
import calendar
import json
import logging
import time
from datetime import datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from jwkest.jwk import RSAKey, rsa_load
from oic.oic.message import AuthorizationErrorResponse, TokenErrorResponse
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pyop.client_authentication import verify_client_authentication
from pyop.exceptions import (
    InvalidAuthenticationRequest,
    InvalidAuthorizationCode,
    InvalidClientAuthentication,
)
from satosa.context import Context
from satosa.frontends.openid_connect import OpenIDConnectFrontend
from satosa.internal import InternalData
from satosa.response import Response, SeeOther

from satosa_efos.config.models import Application
from satosa_efos.config.registries import cached_registries
from satosa_efos.errors import ProxyError
from satosa_efos.frontends.oidc_logout import oidc_logout_endpoints
from satosa_efos.identity import is_hsa_id, is_personnummer
from satosa_efos.identity.loa import PROFILES
from satosa_efos.oidc import pkce
from satosa_efos.oidc.acr import answer_acr, loa_contract, requested_acrs
from satosa_efos.oidc.claims import MULTI_VALUED, openid_names, release_problem, released_claims
from satosa_efos.oidc.errors import (
    BadAuthorizationRequest,
    InvalidClient,
    InvalidGrant,
    InvalidRedirectUri,
    InvalidRequest,
    LoginRequired,
    OAuthError,
    RequestNotSupported,
    RequestUriNotSupported,
    UnknownClient,
    UnsupportedGrantType,
    UnsupportedResponseType,
)
from satosa_efos.oidc.pairwise import MIN_SALT_LENGTH, pairwise_sub
from satosa_efos.sessions.answered import oidc_answer
from satosa_efos.sessions.pyop_authz import BoundClaimsAuthorizationState
from satosa_efos.sessions.pyop_stores import DEFAULT_DB_URI, check_db_uri, open_stores
from satosa_efos.state_keys import REQUEST_HINTS, REQUESTED_LOA

logger = logging.getLogger(__name__)

MIN_RSA_BITS = 2048


class OidcOpSettings(BaseModel):
    """``config`` of the OIDC frontend's plugin file (checked by check-config, with lines)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Where applications.yaml is (the configuration directory).
    registry_dir: str = "."
    #: RSA private key (PEM) that signs ID tokens with RS256; its public half is the JWKS.
    signing_key_file: str
    #: Secret that keys the pairwise ``sub`` (``!FILE`` or ``${ENV}``). Changing it changes every
    #: ``sub`` at every application: it is an identity, not a session key.
    sub_salt: SecretStr
    #: ``sqlite:PATH`` (one node; relative to the configuration directory) or ``redis://…``.
    db_uri: str = DEFAULT_DB_URI
    #: Seconds. A code is redeemed right after the redirect; ten minutes is RFC 6749's maximum.
    authorization_code_lifetime: int = Field(60, ge=10, le=600)
    access_token_lifetime: int = Field(600, ge=60, le=86400)
    id_token_lifetime: int = Field(600, ge=60, le=86400)
    #: Internal attributes sent as JSON arrays (the rest as single strings).
    multi_valued: list[str] = Field(default_factory=lambda: list(MULTI_VALUED))

    @field_validator("db_uri")
    @classmethod
    def _usable_store(cls, value: str) -> str:
        return check_db_uri(value)

    @field_validator("sub_salt")
    @classmethod
    def _long_salt(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < MIN_SALT_LENGTH:
            raise ValueError(
                f"is too short: at least {MIN_SALT_LENGTH} characters (`satosa-efos keys` makes "
                "one; a short salt would let anyone who guesses it link users across applications)"
            )
        return value


def key_id(signing_key: RSAKey) -> str:
    """RFC 7638 thumbprint: a new key gets a new ``kid`` without anyone choosing one."""
    digest = signing_key.thumbprint("SHA-256")
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def _rsa_key(path: str) -> RSAKey:
    with open(path, "rb") as handle:
        key = load_pem_private_key(handle.read(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey) or key.key_size < MIN_RSA_BITS:
        raise ValueError(f"{path}: ID tokens are signed with RS256: an RSA key of 2048+ bits")
    return RSAKey(key=rsa_load(path), use="sig", alg="RS256")


def _pyop_base_url(base_url: str) -> str:
    """The base URL pyop is built with: OIDC Discovery §3 wants an https issuer, and pyop refuses
    to start with any other. The demo and the tests run on plain-http loopback, so for a loopback
    ``http://`` base URL only, pyop gets the https spelling and the frontend puts the real URLs
    back (:meth:`EfosOIDCFrontend._restore_base_url`). Any other http base URL stays refused."""
    parts = urlsplit(base_url)
    if parts.scheme == "http" and parts.hostname in ("localhost", "127.0.0.1", "::1"):
        return "https" + base_url[len("http") :]
    return base_url


def _no_store(response: Response) -> Response:
    """RFC 6749 §5.1: tokens and the answers that carry claims are never cached."""
    response.headers += [("Cache-Control", "no-store"), ("Pragma", "no-cache")]
    return response


def _auth_time(timestamp: Any) -> int:
    """``auth_time`` (OIDC Core §2) from SATOSA's authentication timestamp, whatever its form."""
    if isinstance(timestamp, int | float):
        return int(timestamp)
    if isinstance(timestamp, str) and timestamp:
        try:
            parsed = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
            return calendar.timegm(parsed.utctimetuple())
        except ValueError:
            pass
    return int(time.time())


def request_hints(request: dict[str, str]) -> dict[str, Any]:
    """Routing hints from an authorization request (DOMAIN.md §9), shaped like the SAML ones.

    ``org`` names the organisation, a ``login_hint`` that is an HSA-id or a personnummer works
    like SAML's Principal Selection, ``prompt=none`` like IsPassive, ``prompt=login`` or
    ``max_age=0`` like ForceAuthn.
    """
    prompt = (request.get("prompt") or "").split()
    hint = (request.get("login_hint") or "").strip()
    principal = [hint] if hint and (is_hsa_id(hint) or is_personnummer(hint)) else []
    return {
        "org": (request.get("org") or "").strip() or None,
        "idp_list": [],
        "principal": principal,
        "is_passive": "none" in prompt,
        "force_authn": "login" in prompt or request.get("max_age") == "0",
        "max_age": request.get("max_age"),  # the SSO session answers only a recent enough login
    }


class EfosOIDCFrontend(OpenIDConnectFrontend):
    CONFIG_MODEL = OidcOpSettings

    def __init__(self, auth_req_callback_func, internal_attributes, config, base_url, name):
        self.settings = settings = OidcOpSettings.model_validate(config or {})
        self.claim_names = openid_names(internal_attributes)
        registries = cached_registries(settings.registry_dir)
        self.applications: dict[str, Application] = {
            app.client_id: app
            for app in registries.applications.applications
            if app.protocol == "oidc" and app.client_id
        }
        for app in self.applications.values():
            for internal in app.released_attributes:
                if problem := release_problem(internal, self.claim_names):
                    raise ValueError(f"application {app.id}: {problem}")
        signing_key = _rsa_key(settings.signing_key_file)
        claims = sorted({names[0] for names in self.claim_names.values() if names})
        super().__init__(
            auth_req_callback_func,
            internal_attributes,
            {
                "signing_key_path": settings.signing_key_file,
                "signing_key_id": key_id(signing_key),
                # Never SATOSA's random default; unused by pyop here (subs come ready-made).
                "sub_hash_salt": settings.sub_salt.get_secret_value(),
                "provider": {
                    "response_types_supported": ["code"],
                    "subject_types_supported": ["pairwise"],
                    "scopes_supported": ["openid"],
                    # Release is per application (claims.py): the openid scope reaches every
                    # claim the login carries, and a login carries only released ones.
                    "extra_scopes": {"openid": ["sub", *claims]},
                    "authorization_code_lifetime": settings.authorization_code_lifetime,
                    "access_token_lifetime": settings.access_token_lifetime,
                    "id_token_lifetime": settings.id_token_lifetime,
                },
            },
            _pyop_base_url(base_url),
            name,
        )
        self._restore_base_url(base_url)
        stores = open_stores(
            settings.db_uri,
            code_lifetime=settings.authorization_code_lifetime,
            token_lifetime=settings.access_token_lifetime,
        )
        provider = self.provider
        provider.authz_state = BoundClaimsAuthorizationState(
            stores,
            code_lifetime=settings.authorization_code_lifetime,
            token_lifetime=settings.access_token_lifetime,
        )
        # pyop's name for "claims travel with the code and the token, not in a user table".
        provider.stateless = True
        provider.clients = {client_id: _client(app) for client_id, app in self.applications.items()}
        provider.configuration_information.update(
            {
                "response_modes_supported": ["query"],
                "grant_types_supported": ["authorization_code"],
                "code_challenge_methods_supported": [pkce.S256],
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "none"],
                "acr_values_supported": sorted({u for p in PROFILES.values() for u in p.values()}),
                "claims_supported": sorted({"sub", "acr", "amr", "auth_time", *claims}),
            }
        )

    def _restore_base_url(self, base_url: str) -> None:
        pyop_base = self.base_url
        if pyop_base == base_url:
            return
        self.base_url, self.endpoint_baseurl = base_url, f"{base_url}/{self.name}"
        info = self.provider.configuration_information
        for key in ("issuer", "authorization_endpoint", "jwks_uri", "token_endpoint"):
            if str(info.get(key, "")).startswith(pyop_base):
                info[key] = base_url + info[key][len(pyop_base) :]

    # -- endpoints ------------------------------------------------------------------------------

    def register_endpoints(self, backend_names):
        # Stock patterns for token and userinfo lack "$": anchor them, so no longer path matches.
        return [
            (pattern if pattern.endswith("$") else f"{pattern}$", handler)
            for pattern, handler in super().register_endpoints(backend_names)
        ] + oidc_logout_endpoints(self)  # end_session_endpoint (docs/sso.md)

    def handle_authn_request(self, context: Context):
        request = {k: v for k, v in (context.request or {}).items() if isinstance(v, str)}
        app = self._client_of(request)
        redirect_uri = request.get("redirect_uri") or ""
        # RFC 6749 §3.1.2.3 / OIDC Core §3.1.2.1: exact string comparison, nothing else.
        if redirect_uri not in app.redirect_uris:
            raise InvalidRedirectUri(
                f"client {app.client_id}: redirect_uri {redirect_uri!r} is not registered"
            )
        try:
            authn_req = self._checked_request(request, app)
            contract = loa_contract(
                requested_acrs(request.get("acr_values"), _claims_request(request)),
                app.required_loa,
            )
        except OAuthError as error:
            return self._error_redirect(redirect_uri, request.get("state"), error, app)
        context.state[self.name] = {"oidc_request": urlencode(request)}
        context.state[REQUESTED_LOA] = contract
        hints = request_hints(request)
        context.decorate(REQUEST_HINTS, hints)
        if hints["force_authn"]:
            context.decorate(Context.KEY_FORCE_AUTHN, "true")
        internal = InternalData(
            subject_type="pairwise",
            requester=authn_req["client_id"],
            requester_name=[{"lang": "sv", "text": app.name}],
        )
        internal.attributes = list(app.released_attributes)
        try:
            return self.auth_req_callback_func(context, internal)
        except ProxyError as error:
            # prompt=none and routing needs a page: OIDC's answer is an error, not a page.
            if hints["is_passive"] and error.code == "no_passive":
                refusal = LoginRequired("choosing an organisation needs a page")
                return self._error_redirect(redirect_uri, request.get("state"), refusal, app)
            raise

    def handle_authn_response(self, context: Context, internal_resp: InternalData):
        auth_req = self._get_authn_request_from_state(context.state)
        contract = context.state.get(REQUESTED_LOA) or {}
        del context.state[self.name]
        context.state.pop(REQUESTED_LOA, None)
        app = self.applications[auth_req["client_id"]]
        try:
            acr = answer_acr(internal_resp.auth_info.auth_class_ref, contract, app.loa_profile)
            if not internal_resp.subject_id:
                raise OAuthError("the login has no subject identifier")
        except OAuthError as error:
            return self._error_redirect(auth_req["redirect_uri"], auth_req.get("state"), error, app)
        sub = pairwise_sub(
            self.settings.sub_salt.get_secret_value(), app.client_id, internal_resp.subject_id
        )
        claims = released_claims(
            internal_resp.attributes,
            app.released_attributes,
            self.claim_names,
            self.settings.multi_valued,
        )
        extra = {"acr": acr, "auth_time": _auth_time(internal_resp.auth_info.timestamp)}
        methods = [str(m) for m in internal_resp.attributes.get("authnMethod") or [] if m]
        if methods:
            extra["amr"] = methods  # RFC 8176: a JSON array of method identifiers
        extra.update(oidc_answer(context, app.client_id))  # SSO session; sid for logout
        # pyop reads the claims from its user table once, while it binds them to the code.
        self.user_db[sub] = claims
        try:
            auth_resp = self.provider.authorize(auth_req, sub, extra_id_token_claims=extra)
        finally:
            self.user_db.pop(sub, None)
        return SeeOther(auth_resp.request(auth_req["redirect_uri"], False))

    def handle_backend_error(self, exception):
        exception.state.pop(REQUESTED_LOA, None)
        return super().handle_backend_error(exception)

    def token_endpoint(self, context: Context):
        try:
            self._check_token_request(context)
        except OAuthError as error:
            logger.info("token request refused: %s (%s)", error.error, error.description)
            body = TokenErrorResponse(error=error.error, error_description=error.description)
            headers = [("WWW-Authenticate", "Basic")] if error.status == 401 else []
            status = "401 Unauthorized" if error.status == 401 else "400 Bad Request"
            response = Response(
                body.to_json(), status=status, headers=headers, content="application/json"
            )
            return _no_store(response)
        return _no_store(super().token_endpoint(context))

    def userinfo_endpoint(self, context: Context):
        return _no_store(super().userinfo_endpoint(context))

    # -- checks -------------------------------------------------------------------------------

    def _client_of(self, request: dict[str, str]) -> Application:
        client_id = request.get("client_id")
        if not client_id:
            raise BadAuthorizationRequest("authorization request without client_id")
        app = self.applications.get(client_id)
        if app is None:
            raise UnknownClient(f"authorization request from unregistered client {client_id!r}")
        return app

    def _checked_request(self, request: dict[str, str], app: Application):
        """The parsed request, or the OAuthError the application gets at its redirect_uri."""
        if "request" in request:
            raise RequestNotSupported("request objects are not supported")
        if "request_uri" in request:
            raise RequestUriNotSupported("request_uri is not supported")
        if request.get("response_type") != "code":
            raise UnsupportedResponseType("only the authorization code flow (response_type=code)")
        if request.get("response_mode", "query") != "query":
            raise InvalidRequest("response_mode must be query")
        pkce.check_challenge(
            request.get("code_challenge"),
            request.get("code_challenge_method"),
            public_client=app.public_client,
        )
        try:
            return self.provider.parse_authentication_request(urlencode(request))
        except InvalidAuthenticationRequest as exc:
            raise OAuthError(str(exc), error=exc.oauth_error or "invalid_request") from exc

    def _check_token_request(self, context: Context) -> None:
        """Refuse what pyop would refuse with the wrong code, or not at all (RFC 6749 §4.1.3,
        §5.2; RFC 7636 §4.6). What passes is then redeemed by pyop."""
        if (context.request_method or "POST").upper() != "POST":
            raise InvalidRequest("the token endpoint takes POST")
        request = {k: v for k, v in (context.request or {}).items() if isinstance(v, str)}
        grant_type = request.get("grant_type")
        if grant_type != "authorization_code":
            if not grant_type:
                raise InvalidRequest("grant_type is missing")
            raise UnsupportedGrantType(f"grant_type {grant_type!r} (only authorization_code)")
        try:
            client_id = verify_client_authentication(
                self.provider.clients, request, context.request_authorization or None
            )
        except (InvalidClientAuthentication, ValueError) as exc:
            raise InvalidClient(str(exc)) from exc
        code = request.get("code")
        if not code:
            raise InvalidRequest("code is missing")
        try:
            auth_req = self.provider.authz_state.get_authorization_request_for_code(code)
        except InvalidAuthorizationCode as exc:
            raise InvalidGrant("unknown or expired authorization code") from exc
        if auth_req["client_id"] != client_id:
            raise InvalidGrant("the code was issued to another client")
        if request.get("redirect_uri") != auth_req["redirect_uri"]:
            raise InvalidGrant("redirect_uri is not the one of the authorization request")
        if "code_challenge" in auth_req:
            pkce.verify(request.get("code_verifier"), auth_req["code_challenge"])

    def _error_redirect(
        self, redirect_uri: str, state: str | None, error: OAuthError, app: Application
    ):
        """RFC 6749 §4.1.2.1: the error to the (verified) redirect_uri, with the request's state."""
        logger.warning(
            "authorization refused: %s (%s)",
            error.error,
            error.description,
            extra={"client_id": app.client_id, "error_code": error.error},
        )
        response = AuthorizationErrorResponse(
            error=error.error, error_description=error.description
        )
        if state:
            response["state"] = state
        return SeeOther(response.request(redirect_uri, False))


def _claims_request(request: dict[str, str]) -> dict | None:
    """The ``claims`` parameter (OIDC Core §5.5), or None; pyop refuses one that is not JSON."""
    try:
        value = json.loads(request["claims"]) if request.get("claims") else None
    except ValueError as exc:
        raise InvalidRequest("claims is not a JSON object") from exc
    return value if isinstance(value, dict) else None


def _client(app: Application) -> dict[str, Any]:
    """pyop's client registration of an application."""
    client: dict[str, Any] = {
        "client_id": app.client_id,
        "client_name": app.name,
        "redirect_uris": list(app.redirect_uris),
        "response_types": ["code"],
        "subject_type": "pairwise",
        "token_endpoint_auth_method": "none" if app.public_client else "client_secret_basic",
    }
    if app.client_secret is not None:
        client["client_secret"] = app.client_secret.get_secret_value()
    return client
