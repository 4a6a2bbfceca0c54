"""Audit lines: what happened to a login or a logout, with attribute names and hashed subjects only.

DESIGN.md §7: personnummer never appear in logs in clear. Subjects are pseudonymised with a
keyed hash (HMAC-SHA256), since a plain hash of a personnummer is reversed by trying the ~10^8
possible numbers.

Every line goes to the logger ``satosa_efos.audit`` as one JSON object (the log message), so an
operator can send it to a file of its own (docs/operations.md, "Audit log"):

- :func:`audit` -- any event (``federation_metadata_loaded``, ``scope_refused``, ...);
- :func:`audit_login` -- exactly one line per login, when it ends (``event: "login"``), written
  by :mod:`satosa_efos.observe`;
- :func:`audit_logout` -- one line per logout (``event: "logout"``), for the code that ends SSO
  sessions to call.

The key of the pseudonyms and the trusted proxies are set once per process by
:func:`configure` (the proxy application does it at start). Duck-typed on SATOSA's ``Context``
(``http_headers``, ``state``): no SATOSA import.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from satosa_efos import metrics
from satosa_efos.saml.subject import Network, NoStableSubject, client_address, stable_subject

logger = logging.getLogger("satosa_efos.audit")

__all__ = [
    "LoginRecord",
    "audit",
    "audit_login",
    "audit_logout",
    "client_address_of",
    "configure",
    "pseudonym",
    "subject_pseudonym",
]


@dataclass
class _Settings:
    key: bytes | None = None
    trusted_proxies: tuple[Network, ...] = ()


_settings = _Settings()


def configure(key: bytes, trusted_proxies: Sequence[Network] = ()) -> None:
    """The secret of the subject pseudonyms, and the proxies whose X-Forwarded-For is believed."""
    _settings.key = key
    _settings.trusted_proxies = tuple(trusted_proxies)


def pseudonym(key: bytes, subject: str | None) -> str | None:
    if not subject:
        return None
    return hmac.new(key, subject.encode(), hashlib.sha256).hexdigest()[:32]


def subject_pseudonym(
    attributes: dict[str, Sequence[str]] | None, subject_id: str | None, issuer: str | None
) -> str | None:
    """The person's pseudonym: keyed hash of the HSA-id, else the personnummer, else the
    upstream's NameID (:func:`~satosa_efos.saml.subject.stable_subject`), so that one person has
    one pseudonym across login methods whenever the directory knows them."""
    if _settings.key is None:
        return None
    try:
        subject = stable_subject(attributes or {}, subject_id, issuer)
    except NoStableSubject:
        subject = subject_id
    return pseudonym(_settings.key, subject)


def sso_session_pseudonym(session_key: str | None) -> str | None:
    """An SSO session as the audit log names it (never the cookie value, nor the store's key)."""
    if _settings.key is None or not session_key:
        return None
    return pseudonym(_settings.key, f"sso-session:{session_key}")


def client_address_of(context: Any) -> str | None:
    """The user's address: the TCP peer, or what the trusted proxies say it was."""
    headers = getattr(context, "http_headers", None) or {}
    return client_address(headers.get("REMOTE_ADDR"), headers.get("HTTP_X_FORWARDED_FOR"),
                          _settings.trusted_proxies)  # fmt: skip


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def audit(event: str, **fields: object) -> None:
    """One JSON object in the log message, so that log shippers can index its fields."""
    line = {"event": event, "time": _now(), **fields}
    logger.info(json.dumps(line, ensure_ascii=False, default=str))


@dataclass
class LoginRecord:
    """The audit line of one login (docs/operations.md lists every field)."""

    outcome: str
    #: SATOSA's session id of the login (also in SATOSA's own log lines).
    session_id: str | None = None
    #: The SSO session that answered or was created (:func:`sso_session_pseudonym`).
    sso_session: str | None = None
    client_address: str | None = None
    #: The application's id in applications.yaml, and its entityID / client_id.
    application: str | None = None
    requester: str | None = None
    organisation: str | None = None
    method: str | None = None
    #: The upstream that authenticated the user: an IdP's entityID, the Efos service.
    upstream: str | None = None
    #: How routing decided (``org_hint``, ``picker``, ``sso``, ...).
    routing: str | None = None
    loa_requested: list[str] = field(default_factory=list)
    loa_accepted: list[str] = field(default_factory=list)
    loa: str | None = None
    #: Names of the attributes released to the application (never their values).
    attributes: list[str] = field(default_factory=list)
    subject: str | None = None
    error_code: str | None = None
    error_id: str | None = None
    duration_ms: int | None = None


def audit_login(record: LoginRecord) -> None:
    audit("login", **asdict(record))


def audit_logout(
    context: Any = None,
    *,
    session: Any = None,
    initiator: str | None = None,
    application: str | None = None,
    notified: Sequence[str] = (),
    unsupported: Sequence[str] = (),
    outcome: str = "success",
    error_code: str | None = None,
    error_id: str | None = None,
) -> None:
    """The audit line (and the metric) of one logout.

    ``context``: SATOSA's context of the request that started it (the client's address, the
    SATOSA session id); ``session``: the :class:`~satosa_efos.sessions.sso.SsoSession` that
    ended, or None when the browser had none; ``initiator``: ``saml``, ``oidc``, ``user`` (the
    proxy's own logout page) or ``upstream`` (the organisation's IdP); ``application``: the
    entityID / client_id that asked, if any; ``notified``: the applications told of the logout;
    ``unsupported``: those that could not be;
    ``outcome``: ``success``, ``partial`` (some application did not confirm) or ``failed``.
    """
    state = getattr(context, "state", None)
    audit(
        "logout",
        session_id=getattr(state, "session_id", None),
        sso_session=sso_session_pseudonym(getattr(session, "key", None)),
        had_session=session is not None,
        client_address=client_address_of(context) if context is not None else None,
        initiator=initiator,
        application=application,
        organisation=getattr(session, "organisation", None),
        method=getattr(session, "method", None),
        upstream=getattr(session, "upstream", None),
        loa=getattr(session, "loa", None),
        subject=subject_pseudonym(getattr(session, "attributes", None),
                                  getattr(session, "subject_id", None),
                                  getattr(session, "upstream", None))
        if session is not None else None,
        notified=list(notified),
        unsupported=list(unsupported),
        outcome=outcome,
        error_code=error_code,
        error_id=error_id,
    )  # fmt: skip
    metrics.safely(metrics.LOGOUTS.labels(
        metrics.bounded(initiator, ("saml", "oidc", "user", "upstream")),
        metrics.bounded(outcome, ("success", "partial", "failed")),
    ).inc)  # fmt: skip
