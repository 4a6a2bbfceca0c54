"""Where SSO sessions live: a SQLite file (one node) or Redis (several nodes).

Both are safe with several gunicorn workers, both forget expired sessions by themselves, and both
turn every failure into :class:`StoreUnavailable`, which the ``sso`` micro-service answers with a
fresh login: a store outage costs the user a login, never a 500 (issue 7). Chosen by one URI:

* ``sqlite:PATH`` -- the embedded default (relative to the configuration directory);
* ``redis://[:password@]host:port/db``, ``rediss://…`` (TLS; ``ssl_ca_certs`` in the query, e.g.
  ``rediss://h:6380/0?ssl_ca_certs=/etc/ssl/ca.pem``), ``unix:///path/redis.sock``.

Records are keyed by :func:`~.sso.session_key` (a hash of the cookie value) and carry the JSON of
:meth:`~.sso.SsoSession.to_dict`. Each write sets the record's lifetime to the session's own
expiry, so nothing outlives its session. Recording an application in a session
(:meth:`add_participant`) is one atomic read-modify-write, so two tabs logging in to two
applications at once both end up in the session (single logout must find both).

Besides sessions, the store keeps short-lived *records* (JSON under a name, with a lifetime):
the state of a single logout in progress and each application's answer to it, written by
whichever worker or node the browser reaches.
"""

from __future__ import annotations

import json
import math
import sqlite3
import threading
import time
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from satosa_efos.sessions.sqlite_wal import use_wal

from .sso import Participant, SsoSession, session_key

__all__ = [
    "RedisSessionStore",
    "SessionStore",
    "SqliteSessionStore",
    "StoreUnavailable",
    "check_store_uri",
    "open_store",
]

#: Seconds a Redis or SQLite operation may take before the login goes on without SSO.
DEFAULT_TIMEOUT = 2.0


class StoreUnavailable(Exception):
    """The session store did not answer; the caller falls back to a fresh login."""

    code = "session_store_unavailable"


class SessionStore(Protocol):
    def load(self, session_id: str, now: float | None = None) -> SsoSession | None:
        """The live session with this cookie value, or None (unknown or expired)."""
        ...

    def save(self, session: SsoSession) -> None:
        """Store or replace the session, living until its own expiry."""
        ...

    def delete(self, session_id: str) -> None:
        """Forget the session (logout)."""
        ...

    def add_participant(
        self, session_id: str, participant: Participant, now: float | None = None
    ) -> SsoSession | None:
        """Atomically record an application in the live session and mark it used now; the
        updated session, or None when there is no live session any more."""
        ...

    def put_record(self, name: str, data: dict, ttl: float) -> None:
        """Keep ``data`` under ``name`` for ``ttl`` seconds (replacing what was there)."""
        ...

    def get_record(self, name: str) -> dict | None:
        """The live record called ``name``, or None."""
        ...

    def ping(self) -> None:
        """Raise :class:`StoreUnavailable` unless the store answers (readiness checks)."""
        ...


def _decode(session_id: str, raw: str | bytes | None, now: float) -> SsoSession | None:
    if raw is None:
        return None
    session = SsoSession.from_dict(session_id, json.loads(raw))
    return session if session.valid(now) else None


def _with_participant(
    session: SsoSession | None, participant: Participant, now: float
) -> SsoSession | None:
    if session is None:
        return None
    session.add_participant(participant)
    session.last_seen = max(session.last_seen, now)
    return session


