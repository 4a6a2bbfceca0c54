"""``/healthz`` and ``/readyz`` (satosa_efos.health): ready and not-ready, with the reason."""

from __future__ import annotations

import datetime as dt
import json
import socket
from pathlib import Path

import pytest
from helpers.certs import write_expired_certificate
from helpers.metadata import SP_METADATA

from satosa_efos.config.proxy import require_proxy_config
from satosa_efos.health import HealthMiddleware, Readiness, Settings
from satosa_efos.keys import generate_self_signed
from satosa_efos.processes import free_port

FAST = Settings(margin=3600, cache_seconds=0, timeout=0.5)


@pytest.fixture
def directory():
    """A stand-in for the HSA LDAP directory: something that accepts TCP connections."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield f"ldap://127.0.0.1:{server.getsockname()[1]}"


@pytest.fixture
def loaded(prod_conf: Path, directory: str, monkeypatch) -> tuple[Path, dict]:
    """conf/ (development keys) loaded as the proxy loads it, the directory reachable."""
    monkeypatch.setenv("HSA_LDAP_URL", directory)
    return prod_conf, require_proxy_config(prod_conf).data


def call(app, path: str, method: str = "GET") -> tuple[str, dict[str, str], bytes]:
    seen = {}

    def start_response(status, headers):
        seen["status"], seen["headers"] = status, dict(headers)

    body = b"".join(app({"PATH_INFO": path, "REQUEST_METHOD": method}, start_response))
    return seen["status"], seen["headers"], body


def failed(body: dict) -> dict[str, list[str]]:
    """check name -> names of the items that failed."""
    return {
        name: [item["name"] for item in check["items"] if not item["ok"]]
        for name, check in body["checks"].items()
        if not check["ok"]
    }


def fake_app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"satosa"]


def test_ready_with_the_production_configuration(loaded):
    conf, data = loaded
    status, body = Readiness(conf, data, FAST).report()

    assert (status, body["status"]) == (200, "ready"), failed(body)
    assert set(body["checks"]) == {"configuration", "metadata", "keys", "stores", "directory"}
    keys = {item["name"]: item for item in body["checks"]["keys"]["items"]}
    assert keys["idp: keys/frontend.key"]["detail"] == "readable"
    assert keys["orgidp: keys/backend.crt"]["seconds_left"] > 3600
    assert body["checks"]["directory"]["items"][0]["name"] == "hsa: ldap"
    stores = [item["name"] for item in body["checks"]["stores"]["items"]]
    assert stores == ["oidc: sqlite state/oidc-op.sqlite3", "sso: sqlite state/sso.sqlite3"]


def test_not_ready_when_a_certificate_has_expired(loaded):
    conf, data = loaded
    write_expired_certificate(conf / "keys" / "backend.crt")

    status, body = Readiness(conf, data, FAST).report()

    assert (status, body["status"]) == (503, "not_ready")
    assert failed(body) == {"keys": ["orgidp: keys/backend.crt"]}
    item = next(i for i in body["checks"]["keys"]["items"] if i["name"].endswith("backend.crt"))
    assert item["detail"].startswith("expired at") and item["seconds_left"] < 0


def test_a_certificate_expiring_within_the_margin_is_not_ready(loaded):
    conf, data = loaded
    _, cert = generate_self_signed("soon", days=1)  # valid for about one more day
    (conf / "keys" / "frontend.crt").write_bytes(cert)

    assert Readiness(conf, data, FAST).report()[0] == 200
    week = Settings(margin=7 * 86400, cache_seconds=0, timeout=0.5)
    status, body = Readiness(conf, data, week).report()
    assert status == 503 and failed(body) == {"keys": ["idp: keys/frontend.crt"]}
    frontend = next(i for i in body["checks"]["keys"]["items"] if i["name"].endswith(".crt")
                    and "frontend" in i["name"])  # fmt: skip
    assert "within the 604800 s margin" in frontend["detail"]


def test_not_ready_when_the_signing_key_is_unreadable(loaded):
    conf, data = loaded
    (conf / "keys" / "frontend.key").unlink()

    status, body = Readiness(conf, data, FAST).report()

    assert status == 503 and failed(body) == {"keys": ["idp: keys/frontend.key"]}


def test_not_ready_when_the_directory_is_down(loaded, monkeypatch):
    conf, _ = loaded
    monkeypatch.setenv("HSA_LDAP_URL", f"ldap://127.0.0.1:{free_port()}")  # nothing listens
    data = require_proxy_config(conf).data

    status, body = Readiness(conf, data, FAST).report()

    assert status == 503 and failed(body) == {"directory": ["hsa: ldap"]}
    assert "refused" in body["checks"]["directory"]["items"][0]["detail"].lower()


def test_not_ready_when_the_redis_store_is_down(loaded, monkeypatch):
    conf, _ = loaded
    monkeypatch.setenv("SATOSA_EFOS_OIDC_DB_URI", f"redis://:secret@127.0.0.1:{free_port()}/0")
    data = require_proxy_config(conf).data

    status, body = Readiness(conf, data, FAST).report()

    assert status == 503
    item = next(i for i in body["checks"]["stores"]["items"] if i["name"].startswith("oidc:"))
    assert not item["ok"] and "PING failed" in item["detail"]
    assert "secret" not in json.dumps(body), "a password in the store's URL is not shown"


def federation_data(file: str = "fed.xml") -> dict:
    return {
        "BACKEND_MODULES": [
            {"name": "orgidp", "module": "x", "config": {"federation": [{"file": file}]}}
        ]
    }


def aggregate(valid_until: dt.datetime) -> str:
    stamp = f"{valid_until:%Y-%m-%dT%H:%M:%SZ}"
    return SP_METADATA.format(entity="https://app.example.se/sp").replace(
        "<md:EntityDescriptor ", f'<md:EntityDescriptor validUntil="{stamp}" ', 1
    )


def test_not_ready_when_federation_metadata_is_missing(tmp_path):
    status, body = Readiness(tmp_path, federation_data(), FAST).report()

    assert status == 503
    assert body["checks"]["metadata"]["items"] == [
        {"name": "orgidp: federation: fed.xml", "ok": False, "detail": "missing"}
    ]


def test_metadata_must_stay_valid_beyond_the_margin(tmp_path):
    now = dt.datetime.now(dt.UTC)
    readiness = Readiness(tmp_path, federation_data(), FAST)
    (tmp_path / "fed.xml").write_text(aggregate(now + dt.timedelta(days=2)))
    assert readiness.report()[0] == 200

    # The fetcher replaces the file (a new inode): the new validUntil is read, not a cached one.
    (tmp_path / "fed.new").write_text(aggregate(now + dt.timedelta(minutes=30)))
    (tmp_path / "fed.new").rename(tmp_path / "fed.xml")
    status, body = readiness.report()
    assert status == 503
    assert "within the 3600 s margin" in body["checks"]["metadata"]["items"][0]["detail"]


def test_answers_are_cached_for_a_few_seconds(tmp_path):
    clock = [1000.0]
    settings = Settings(margin=0, cache_seconds=5, timeout=0.5)
    readiness = Readiness(tmp_path, federation_data(), settings, clock=lambda: clock[0])
    assert readiness.report()[0] == 503
    (tmp_path / "fed.xml").write_text(aggregate(dt.datetime.now(dt.UTC) + dt.timedelta(days=1)))
    clock[0] += 4
    assert readiness.report()[0] == 503  # still the cached answer
    clock[0] += 2
    assert readiness.report()[0] == 200


def test_healthz_answers_even_when_not_ready(tmp_path):
    app = HealthMiddleware(fake_app, Readiness(tmp_path, federation_data(), FAST))

    status, headers, body = call(app, "/healthz")
    assert (status, json.loads(body)) == ("200 OK", {"status": "ok"})
    assert headers["Content-Type"] == "application/json"
    assert headers["Cache-Control"] == "no-store"

    status, _, body = call(app, "/readyz")
    assert status == "503 Service Unavailable" and json.loads(body)["status"] == "not_ready"
    assert call(app, "/readyz", "HEAD")[2] == b""
    assert call(app, "/readyz", "POST")[0] == "405 Method Not Allowed"


def test_other_paths_go_to_the_proxy(tmp_path):
    app = HealthMiddleware(fake_app, Readiness(tmp_path, {}, FAST))

    assert call(app, "/idp/sso/redirect") == ("200 OK", {"Content-Type": "text/plain"}, b"satosa")
    assert call(app, "/readyz")[0] == "200 OK"
