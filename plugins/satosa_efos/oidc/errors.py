"""Refusals of the OIDC OP, named after the protocol's own error codes.

Two kinds, because they travel differently (RFC 6749 §4.1.2.1):

- :class:`OAuthError` subclasses go back to the application: as ``error=…`` on its (already
  verified) ``redirect_uri`` from the authorization endpoint, or as a JSON body from the token
  endpoint. ``error`` is the registered code, ``status`` the HTTP status at the token endpoint.
- :class:`~satosa_efos.errors.ProxyError` subclasses are pages for the user: when the client or
  its ``redirect_uri`` cannot be trusted, the proxy must not redirect anywhere.
"""

from __future__ import annotations

from satosa_efos.errors import BadRequest, UnknownApplication


class OAuthError(Exception):
    """An OAuth 2.0 / OIDC error response; ``error`` is the code the application receives."""

    error = "server_error"
    status = 400

    def __init__(self, description: str = "", *, error: str | None = None):
        super().__init__(description or error or self.error)
        self.description = description
        if error:
            self.error = error


class InvalidRequest(OAuthError):
    error = "invalid_request"  # RFC 6749 §4.1.2.1, §5.2


class UnsupportedResponseType(OAuthError):
    error = "unsupported_response_type"  # RFC 6749 §4.1.2.1


class RequestNotSupported(OAuthError):
    error = "request_not_supported"  # OIDC Core §3.1.2.6


class RequestUriNotSupported(OAuthError):
    error = "request_uri_not_supported"  # OIDC Core §3.1.2.6


class UnmetAuthenticationRequirements(OAuthError):
    """The login does not have a level of assurance the application asked for (or requires).

    Code from "OpenID Connect Core Error Code unmet_authentication_requirements 1.0".
    """

    error = "unmet_authentication_requirements"


class LoginRequired(OAuthError):
    """``prompt=none`` but the user must see a page (OIDC Core §3.1.2.6)."""

    error = "login_required"


class InvalidGrant(OAuthError):
    error = "invalid_grant"  # RFC 6749 §5.2; RFC 7636 §4.6 for a verifier that does not match


class InvalidClient(OAuthError):
    error, status = "invalid_client", 401  # RFC 6749 §5.2


class UnsupportedGrantType(OAuthError):
    error = "unsupported_grant_type"  # RFC 6749 §5.2


class UnknownClient(UnknownApplication):
    """An authorization request from a client_id that is not an OIDC application here."""


class InvalidRedirectUri(BadRequest):
    """A redirect_uri that is not exactly one registered for the client (RFC 6749 §4.1.2.1:
    the user is told, the browser is NOT sent to that address)."""

    code = "invalid_redirect_uri"


class BadAuthorizationRequest(BadRequest):
    """An authorization request without a usable client_id or redirect_uri."""

    code = "bad_oidc_request"