class SqliteSessionStore:
    """One SQLite file shared by the workers of one node (WAL, short busy timeout)."""

    def __init__(self, path: str | Path, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.path = Path(path)
        self.timeout = timeout
        self._local = threading.local()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = self._db()
            use_wal(db)
            db.execute(
                "CREATE TABLE IF NOT EXISTS sso_sessions "
                "(key TEXT PRIMARY KEY, data TEXT NOT NULL, expires REAL NOT NULL)"
            )
            db.execute("CREATE INDEX IF NOT EXISTS sso_expiry ON sso_sessions (expires)")
            db.execute(
                "CREATE TABLE IF NOT EXISTS sso_records "
                "(name TEXT PRIMARY KEY, data TEXT NOT NULL, expires REAL NOT NULL)"
            )
        except (OSError, sqlite3.Error) as exc:
            raise StoreUnavailable(f"SQLite {self.path}: {exc}") from exc

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
            self._local.db = db
        return db

    def load(self, session_id: str, now: float | None = None) -> SsoSession | None:
        now = time.time() if now is None else now
        try:
            row = (
                self._db()
                .execute(
                    "SELECT data FROM sso_sessions WHERE key = ? AND expires > ?",
                    (session_key(session_id), now),
                )
                .fetchone()
            )
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"SQLite {self.path}: {exc}") from exc
        return _decode(session_id, row[0] if row else None, now)

    def save(self, session: SsoSession) -> None:
        try:
            db = self._db()
            db.execute("DELETE FROM sso_sessions WHERE expires <= ?", (time.time(),))
            db.execute(
                "INSERT OR REPLACE INTO sso_sessions (key, data, expires) VALUES (?, ?, ?)",
                (session.key, json.dumps(session.to_dict()), session.expires()),
            )
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"SQLite {self.path}: {exc}") from exc

    def delete(self, session_id: str) -> None:
        try:
            self._db().execute("DELETE FROM sso_sessions WHERE key = ?", (session_key(session_id),))
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"SQLite {self.path}: {exc}") from exc

    def add_participant(
        self, session_id: str, participant: Participant, now: float | None = None
    ) -> SsoSession | None:
        now = time.time() if now is None else now
        db = self._db()
        try:
            db.execute("BEGIN IMMEDIATE")  # one writer at a time: no lost update
            try:
                row = db.execute(
                    "SELECT data FROM sso_sessions WHERE key = ? AND expires > ?",
                    (session_key(session_id), now),
                ).fetchone()
                session = _with_participant(
                    _decode(session_id, row[0] if row else None, now), participant, now
                )
                if session is not None:
                    db.execute(
                        "UPDATE sso_sessions SET data = ?, expires = ? WHERE key = ?",
                        (json.dumps(session.to_dict()), session.expires(), session.key),
                    )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"SQLite {self.path}: {exc}") from exc
        return session

    def put_record(self, name: str, data: dict, ttl: float) -> None:
        now = time.time()
        try:
            db = self._db()
            db.execute("DELETE FROM sso_records WHERE expires <= ?", (now,))
            db.execute(
                "INSERT OR REPLACE INTO sso_records (name, data, expires) VALUES (?, ?, ?)",
                (name, json.dumps(data), now + ttl),
            )
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"SQLite {self.path}: {exc}") from exc

    def get_record(self, name: str) -> dict | None:
        try:
            row = (
                self._db()
                .execute(
                    "SELECT data FROM sso_records WHERE name = ? AND expires > ?",
                    (name, time.time()),
                )
                .fetchone()
            )
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"SQLite {self.path}: {exc}") from exc
        return json.loads(row[0]) if row else None

    def ping(self) -> None:
        try:
            self._db().execute("SELECT 1").fetchone()
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"SQLite {self.path}: {exc}") from exc

    def count(self, now: float | None = None) -> int:
        """Live sessions (for metrics)."""
        now = time.time() if now is None else now
        try:
            (n,) = (
                self._db()
                .execute("SELECT COUNT(*) FROM sso_sessions WHERE expires > ?", (now,))
                .fetchone()
            )
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"SQLite {self.path}: {exc}") from exc
        return n


