"""One SQLite detail every store here shares: switching a file to WAL when workers start at once.

gunicorn starts its workers together, and each opens the same new store file. Changing the
journal mode needs the file to itself, and SQLite answers "database is locked" at once rather
than waiting out the busy timeout (seen on CI: a worker failed to boot). So the switch is
retried for a short while; once a file is in WAL mode the setting sticks and this is a no-op.
"""

from __future__ import annotations

import random
import sqlite3
import time


def use_wal(db: sqlite3.Connection, within: float = 10.0) -> None:
    """Put the database in WAL mode, retrying while another process holds the file."""
    deadline = time.monotonic() + within
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL").fetchone()
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02 + random.random() * 0.08)
