"""Logins that end without a user, answered to the application in its own protocol.

A refusal page (:mod:`satosa_efos.errors`) is for a request the proxy must not answer (an
unknown application, an address not in its metadata). Once a request is valid and its answer
address known, a login that cannot give the application a user is *answered*: a SAML Response
with an error status, an OIDC error redirect. Raising :class:`LoginFailed` anywhere after the
frontend received the request does that: SATOSA passes any ``SATOSAAuthenticationError`` to the
``handle_backend_error`` of the frontend that holds the login.
"""

from __future__ import annotations

from enum import StrEnum

from satosa.exception import SATOSAAuthenticationError


class Reason(StrEnum):
    """Why a login ended without a user; each frontend maps it to its protocol's error."""

    #: The user stopped the login (SAML: Responder + ``…/status/1.0/cancel``).
    CANCELLED = "cancelled"
    #: The request forbade pages, but the login needs one (SAML: Responder/NoPassive).
    NO_PASSIVE = "no_passive"
    #: No accepted level of assurance can be or was reached (SAML: Requester/NoAuthnContext).
    LOA_NOT_MET = "loa_not_met"
    #: The login failed for another reason (SAML: Responder/AuthnFailed).
    FAILED = "failed"


class LoginFailed(SATOSAAuthenticationError):
    """The login ends here; ``detail`` is logged, not shown to the application in full."""

    def __init__(self, state, reason: Reason, detail: str):
        super().__init__(state, detail)
        self.reason = Reason(reason)
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.reason}: {self.detail}"
