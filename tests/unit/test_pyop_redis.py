"""The OIDC OP's Redis store (several nodes): pyop's own wrapper plus an atomic claim.

Runs a real ``redis-server`` (Debian package, installed by ``make test-setup``) on a free
loopback port; a missing server is a failure, not a skip.
"""

from __future__ import annotations

import shutil
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from satosa_efos.processes import Server, free_port
from satosa_efos.sessions.pyop_stores import ClaimingRedisStorage, open_stores


@pytest.fixture(scope="module")
def redis_uri(tmp_path_factory):
    binary = shutil.which("redis-server")
    assert binary, "redis-server is missing: run `make test-setup` (Debian package redis-server)"
    port = free_port()
    work = tmp_path_factory.mktemp("redis")
    server = Server(
        "redis",
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(work)],
        "127.0.0.1",
        port,
        {},
        work / "redis.log",
    )  # fmt: skip
    server.start()
    yield f"redis://127.0.0.1:{port}/0"
    server.stop()


def test_codes_and_tokens_written_by_one_node_are_read_by_another(redis_uri):
    node1 = open_stores(redis_uri, code_lifetime=60, token_lifetime=600)
    node2 = open_stores(redis_uri, code_lifetime=60, token_lifetime=600)
    node1.codes["c1"] = {"sub": "abc", "user_info": {"given_name": "Eva"}}
    assert "c1" in node2.codes and node2.codes["c1"]["user_info"] == {"given_name": "Eva"}
    assert "c1" not in node2.tokens


def test_only_one_claim_wins_across_nodes(redis_uri):
    stores = [open_stores(redis_uri, code_lifetime=60, token_lifetime=600) for _ in range(8)]
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda s: s.code_uses.claim("race-code"), stores))
    assert sorted(results) == [False] * 7 + [True]


def test_entries_expire_in_redis(redis_uri):
    store = ClaimingRedisStorage(redis_uri, collection="satosa_efos:test_ttl", ttl=1)
    store["k"] = {"v": 1}
    assert store.claim("once") is True and store.claim("once") is False
    time.sleep(2.1)
    assert "k" not in store
    assert store.claim("once") is True
