"""docs/connect-application.md, followed step by step for an application outside the demo."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.browser import Browser

from satosa_efos import demo
from satosa_efos.keys import ensure_keypair
from satosa_efos.processes import Server, free_port, gunicorn_argv, stop_all
from satosa_efos.simulators import demo_sp

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.flow

JOURNAL_ENTRY = """
  - id: journal
    name: Journalappen
    protocol: saml
    entity_id: {entity_id}
    metadata: ../../metadata/sp/journal.xml
    allowed_organisations: [vgr, boras]
    required_loa: loa3
    released_attributes:
      - givenName
      - surname
      - employeeHsaId
"""


def test_operator_connects_a_new_application_by_following_the_guide(tmp_path):
    # A checkout-like tree: conf/ (with the demo's configuration) and metadata/.
    shutil.copytree(REPO / "conf", tmp_path / "conf", ignore=shutil.ignore_patterns("keys"))
    shutil.copytree(REPO / "metadata", tmp_path / "metadata")
    conf = tmp_path / "conf" / "demo"
    urls = demo.DemoUrls.free()
    journal_port = free_port()
    journal_url = f"http://127.0.0.1:{journal_port}"
    demo.prepare(urls, tmp_path / "var", conf)
    env = demo.proxy_env(urls, tmp_path / "var")

    # Step 1: the application's metadata in metadata/sp/.
    key, cert = ensure_keypair(tmp_path / "journal-keys", "journal", "Journalappen")
    demo_sp.write_metadata(journal_url, key, cert, tmp_path / "metadata" / "sp" / "journal.xml")
    # Step 2: an entry in applications.yaml.
    applications = conf / "applications.yaml"
    entry = JOURNAL_ENTRY.format(entity_id=f"{journal_url}/sp")
    applications.write_text(applications.read_text() + entry)
    # Step 3: check-config.
    checked = subprocess.run(
        [sys.executable, "-m", "satosa_efos.cli", "check-config", str(conf)],
        capture_output=True, text=True, env={**os.environ, **env}, timeout=60,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stderr
    # Step 4: (re)start the proxy with `satosa-efos serve`.
    proxy_port = int(urls.proxy.rsplit(":", 1)[1])
    servers = demo.servers(urls, tmp_path / "var", conf, log_dir=tmp_path)
    servers[1] = Server(
        "proxy",
        [sys.executable, "-m", "satosa_efos.cli", "serve", str(conf),
         "--bind", f"127.0.0.1:{proxy_port}", "--workers", "2"],
        "127.0.0.1", proxy_port, env, tmp_path / "proxy.log",
    )  # fmt: skip
    # Step 5: the application gets the proxy's metadata.
    proxy_metadata = tmp_path / "var" / "metadata" / "proxy" / "idp.xml"
    journal = Server(
        "journal",
        gunicorn_argv("satosa_efos.simulators.demo_sp:create_app()", f"127.0.0.1:{journal_port}",
                      1),
        "127.0.0.1", journal_port,
        {"DEMO_SP_BASE_URL": journal_url, "DEMO_SP_KEY": str(key), "DEMO_SP_CERT": str(cert),
         "DEMO_SP_METADATA": str(proxy_metadata)},
        tmp_path / "journal.log",
    )  # fmt: skip
    servers = [*servers[:-1], journal]  # the demo application is not needed
    try:
        for server in servers:
            server.start()
        browser = Browser()
        picker = browser.submit(browser.get(f"{journal_url}/"))
        idp_page = browser.choose_method(
            browser.submit(picker, having="email", email="cecilia.holm@boras.se")
        )
        assert idp_page.url.startswith(urls.idps["boras"])
        page = browser.submit(idp_page, username="cecilia", password="demo")
        assert page.status_code == 200, page.text
        attributes = browser.get(f"{journal_url}/sp/attributes.json").json()["attributes"]
    finally:
        stop_all(servers)
    # Only what the new entry releases; Borås's IdP knows no HSA-id for Cecilia, the demo's
    # HSA directory does.
    assert attributes == {
        "givenName": ["Cecilia"],
        "surname": ["Holm"],
        "employeeHsaId": ["SE2120001561-E000000000201"],
    }
