"""SAML status codes the proxy answers with (SAML core §3.2.2.2; Swedish eID deployment profile
§6.4: top level only Requester, Responder or VersionMismatch; cancel as a second-level code).

A :class:`SamlStatusError` is raised once the request is known to come from a registered
application and its answer address is verified: it becomes a signed error Response to that
address, never a page.
"""

from __future__ import annotations

PREFIX = "urn:oasis:names:tc:SAML:2.0:status:"
SUCCESS = PREFIX + "Success"
REQUESTER = PREFIX + "Requester"
RESPONDER = PREFIX + "Responder"
VERSION_MISMATCH = PREFIX + "VersionMismatch"
AUTHN_FAILED = PREFIX + "AuthnFailed"
INVALID_NAME_ID_POLICY = PREFIX + "InvalidNameIDPolicy"
NO_AUTHN_CONTEXT = PREFIX + "NoAuthnContext"
NO_PASSIVE = PREFIX + "NoPassive"
REQUEST_DENIED = PREFIX + "RequestDenied"
REQUEST_UNSUPPORTED = PREFIX + "RequestUnsupported"
#: Swedish eID deployment profile §6.4 / Registry for identifiers §3.1.4.
CANCEL = "http://id.elegnamnden.se/status/1.0/cancel"


class SamlStatusError(Exception):
    """An error Response: ``status`` (top level), ``sub_status`` (second level), ``message``
    (the StatusMessage the application sees: about its request, never the proxy's internals)."""

    status = RESPONDER
    sub_status: str | None = AUTHN_FAILED

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class RequestDenied(SamlStatusError):
    """Not signed as required, signed wrongly or with a refused algorithm, or too old."""

    status, sub_status = REQUESTER, REQUEST_DENIED


class RequestUnsupported(SamlStatusError):
    """A request feature the profile does not allow (e.g. a non-exact Comparison)."""

    status, sub_status = REQUESTER, REQUEST_UNSUPPORTED


class NoAuthnContext(SamlStatusError):
    """No requested level of assurance can be met (profile §5.4.4)."""

    status, sub_status = REQUESTER, NO_AUTHN_CONTEXT


class InvalidNameIdPolicy(SamlStatusError):
    status, sub_status = REQUESTER, INVALID_NAME_ID_POLICY


class NoPassive(SamlStatusError):
    status, sub_status = RESPONDER, NO_PASSIVE


class AuthnFailed(SamlStatusError):
    status, sub_status = RESPONDER, AUTHN_FAILED


class Cancelled(SamlStatusError):
    status, sub_status = RESPONDER, CANCEL


class VersionMismatch(SamlStatusError):
    status, sub_status = VERSION_MISMATCH, None
