"""The OIDC OP's SQLite store: shared by processes, expiring, single-use claims."""

from __future__ import annotations

import multiprocessing
import stat
from pathlib import Path

import pytest

from satosa_efos.sessions.pyop_sqlite import SqliteDatabase, SqliteStorage
from satosa_efos.sessions.pyop_stores import check_db_uri, open_stores


class Clock:
    def __init__(self, now: float = 1_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def _write(path: str, key: str, value: dict) -> None:
    SqliteStorage(SqliteDatabase(path), "codes", 60)[key] = value


def _read(path: str, key: str, queue) -> None:
    store = SqliteStorage(SqliteDatabase(path), "codes", 60)
    try:
        queue.put(store[key])
    except KeyError:
        queue.put(None)


def _claim(path: str, key: str, start, queue) -> None:
    store = SqliteStorage(SqliteDatabase(path), "uses", 60)
    start.wait()
    queue.put(store.claim(key))


def _run(target, *args) -> None:
    process = multiprocessing.get_context("spawn").Process(target=target, args=args)
    process.start()
    process.join(30)
    assert process.exitcode == 0


def test_a_write_in_one_process_is_read_in_another(tmp_path):
    path = str(tmp_path / "op.sqlite3")
    _run(_write, path, "code-1", {"sub": "abc", "claims": {"given_name": "Eva"}})
    queue = multiprocessing.get_context("spawn").Queue()
    _run(_read, path, "code-1", queue)
    assert queue.get(timeout=5) == {"sub": "abc", "claims": {"given_name": "Eva"}}
    # and this process (another connection) sees it too, and the reverse direction works
    store = SqliteStorage(SqliteDatabase(path), "codes", 60)
    assert store["code-1"]["sub"] == "abc"
    store["code-2"] = {"sub": "def"}
    _run(_read, path, "code-2", queue)
    assert queue.get(timeout=5) == {"sub": "def"}


def test_only_one_of_several_processes_claims_a_code(tmp_path):
    path = str(tmp_path / "op.sqlite3")
    SqliteDatabase(path)  # schema and WAL before the race
    context = multiprocessing.get_context("spawn")
    start, queue = context.Event(), context.Queue()
    processes = [
        context.Process(target=_claim, args=(path, "code", start, queue)) for _ in range(6)
    ]
    for process in processes:
        process.start()
    start.set()
    for process in processes:
        process.join(30)
    results = [queue.get(timeout=5) for _ in processes]
    assert sorted(results) == [False] * 5 + [True]


def test_entries_expire_after_their_ttl(tmp_path):
    clock = Clock()
    store = SqliteStorage(SqliteDatabase(tmp_path / "op.sqlite3", clock=clock), "tokens", 600)
    store["t"] = {"sub": "abc"}
    clock.now += 599
    assert "t" in store and store["t"] == {"sub": "abc"}
    assert dict(store.items()) == {"t": {"sub": "abc"}}
    clock.now += 2
    assert "t" not in store
    with pytest.raises(KeyError):
        store["t"]
    assert list(store.items()) == []


def test_a_write_renews_the_ttl_like_pyops_own_stores(tmp_path):
    clock = Clock()
    store = SqliteStorage(SqliteDatabase(tmp_path / "op.sqlite3", clock=clock), "codes", 60)
    store["c"] = {"used": False}
    clock.now += 50
    store["c"] = {"used": True}
    clock.now += 50
    assert store["c"] == {"used": True}


def test_expired_entries_are_deleted_from_the_file(tmp_path):
    clock = Clock()
    database = SqliteDatabase(tmp_path / "op.sqlite3", clock=clock, purge_interval=60)
    store = SqliteStorage(database, "codes", 60)
    for i in range(5):
        store[f"old-{i}"] = {}
    clock.now += 120
    store["new"] = {}  # a write after the purge interval purges
    rows = database.connection().execute("SELECT key FROM pyop_entries").fetchall()
    assert rows == [("new",)]


def test_a_claim_is_refused_until_it_expires(tmp_path):
    clock = Clock()
    store = SqliteStorage(SqliteDatabase(tmp_path / "op.sqlite3", clock=clock), "uses", 60)
    assert store.claim("code") is True
    assert store.claim("code") is False
    clock.now += 61
    assert store.claim("code") is True


def test_collections_do_not_see_each_other(tmp_path):
    database = SqliteDatabase(tmp_path / "op.sqlite3")
    codes, tokens = SqliteStorage(database, "codes", 60), SqliteStorage(database, "tokens", 60)
    codes["x"] = {"kind": "code"}
    assert "x" not in tokens
    del codes["x"]
    assert "x" not in codes


def test_the_file_is_private_and_in_wal_mode(tmp_path):
    database = SqliteDatabase(tmp_path / "state" / "op.sqlite3")
    mode = stat.S_IMODE(Path(database.path).stat().st_mode)
    assert mode == 0o600
    assert database.connection().execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_store_uris(tmp_path):
    assert check_db_uri("sqlite:state/oidc.sqlite3")
    assert check_db_uri("redis://redis.internal:6379/2")
    for bad in ("mongodb://db/satosa", "sqlite:", "state/oidc.sqlite3"):
        with pytest.raises(ValueError):
            check_db_uri(bad)
    stores = open_stores(f"sqlite:{tmp_path}/op.sqlite3", code_lifetime=60, token_lifetime=600)
    assert (stores.codes.ttl, stores.tokens.ttl) == (60, 600)
