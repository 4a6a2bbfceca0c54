"""pyop's storage interface in one SQLite file: the OIDC OP's codes and tokens for one node.

pyop keeps authorization codes and access tokens in dict-like stores. Stock SATOSA uses plain
dicts unless MongoDB or Redis is configured, so a code issued by one gunicorn worker is unknown
to the next: the token request fails at random. This store is the embedded default (DESIGN.md
§5: SQLite for one node, Redis for several): every worker of a node opens the same file, in WAL
mode (readers never wait for the writer) with a busy timeout (writers queue instead of failing),
and entries expire after their collection's ``ttl``: an expired entry is invisible at once and
deleted by the next write after a purge interval, so the file does not grow with old tokens.

The values are pyop's JSON-serialisable dicts, like pyop's own Redis wrapper stores them. The
file holds bearer tokens and the claims bound to them: it is created readable by its owner only.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pyop.storage import StorageBase

from satosa_efos.sessions.sqlite_wal import use_wal

_SCHEMA = """
CREATE TABLE IF NOT EXISTS pyop_entries (
    collection TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    expires REAL,
    PRIMARY KEY (collection, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS pyop_entries_expiry ON pyop_entries (expires)
    WHERE expires IS NOT NULL;
"""


class SqliteDatabase:
    """One SQLite file shared by the stores (collections) of one process, safe across processes.

    A connection is opened per process and thread (sqlite3 connections must not cross a fork or
    be shared between threads); ``clock`` is injectable so that expiry can be tested without
    sleeping.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        busy_timeout: float = 5.0,
        purge_interval: float = 60.0,
        clock: Callable[[], float] = time.time,
    ):
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        self.purge_interval = purge_interval
        self.clock = clock
        self._local = threading.local()
        self._last_purge = 0.0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.path.exists():
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))
        db = self.connection()
        use_wal(db)
        db.executescript(_SCHEMA)

    def connection(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None or getattr(self._local, "pid", None) != os.getpid():
            db = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None)
            db.execute(f"PRAGMA busy_timeout={int(self.busy_timeout * 1000)}")
            # WAL with synchronous=NORMAL is durable across a process crash; a power cut may
            # lose the last codes, which then fail like expired ones (the login is restarted).
            db.execute("PRAGMA synchronous=NORMAL")
            self._local.db, self._local.pid = db, os.getpid()
        return db

    def purge(self, force: bool = False) -> int:
        """Delete expired entries (at most once per ``purge_interval`` unless forced)."""
        now = self.clock()
        if not force and now - self._last_purge < self.purge_interval:
            return 0
        self._last_purge = now
        cursor = self.connection().execute(
            "DELETE FROM pyop_entries WHERE expires IS NOT NULL AND expires <= ?", (now,)
        )
        return cursor.rowcount

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None


class SqliteStorage(StorageBase):
    """One pyop collection (e.g. authorization codes) in a :class:`SqliteDatabase`.

    ``ttl`` (seconds, or None for no expiry) counts from the last write of an entry, as in
    pyop's Redis and MongoDB wrappers.
    """

    def __init__(self, database: SqliteDatabase, collection: str, ttl: int | None = None):
        if ttl is not None and ttl <= 0:
            raise ValueError("ttl must be a positive number of seconds, or None")
        self.database = database
        self.collection = collection
        self._ttl = ttl

    def _expires(self) -> float | None:
        return None if self._ttl is None else self.database.clock() + self._ttl

    def __setitem__(self, key: str, value: Any) -> None:
        self.database.connection().execute(
            "INSERT OR REPLACE INTO pyop_entries (collection, key, value, expires) "
            "VALUES (?, ?, ?, ?)",
            (self.collection, _key(key), json.dumps(value), self._expires()),
        )
        self.database.purge()

    def __getitem__(self, key: str) -> Any:
        row = (
            self.database.connection()
            .execute(
                "SELECT value FROM pyop_entries WHERE collection = ? AND key = ? "
                "AND (expires IS NULL OR expires > ?)",
                (self.collection, _key(key), self.database.clock()),
            )
            .fetchone()
        )
        if row is None:
            raise KeyError(key)
        return json.loads(row[0])

    def __delitem__(self, key: str) -> None:
        self.database.connection().execute(
            "DELETE FROM pyop_entries WHERE collection = ? AND key = ?",
            (self.collection, _key(key)),
        )

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        try:
            self[key]
        except KeyError:
            return False
        return True

    def items(self) -> Iterator[tuple[str, Any]]:
        rows = (
            self.database.connection()
            .execute(
                "SELECT key, value FROM pyop_entries WHERE collection = ? "
                "AND (expires IS NULL OR expires > ?)",
                (self.collection, self.database.clock()),
            )
            .fetchall()
        )
        for key, value in rows:
            yield key, json.loads(value)

    def pack(self, value: Any) -> str:
        raise NotImplementedError("pack() is for pyop's stateless mode, which this store is not")

    def claim(self, key: str) -> bool:
        """Atomically mark ``key`` as taken: True for the first caller (until the entry expires),
        False for every other process, thread or later call.

        One statement, so two workers redeeming one authorization code at the same instant
        cannot both succeed (pyop's own read-check-write of ``used`` could).
        """
        now = self.database.clock()
        cursor = self.database.connection().execute(
            "INSERT INTO pyop_entries (collection, key, value, expires) VALUES (?, ?, 'true', ?) "
            "ON CONFLICT (collection, key) DO UPDATE SET value = excluded.value, "
            "expires = excluded.expires "
            "WHERE pyop_entries.expires IS NOT NULL AND pyop_entries.expires <= ?",
            (self.collection, _key(key), self._expires(), now),
        )
        return cursor.rowcount == 1


def _key(key: Any) -> str:
    if not isinstance(key, str):
        raise TypeError(f"keys must be strings, {type(key).__name__} given")
    return key