class RedisSessionStore:
    """Redis shared by every node; each record expires with its session (``SET … PX``)."""

    PREFIX = "satosa-efos:sso:"
    RECORDS = "satosa-efos:sso-record:"
    #: Optimistic retries of :meth:`add_participant` when another worker changed the session.
    RETRIES = 8

    def __init__(self, url: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        import redis  # the `redis` package; only needed when Redis is configured

        self._errors = (redis.RedisError, OSError)
        self._watch_error = redis.WatchError
        self.url_for_logs = _without_password(url)
        self._redis = redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout, retry_on_timeout=False
        )

    def _fail(self, exc: Exception) -> StoreUnavailable:
        return StoreUnavailable(f"Redis {self.url_for_logs}: {type(exc).__name__}: {exc}")

    def load(self, session_id: str, now: float | None = None) -> SsoSession | None:
        now = time.time() if now is None else now
        try:
            raw = self._redis.get(self.PREFIX + session_key(session_id))
        except self._errors as exc:
            raise self._fail(exc) from exc
        return _decode(session_id, raw, now)

    def save(self, session: SsoSession) -> None:
        ttl_ms = math.ceil((session.expires() - time.time()) * 1000)
        if ttl_ms <= 0:
            self.delete(session.session_id)
            return
        try:
            self._redis.set(self.PREFIX + session.key, json.dumps(session.to_dict()), px=ttl_ms)
        except self._errors as exc:
            raise self._fail(exc) from exc

    def delete(self, session_id: str) -> None:
        try:
            self._redis.delete(self.PREFIX + session_key(session_id))
        except self._errors as exc:
            raise self._fail(exc) from exc

    def add_participant(
        self, session_id: str, participant: Participant, now: float | None = None
    ) -> SsoSession | None:
        now = time.time() if now is None else now
        key = self.PREFIX + session_key(session_id)
        try:
            with self._redis.pipeline() as pipe:
                for _ in range(self.RETRIES):
                    try:
                        pipe.watch(key)  # EXEC fails if another worker writes the session first
                        session = _with_participant(
                            _decode(session_id, pipe.get(key), now), participant, now
                        )
                        if session is None:
                            pipe.unwatch()
                            return None
                        ttl_ms = max(1, math.ceil((session.expires() - time.time()) * 1000))
                        pipe.multi()
                        pipe.set(key, json.dumps(session.to_dict()), px=ttl_ms)
                        pipe.execute()
                        return session
                    except self._watch_error:
                        continue
        except self._errors as exc:
            raise self._fail(exc) from exc
        raise StoreUnavailable(f"Redis {self.url_for_logs}: the session kept changing")

    def put_record(self, name: str, data: dict, ttl: float) -> None:
        try:
            self._redis.set(self.RECORDS + name, json.dumps(data), px=math.ceil(ttl * 1000))
        except self._errors as exc:
            raise self._fail(exc) from exc

    def get_record(self, name: str) -> dict | None:
        try:
            raw = self._redis.get(self.RECORDS + name)
        except self._errors as exc:
            raise self._fail(exc) from exc
        return json.loads(raw) if raw is not None else None

    def ping(self) -> None:
        try:
            self._redis.ping()
        except self._errors as exc:
            raise self._fail(exc) from exc

    def count(self, now: float | None = None) -> int:
        """Live sessions (for metrics): the records Redis still holds."""
        try:
            return sum(1 for _ in self._redis.scan_iter(match=self.PREFIX + "*", count=500))
        except self._errors as exc:
            raise self._fail(exc) from exc


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    return parts._replace(netloc=f"***@{netloc}").geturl()


def check_store_uri(uri: str) -> str:
    """The URI if it names a store (``sqlite:PATH`` or a Redis URL); ValueError otherwise."""
    if uri.startswith("sqlite:"):
        if not uri[len("sqlite:") :].strip():
            raise ValueError("'sqlite:' needs a file path, e.g. sqlite:state/sso.sqlite3")
        return uri
    if urlsplit(uri).scheme in ("redis", "rediss", "unix"):
        return uri
    raise ValueError(
        f"{_without_password(uri)!r} is not a session store: sqlite:PATH (one node) or "
        "redis://HOST:PORT/DB (several nodes)"
    )


def open_store(uri: str, base_dir: str | Path = ".", timeout: float = DEFAULT_TIMEOUT):
    """The store named by ``uri`` (``sqlite:PATH`` or a Redis URL); ValueError otherwise."""
    if check_store_uri(uri).startswith("sqlite:"):
        path = Path(uri[len("sqlite:") :].strip())
        return SqliteSessionStore(path if path.is_absolute() else Path(base_dir) / path, timeout)
    return RedisSessionStore(uri, timeout)
