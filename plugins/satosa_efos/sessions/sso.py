"""The single sign-on session: who logged in, how, and which applications were told.

A nurse proves her identity once; the next application, of any organisation, is answered from
this record while the reuse rules of DOMAIN.md §5 hold (:func:`reuse_decision`). The record is
server-side (see :mod:`.store`); the browser holds only an opaque, random session id in a cookie,
and the store keys the record by a hash of that id, so a copy of the store gives no cookie.

Pure Python: no SATOSA import. The ``sso`` micro-service and the frontends use it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from typing import Any

__all__ = [
    "Participant",
    "Reuse",
    "SsoSession",
    "UpstreamSession",
    "logout_token",
    "new_session_id",
    "participant_sid",
    "reuse_decision",
    "session_key",
]


def new_session_id() -> str:
    """An opaque session id for the cookie: 256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def session_key(session_id: str) -> str:
    """What the store keys a session by: a hash of the cookie value, never the value itself."""
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


def _derived(session_id: str, purpose: str) -> str:
    """A value bound to the session that reveals nothing of the cookie value (HMAC, keyed by it)."""
    digest = hmac.new(session_id.encode("utf-8"), purpose.encode("utf-8"), hashlib.sha256)
    return base64.urlsafe_b64encode(digest.digest()).decode("ascii").rstrip("=")


def participant_sid(session_id: str, application: str) -> str:
    """The OIDC ``sid`` (Front-Channel Logout 1.0 §3) one client gets for this session.

    Different for every client (no two applications can link their users through it), the same
    for one client during the whole session, and of no use as a cookie.
    """
    return _derived(session_id, f"sid:{application}")


def logout_token(session_id: str) -> str:
    """The token the proxy's own logout form carries: only a page the proxy rendered for this
    browser's session knows it, so another site's form cannot log the user out."""
    return _derived(session_id, "logout-form")


@dataclass(frozen=True)
class Participant:
    """An application that received an assertion or ID token in this session (for logout)."""

    protocol: str  # "saml" or "oidc"
    application: str  # entityID or client_id
    name_id: str | None = None
    name_id_format: str | None = None
    session_index: str | None = None
    #: OIDC: the ``sid`` claim given to the client (front-channel logout).
    sid: str | None = None


@dataclass(frozen=True)
class UpstreamSession:
    """The upstream SAML IdP's own session of this login, for logging out there too.

    SAML core §3.7.1: a LogoutRequest names the NameID exactly as the IdP issued it (value,
    Format, NameQualifier, SPNameQualifier) and the SessionIndex of its AuthnStatement.
    ``backend`` is the SATOSA backend (the proxy's SP) that received the login.
    """

    backend: str
    name_id: str
    name_id_format: str | None = None
    name_qualifier: str | None = None
    sp_name_qualifier: str | None = None
    session_index: str | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> UpstreamSession | None:
        if not data or not data.get("name_id") or not data.get("backend"):
            return None
        return cls(**_known(cls, data))


def _known(cls: type, data: Mapping[str, Any]) -> dict[str, Any]:
    """The entries of ``data`` that are fields of ``cls``: a record written by a newer version
    (a field this one does not know) still loads during a rolling upgrade."""
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in data.items() if k in names}


@dataclass
class SsoSession:
    """One browser's login at the proxy.

    ``attributes`` are the internal attributes as the upstream login gave them, *before* any
    per-application enrichment (HSA look-up, release): each application's needs are met again
    from these, not copied from the first application's answer.
    """

    session_id: str
    organisation: str | None
    method: str
    upstream: str | None
    loa: str
    authn_instant: float
    created: float
    last_seen: float
    idle_timeout: float
    absolute_timeout: float
    subject_id: str | None = None
    attributes: dict[str, list[str]] = field(default_factory=dict)
    participants: list[Participant] = field(default_factory=list)
    #: The authority a proxy names besides the upstream IdP (``AuthenticatingAuthority``), e.g.
    #: the Mobilt Efos service.
    authority: str | None = None
    #: The upstream IdP's NameID and SessionIndex (SAML logins through the proxy's SP only);
    #: None for other logins and for sessions recorded before it was kept.
    upstream_session: UpstreamSession | None = None

    @property
    def key(self) -> str:
        return session_key(self.session_id)

    def expires(self) -> float:
        """When the session ends if nothing happens: the earlier of idle and absolute expiry."""
        return min(self.last_seen + self.idle_timeout, self.created + self.absolute_timeout)

    def valid(self, now: float) -> bool:
        return now < self.expires()

    def add_participant(self, participant: Participant) -> None:
        """Record (or replace) what an application received; one entry per application."""
        self.participants = [
            p for p in self.participants if p.application != participant.application
        ] + [participant]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("session_id")  # stored under its hash only
        return data

    @classmethod
    def from_dict(cls, session_id: str, data: Mapping[str, Any]) -> SsoSession:
        """A stored record; one written before a field existed gets the field's default."""
        values = _known(cls, data)
        values.pop("session_id", None)
        values["participants"] = [
            Participant(**_known(Participant, p)) for p in values.get("participants", [])
        ]
        values["upstream_session"] = UpstreamSession.from_dict(values.get("upstream_session"))
        return cls(session_id=session_id, **values)


class Reuse(StrEnum):
    """Why a session may or may not answer a new request (also logged and audited)."""

    REUSE = "reuse"
    NO_SESSION = "no_session"
    EXPIRED = "expired"
    FORCE_AUTHN = "force_authn"
    MAX_AGE = "max_age"
    DIFFERENT_LOA = "different_loa"
    ORGANISATION_NOT_ALLOWED = "organisation_not_allowed"


def reuse_decision(
    session: SsoSession | None,
    *,
    now: float,
    accepted_loas: Collection[str],
    force_authn: bool = False,
    max_age: float | None = None,
    allowed_organisations: Collection[str] | str = "all",
) -> Reuse:
    """May ``session`` answer this request without a new login? (DOMAIN.md §5)

    Not when it expired, when the application forces a new login (SAML ``ForceAuthn``, OIDC
    ``prompt=login``, or an authentication older than ``max_age`` seconds), when the original
    login's LoA is not one of those the request accepts (exact: a loa4 session does not answer a
    loa3 request), or when the application does not admit the session's organisation.
    """
    if session is None:
        return Reuse.NO_SESSION
    if not session.valid(now):
        return Reuse.EXPIRED
    if force_authn:
        return Reuse.FORCE_AUTHN
    if max_age is not None and now - session.authn_instant > max_age:
        return Reuse.MAX_AGE
    if session.loa not in accepted_loas:
        return Reuse.DIFFERENT_LOA
    if allowed_organisations != "all" and session.organisation not in allowed_organisations:
        return Reuse.ORGANISATION_NOT_ALLOWED
    return Reuse.REUSE
