"""`satosa-efos metadata fetch|verify`: only a verified, current aggregate replaces the last good
copy; every failure leaves it byte-for-byte as it was and exits non-zero with a reason."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from helpers.aggregate import build_aggregate
from helpers.fileserver import feed_server

from satosa_efos.cli import main
from satosa_efos.keys import ensure_keypair
from satosa_efos.simulators import demo_idp


@pytest.fixture
def server():
    with feed_server() as running:
        yield running


@pytest.fixture
def federation(tmp_path):
    signer_key, signer_cert = ensure_keypair(tmp_path, "signer", "Test federation")
    entities = []
    for name in ("one", "two", "three"):
        key, cert = ensure_keypair(tmp_path, name, name)
        entities.append(demo_idp.write_metadata(f"https://{name}.example.se", key, cert,
                                                tmp_path / f"{name}.xml"))  # fmt: skip

    def aggregate(name: str = "agg.xml", **kwargs) -> bytes:
        return build_aggregate(entities, signer_key, tmp_path / name, **kwargs).read_bytes()

    return tmp_path, signer_cert, aggregate


def fetch(url, cert, out, *extra) -> int:
    return main(["metadata", "fetch", url, "--signer-cert", str(cert), "--out", str(out),
                 "--timeout", "5", *extra])  # fmt: skip


def test_fetch_writes_a_verified_aggregate_and_describes_it(server, federation, capsys):
    tmp, cert, aggregate = federation
    server.body = aggregate()
    out = tmp / "federation" / "sambi.xml"
    assert fetch(server.url, cert, out) == 0
    assert out.read_bytes() == server.body
    printed = capsys.readouterr().out
    assert "entities:    3" in printed
    assert hashlib.sha256(server.body).hexdigest() in printed
    assert "CN=Test federation" in printed


def test_failed_refreshes_keep_the_last_good_copy(server, federation, capsys):
    tmp, cert, aggregate = federation
    out = tmp / "sambi.xml"
    server.body = good = aggregate()
    assert fetch(server.url, cert, out) == 0
    capsys.readouterr()

    server.body = good.replace(b"https://two.example.se/idp/sso/redirect", b"https://evil.org/")
    assert fetch(server.url, cert, out) == 1
    assert "signature does not verify" in capsys.readouterr().err
    assert out.read_bytes() == good

    server.body = aggregate("expired.xml", valid_for=dt.timedelta(minutes=-5))
    assert fetch(server.url, cert, out) == 1
    err = capsys.readouterr().err
    assert "expired" in err and "the last good copy is kept" in err
    assert out.read_bytes() == good

    server.body, server.status = b"not here", 404
    assert fetch(server.url, cert, out) == 1
    assert "answered 404" in capsys.readouterr().err
    assert out.read_bytes() == good

    server.stop()
    assert fetch(server.url, cert, out) == 1
    assert "cannot be fetched" in capsys.readouterr().err
    assert out.read_bytes() == good
    assert [p.name for p in tmp.iterdir() if p.name.startswith(".sambi.xml")] == []


def test_fetch_refuses_a_document_over_the_size_limit(server, federation, capsys):
    tmp, cert, aggregate = federation
    server.body = aggregate()
    assert fetch(server.url, cert, tmp / "out.xml", "--max-bytes", "1000") == 1
    assert "larger than 1000 bytes" in capsys.readouterr().err
    assert not (tmp / "out.xml").exists()


def test_fetch_ignores_proxy_settings_from_the_environment(server, federation, monkeypatch):
    tmp, cert, aggregate = federation
    server.body = aggregate()
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens on the discard port
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    assert fetch(server.url, cert, tmp / "out.xml") == 0


def test_fetch_from_a_file(federation):
    tmp, cert, aggregate = federation
    aggregate("source.xml")
    assert fetch(str(tmp / "source.xml"), cert, tmp / "out.xml") == 0
    assert (tmp / "out.xml").read_bytes() == (tmp / "source.xml").read_bytes()


def test_verify_describes_a_good_aggregate(federation, capsys):
    tmp, cert, aggregate = federation
    data = aggregate("agg.xml", valid_for=dt.timedelta(days=3))
    assert main(["metadata", "verify", str(tmp / "agg.xml"), "--signer-cert", str(cert)]) == 0
    printed = capsys.readouterr().out
    assert "signature OK" in printed and "entities:    3" in printed
    assert f"SHA-256:     {hashlib.sha256(data).hexdigest()}" in printed
    assert "(valid)" in printed


def test_verify_fails_on_an_expired_or_tampered_aggregate(federation, capsys):
    tmp, cert, aggregate = federation
    aggregate("old.xml", valid_for=dt.timedelta(hours=-1))
    assert main(["metadata", "verify", str(tmp / "old.xml"), "--signer-cert", str(cert)]) == 1
    captured = capsys.readouterr()
    assert "(EXPIRED)" in captured.out and "has expired" in captured.err
    data = aggregate("bad.xml").replace(b"three.example.se", b"thr33.example.se")
    (tmp / "bad.xml").write_bytes(data)
    assert main(["metadata", "verify", str(tmp / "bad.xml"), "--signer-cert", str(cert)]) == 1
    assert "signature does not verify" in capsys.readouterr().err
