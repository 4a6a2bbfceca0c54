"""Typed refusals: each has a stable code (for the page and the log) and an HTTP status.

Raised at the edge where the fact is known; the proxy application turns any of them into a
rendered page carrying an error id that is also written to the log (DESIGN.md §7).
"""

from __future__ import annotations

import uuid


class ProxyError(Exception):
    """A request the proxy refuses; ``code`` selects the page text, ``status`` the HTTP status."""

    code = "internal_error"
    status = 500

    def __init__(self, detail: str = "", *, code: str | None = None, status: int | None = None):
        super().__init__(detail or self.code)
        self.detail = detail
        if code:
            self.code = code
        if status:
            self.status = status


class BadRequest(ProxyError):
    code, status = "bad_request", 400


class BadSamlMessage(BadRequest):
    """A SAML message that does not parse, is not signed as required or is otherwise unusable."""

    code = "bad_saml_message"


class UnknownApplication(ProxyError):
    code, status = "unknown_application", 403


class NotFound(ProxyError):
    code, status = "not_found", 404


class SessionExpired(ProxyError):
    code, status = "session_expired", 400


def new_error_id() -> str:
    """Short enough to read over the phone to a service desk, unique enough to find in the log."""
    return uuid.uuid4().hex[:12]
