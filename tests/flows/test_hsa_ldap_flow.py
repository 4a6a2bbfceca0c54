"""HSA over LDAP in a full login: gunicorn (2 workers) asking a real slapd, and slapd failing.

The stack's `hsa` micro-service uses the LDAP client with a 1 s timeout and no cache (so each
login reaches slapd); the cache has its own tests and benchmark.
"""

from __future__ import annotations

import json
import re

import pytest
from helpers.hsa import efos_login, stack_with_hsa
from helpers.slapd import Slapd

from satosa_efos.hsa import DEMO_LDIF
from satosa_efos.processes import stop_all

pytestmark = pytest.mark.flow
TIMEOUT = 1.0


@pytest.fixture(scope="module")
def slapd(tmp_path_factory):
    with Slapd([DEMO_LDIF], work_dir=tmp_path_factory.mktemp("slapd")) as running:
        yield running


@pytest.fixture(scope="module")
def ldap_stack(tmp_path_factory, slapd):
    directory = {"type": "ldap", "urls": [slapd.url], "bind_dn": slapd.bind_dn,
                 "password": slapd.password, "timeout": TIMEOUT, "cache_seconds": 0}  # fmt: skip
    running = stack_with_hsa(tmp_path_factory.mktemp("hsa-ldap"), directory=directory)
    yield running
    stop_all(running.servers)


def outage_logged(stack) -> bool:
    for path in stack.log_dir.glob("*.log"):
        for line in path.read_text(errors="replace").splitlines():
            if '"event": "hsa_unavailable"' in line.replace('\\"', '"'):
                return True
    return False


def test_commission_chosen_from_ldap_reaches_the_application(ldap_stack):
    browser, page = efos_login(ldap_stack, "anna")
    assert "Välj medarbetaruppdrag" in page.text
    offered = re.findall(r'name="commission" value="([^"]+)"', page.text)
    assert offered == ["SE2321000131-C000000000001", "SE2321000131-C000000000002",
                       "SE2321000131-C000000000003"]  # fmt: skip
    browser.submit(page, having="commission", commission="SE2321000131-C000000000001")
    login = browser.get(f"{ldap_stack.urls.app}/sp/attributes.json").json()
    assert login["attributes"]["commissionPurpose"] == ["Vård och behandling"]
    assert login["attributes"]["healthCareUnitName"] == ["Vårdcentralen Kungsportsavenyen"]
    assert login["attribute_uris"]["commissionRight"] == (
        "http://sambi.se/attributes/1/commissionRight"
    )


def test_paused_directory_gives_the_outage_page_within_the_timeout(ldap_stack, slapd):
    slapd.pause()
    try:
        browser, page = efos_login(ldap_stack, "bertil")
    finally:
        slapd.resume()
    assert page.status_code == 503
    assert "HSA-katalogen svarar inte just nu" in page.text
    assert re.search(r"[0-9a-f]{8,}", page.text)  # the error id
    assert browser.get(f"{ldap_stack.urls.app}/sp/attributes.json").status_code == 401
    # The request that asked the directory answered within the timeout (plus the login's own
    # work), not after a hung worker's 30 s.
    assert page.elapsed.total_seconds() < TIMEOUT + 1.5
    assert outage_logged(ldap_stack)


def test_stopped_directory_gives_the_outage_page_and_recovers(ldap_stack, slapd):
    slapd.stop()
    try:
        _, page = efos_login(ldap_stack, "bertil")
        assert page.status_code == 503
        assert "HSA-katalogen svarar inte just nu" in page.text
    finally:
        slapd.restart()
    browser, page = efos_login(ldap_stack, "bertil")
    assert page.status_code == 200, page.text
    attributes = browser.get(f"{ldap_stack.urls.app}/sp/attributes.json").json()["attributes"]
    assert attributes["commissionHsaId"] == ["SE2321000131-C000000000006"]


def test_audit_line_is_json(ldap_stack):
    for path in ldap_stack.log_dir.glob("*.log"):
        for line in path.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                json.loads(line)
