"""Use-once records shared by every worker of a node: "this order was already consumed".

A completed Mobilt Efos order must log in once. The order lives in the browser's encrypted state
cookie, and a copy of that cookie could be replayed; the record of consumed orders must therefore
be server-side and shared by all gunicorn workers, not in any worker's memory. SQLite (WAL,
one small table) is enough for one node; several nodes share the Redis store that comes with SSO
sessions.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from satosa_efos.sessions.sqlite_wal import use_wal


class OnceStore:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        with self._connection() as db:
            use_wal(db)
            db.execute("CREATE TABLE IF NOT EXISTS used (key TEXT PRIMARY KEY, expires REAL)")

    def _connection(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=5, isolation_level=None)
            self._local.db = db
        return db

    def claim(self, key: str, ttl_seconds: float) -> bool:
        """True the first time ``key`` is claimed (until it expires), False on every later try."""
        now = time.time()
        db = self._connection()
        db.execute("DELETE FROM used WHERE expires < ?", (now,))
        try:
            db.execute("INSERT INTO used (key, expires) VALUES (?, ?)", (key, now + ttl_seconds))
        except sqlite3.IntegrityError:
            return False
        return True
