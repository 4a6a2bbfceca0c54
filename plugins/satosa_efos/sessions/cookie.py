"""The SSO cookie: an opaque session id, nothing else, with the attributes that keep it safe.

``HttpOnly`` (no script reads it), ``Secure`` (never over plain http; only the plain-http demo on
loopback switches it off), ``Path=/`` and ``SameSite``. Which ``SameSite``
(docs/sso.md, "The cookie"): the cookie is read when an application sends the user to the
proxy. An OIDC authorization request and a SAML HTTP-Redirect AuthnRequest are top-level GET
navigations, which carry a ``Lax`` cookie; a SAML HTTP-POST AuthnRequest from an application on
another site is a cross-site POST, which carries only a ``SameSite=None`` cookie. Applications
of 50 organisations live on many sites and most SAML SPs post, so the default is ``None`` (which
browsers accept only with ``Secure``). What ``None`` opens is cross-site *requests* carrying the
cookie: an assertion still goes only to the requesting application's registered address, and
the proxy's own logout form carries a token bound to the session
(:func:`~satosa_efos.sessions.sso.logout_token`), so no other site can log the user out.

Pure Python: no SATOSA import.
"""

from __future__ import annotations

from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from typing import Literal

__all__ = ["SsoCookie"]

SameSite = Literal["None", "Lax", "Strict"]


@dataclass(frozen=True)
class SsoCookie:
    name: str = "satosa_efos_sso"
    secure: bool = True
    samesite: SameSite = "None"

    def __post_init__(self) -> None:
        if self.samesite == "None" and not self.secure:
            # Browsers drop a SameSite=None cookie without Secure (RFC 6265bis §5.6.19).
            raise ValueError("SameSite=None needs a Secure cookie")

    def read(self, cookie_header: str | None) -> str | None:
        """The session id the browser sent, or None (absent, empty or a malformed header)."""
        if not cookie_header:
            return None
        jar = SimpleCookie()
        try:
            jar.load(cookie_header)
        except CookieError:
            return None
        morsel = jar.get(self.name)
        value = morsel.value if morsel is not None else ""
        return value if 20 <= len(value) <= 128 else None

    def _header(self, value: str, max_age: int) -> tuple[str, str]:
        jar = SimpleCookie()
        jar[self.name] = value
        morsel = jar[self.name]
        morsel["path"] = "/"
        morsel["httponly"] = True
        morsel["max-age"] = str(max_age)
        morsel["samesite"] = self.samesite
        if self.secure:
            morsel["secure"] = True
        return ("Set-Cookie", morsel.OutputString())

    def set(self, session_id: str, max_age: int) -> tuple[str, str]:
        """The header that gives the browser this session for ``max_age`` seconds at most."""
        return self._header(session_id, max(0, int(max_age)))

    def clear(self) -> tuple[str, str]:
        """The header that makes the browser forget the session (logout)."""
        return self._header("", 0)
