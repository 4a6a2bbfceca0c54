"""Workers start together and open the same new SQLite store: none may fail to boot (seen on CI:
"database is locked" while switching the file to WAL)."""

from __future__ import annotations

import multiprocessing
import sqlite3

import pytest

from satosa_efos.sessions.once import OnceStore
from satosa_efos.sessions.pyop_sqlite import SqliteDatabase
from satosa_efos.sessions.store import SqliteSessionStore

STORES = {"oidc": SqliteDatabase, "sso": SqliteSessionStore, "once": OnceStore}


def _open(kind: str, path: str, start, errors) -> None:
    start.wait()
    try:
        STORES[kind](path)
    except Exception as exc:  # reported to the test
        errors.put(f"{type(exc).__name__}: {exc}")


@pytest.mark.parametrize("kind", sorted(STORES))
def test_many_processes_open_a_new_store_at_once(tmp_path, kind):
    context = multiprocessing.get_context("fork")
    start, errors = context.Event(), context.Queue()
    path = str(tmp_path / "store.sqlite3")
    workers = [context.Process(target=_open, args=(kind, path, start, errors)) for _ in range(8)]
    for worker in workers:
        worker.start()
    start.set()
    for worker in workers:
        worker.join(30)
    assert errors.empty(), errors.get()
    mode = sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
