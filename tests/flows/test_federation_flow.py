"""A federation aggregate in the running proxy (gunicorn, two workers): refreshed from the file
`metadata fetch` writes, kept when a refresh fails, and when it expires only its IdPs stop."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import time
from pathlib import Path

import pytest
from helpers.aggregate import build_aggregate
from helpers.browser import Browser, log_in
from helpers.fileserver import feed_server
from helpers.stack import start_stack

from satosa_efos import demo
from satosa_efos.cli import main
from satosa_efos.keys import ensure_keypair
from satosa_efos.processes import stop_all
from satosa_efos.xmlsec.metadata import verify_aggregate_file

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.flow
CHECK_INTERVAL = 0.5


def audit_events(stack) -> list[str]:
    return [json.loads(json.loads(line)["message"])["event"]
            for line in stack.logs("proxy").splitlines()
            if '"satosa_efos.audit"' in line and "federation_metadata" in line]  # fmt: skip


def wait_until(condition, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def goteborg_page(stack):
    """Start a login and pick Göteborg (whose IdP is known only from the aggregate)."""
    browser = Browser()
    picker = browser.submit(browser.get(f"{stack.urls.app}/"))
    return browser.choose_method(browser.submit(picker, having="email",
                                                email="eva.sjoberg@goteborg.se"))  # fmt: skip


@pytest.fixture
def federated(tmp_path):
    """The demo with Göteborg's IdP in a signed aggregate and Borås's in metadata/idp/."""
    shutil.copytree(REPO / "conf", tmp_path / "conf", symlinks=True,
                    ignore=shutil.ignore_patterns("keys"))  # fmt: skip
    conf = tmp_path / "conf" / "demo"
    urls = demo.DemoUrls.free()
    demo.prepare(urls, tmp_path / "demo", conf)
    goteborg = tmp_path / "federation" / "goteborg.xml"
    goteborg.parent.mkdir()
    shutil.move(tmp_path / "demo" / "metadata" / "idp" / "goteborg.xml", goteborg)
    key, cert = ensure_keypair(tmp_path / "federation", "signer", "Test federation")
    aggregate = tmp_path / "federation" / "aggregate.xml"
    build_aggregate([goteborg], key, aggregate)
    backend = conf / "plugins" / "backends" / "organisation_idps.yaml"
    backend.write_text(backend.read_text().replace("  sp_config:\n", (
        f"  federation:\n    - file: {aggregate}\n      signer_cert: {cert}\n"
        f"      check_interval: {CHECK_INTERVAL}\n  sp_config:\n")))  # fmt: skip
    # demo.prepare would write goteborg.xml again; the stack must not see it there.
    real_prepare = demo.prepare

    def prepare_without_goteborg(*args, **kwargs):
        real_prepare(*args, **kwargs)
        (tmp_path / "demo" / "metadata" / "idp" / "goteborg.xml").unlink(missing_ok=True)

    demo.prepare = prepare_without_goteborg
    try:
        stack = start_stack(tmp_path, workers=2, conf_dir=conf, urls=urls)
    finally:
        demo.prepare = real_prepare

    def build(valid_for: dt.timedelta) -> bytes:
        return build_aggregate([goteborg], key, tmp_path / "built.xml",
                               valid_for=valid_for).read_bytes()  # fmt: skip

    yield stack, aggregate, cert, build
    stop_all(stack.servers)


def test_aggregate_refresh_failure_and_expiry_in_the_running_proxy(federated):
    stack, aggregate, cert, build = federated
    for _ in range(2):  # both workers (requests alternate) know Göteborg from the aggregate
        assert log_in(stack, Browser(), "eva", "eva.sjoberg@goteborg.se").status_code == 200

    # A file replaced behind the fetcher's back (tampered): refused, the last good copy stays.
    good = aggregate.read_bytes()
    aggregate.write_bytes(good.replace(b"/idp/sso/redirect", b"/idp/sso/evil"))
    os.utime(aggregate)
    wait_until(lambda: audit_events(stack).count("federation_metadata_refused") >= 2)
    for _ in range(2):
        assert log_in(stack, Browser(), "eva", "eva.sjoberg@goteborg.se").status_code == 200

    # The fetcher installs an aggregate that expires in a few seconds; the workers load it.
    with feed_server() as feed:
        feed.body = build(dt.timedelta(seconds=6))
        out = ["--signer-cert", str(cert), "--out", str(aggregate)]
        assert main(["metadata", "fetch", feed.url, *out]) == 0
        wait_until(lambda: audit_events(stack).count("federation_metadata_loaded") >= 4)
        valid_until = verify_aggregate_file(aggregate, cert).valid_until
        time.sleep(max(0.0, (valid_until - dt.datetime.now(dt.UTC)).total_seconds()) + 0.5)

        # Expired: Göteborg's IdP is unknown, in every worker; a page says so.
        for _ in range(3):
            page = goteborg_page(stack)
            assert page.status_code == 503, page.url
            assert page.url.startswith(stack.urls.proxy)
            assert "Organisationens inloggning är inte tillgänglig" in page.text
        assert "federation_metadata_expired" in audit_events(stack)
        # ... while the proxy and Borås's IdP (from its own file) work as before.
        for _ in range(2):
            page = log_in(stack, Browser(), "cecilia", "cecilia.holm@boras.se")
            assert page.status_code == 200, page.text

        # A fresh aggregate brings Göteborg back without a restart.
        feed.body = build(dt.timedelta(days=1))
        assert main(["metadata", "fetch", feed.url, *out]) == 0
    wait_until(lambda: audit_events(stack).count("federation_metadata_loaded") >= 6)
    for _ in range(2):
        assert log_in(stack, Browser(), "eva", "eva.sjoberg@goteborg.se").status_code == 200
