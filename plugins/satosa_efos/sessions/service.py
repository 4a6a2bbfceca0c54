"""What the SSO micro-services, the SSO backend and logout share: the store, the cookie and the
session lifetimes of one proxy (configured once, in ``sso.yaml``).

The store is opened on first use, not at start: a Redis that is down when a worker starts must
not stop the worker (a store outage costs users a login, never the proxy). Every store failure
is :class:`~satosa_efos.sessions.store.StoreUnavailable`; callers fall back to a fresh login.
After a failure the worker leaves the store alone for ``retry_after`` seconds (a hung Redis
would otherwise cost every login the store timeout, twice): during an outage logins go on at
full speed, without single sign-on.

Pure Python: no SATOSA import.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .cookie import SsoCookie
from .sso import SsoSession, UpstreamSession, new_session_id
from .store import DEFAULT_TIMEOUT, SessionStore, StoreUnavailable, open_store

__all__ = ["SsoService", "authn_epoch"]

#: Seconds a worker does not ask a store that just failed.
RETRY_AFTER = 10.0


class _Guarded:
    """The store, as the service hands it out: a failure opens a short pause without asking."""

    def __init__(self, service: SsoService) -> None:
        self._service = service

    def __getattr__(self, name: str):
        service = self._service
        if time.monotonic() < service._down_until:
            raise StoreUnavailable("the session store failed moments ago (not asked again yet)")
        method = getattr(service._open(), name)

        def call(*args, **kwargs):
            try:
                return method(*args, **kwargs)
            except StoreUnavailable:
                service._down_until = time.monotonic() + service.retry_after
                raise

        return call


def authn_epoch(timestamp: Any, default: float) -> float:
    """When the user authenticated, as seconds since the epoch, from SATOSA's
    ``auth_info.timestamp`` (backends give an ISO 8601 string or a number)."""
    if isinstance(timestamp, int | float):
        return float(timestamp)
    if isinstance(timestamp, str) and timestamp:
        try:
            moment = dt.datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
        except ValueError:
            return default
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        return moment.timestamp()
    return default


@dataclass
class SsoService:
    store_uri: str
    base_dir: Path
    idle_timeout: int = 1800
    absolute_timeout: int = 36000
    cookie: SsoCookie = field(default_factory=SsoCookie)
    timeout: float = DEFAULT_TIMEOUT
    retry_after: float = RETRY_AFTER
    _store: SessionStore | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _down_until: float = field(default=0.0, init=False, repr=False)

    @property
    def store(self) -> SessionStore:
        """The store (opened on first use); every call raises StoreUnavailable on failure."""
        return _Guarded(self)  # type: ignore[return-value]

    def _open(self) -> SessionStore:
        if self._store is None:
            with self._lock:
                if self._store is None:
                    try:
                        self._store = open_store(self.store_uri, self.base_dir, self.timeout)
                    except ImportError as exc:  # redis:// without the redis package
                        self._down_until = time.monotonic() + self.retry_after
                        raise StoreUnavailable(f"{self.store_uri}: {exc}") from exc
                    except StoreUnavailable:
                        self._down_until = time.monotonic() + self.retry_after
                        raise
        return self._store

    def current(
        self, cookie_header: str | None, now: float | None = None
    ) -> tuple[str | None, SsoSession | None]:
        """(session id from the cookie, its live session); StoreUnavailable on an outage."""
        session_id = self.cookie.read(cookie_header)
        if session_id is None:
            return None, None
        return session_id, self.store.load(session_id, time.time() if now is None else now)

    def new_session(self, login: dict[str, Any], now: float) -> SsoSession:
        """A new session for a login just made (``login`` as the ``sso_login`` service noted
        it: the upstream's attributes, subject, LoA, organisation, method, upstream IdP, and
        the upstream IdP's NameID and SessionIndex for logging out there)."""
        return SsoSession(
            session_id=new_session_id(),
            organisation=login.get("organisation"),
            method=login.get("method") or "unknown",
            upstream=login.get("upstream"),
            loa=login.get("loa") or "",
            authn_instant=float(login.get("authn_instant") or now),
            created=now,
            last_seen=now,
            idle_timeout=self.idle_timeout,
            absolute_timeout=self.absolute_timeout,
            subject_id=login.get("subject_id"),
            attributes={
                k: [str(v) for v in vs] for k, vs in (login.get("attributes") or {}).items()
            },
            authority=login.get("authority"),
            upstream_session=UpstreamSession.from_dict(login.get("upstream_session")),
        )

    def cookie_lifetime(self, session: SsoSession, now: float) -> int:
        """Seconds the browser keeps the cookie: never longer than the session can live."""
        return max(0, int(session.created + session.absolute_timeout - now))
