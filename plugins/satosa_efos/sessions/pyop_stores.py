"""The OIDC OP's stores, chosen by one ``db_uri``: SQLite for one node, Redis for several.

- ``sqlite:PATH`` (the default, ``sqlite:state/oidc-op.sqlite3``): :mod:`.pyop_sqlite`, one file
  shared by every worker of a node. A relative PATH is relative to the configuration directory.
- ``redis://…``, ``rediss://…``, ``unix://…``: pyop's own Redis wrapper (needs the ``redis``
  package), shared by every node; it adds only an atomic "claim" for single-use codes.

Three collections: authorization codes, access tokens, and the record of redeemed codes. No
subject table: the frontend hands pyop ready-made pairwise ``sub``s (see
:mod:`satosa_efos.oidc.pairwise`), so nothing per person is stored beyond a token's lifetime.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from pyop.storage import RedisWrapper, StorageBase

from satosa_efos.sessions.pyop_sqlite import SqliteDatabase, SqliteStorage

SQLITE_PREFIX = "sqlite:"
REDIS_SCHEMES = ("redis", "rediss", "unix")
DEFAULT_DB_URI = "sqlite:state/oidc-op.sqlite3"


class ClaimingStore(Protocol):
    def claim(self, key: str) -> bool: ...


class ClaimingRedisStorage(RedisWrapper):
    """pyop's Redis wrapper plus :meth:`claim` (``SET NX``: one winner across all nodes)."""

    def claim(self, key: str) -> bool:
        encoded = json.dumps({"value": True})
        return bool(self._db.set(self._make_key(key), encoded, nx=True, ex=self.ttl))


@dataclass(frozen=True)
class OidcStores:
    codes: StorageBase
    tokens: StorageBase
    code_uses: ClaimingStore


def check_db_uri(db_uri: str) -> str:
    """The URI if this proxy can use it; ValueError with the choices otherwise."""
    if db_uri.startswith(SQLITE_PREFIX):
        if not db_uri[len(SQLITE_PREFIX) :].strip():
            raise ValueError("'sqlite:' needs a file path, e.g. sqlite:state/oidc-op.sqlite3")
        return db_uri
    if urlsplit(db_uri).scheme in REDIS_SCHEMES:
        return db_uri
    raise ValueError(
        f"'{db_uri}' is not a store this proxy uses: sqlite:PATH (one node) or "
        "redis://HOST:PORT/DB (several nodes)"
    )


def open_stores(db_uri: str, *, code_lifetime: int, token_lifetime: int) -> OidcStores:
    check_db_uri(db_uri)
    if db_uri.startswith(SQLITE_PREFIX):
        database = SqliteDatabase(db_uri[len(SQLITE_PREFIX) :])
        return OidcStores(
            SqliteStorage(database, "oidc_codes", code_lifetime),
            SqliteStorage(database, "oidc_tokens", token_lifetime),
            SqliteStorage(database, "oidc_code_uses", code_lifetime),
        )

    def redis(collection: str, ttl: int) -> ClaimingRedisStorage:
        return ClaimingRedisStorage(db_uri, collection=f"satosa_efos:{collection}", ttl=ttl)

    return OidcStores(
        redis("oidc_codes", code_lifetime),
        redis("oidc_tokens", token_lifetime),
        redis("oidc_code_uses", code_lifetime),
    )
