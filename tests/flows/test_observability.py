"""Metrics and the audit log over real HTTP: the demo with two gunicorn workers.

The audit logger is sent to a file of its own with the LOGGING settings docs/operations.md
gives. Logins through an organisation IdP and through Mobilt Efos, one refused by the scope
check; then ``/metrics`` (whichever worker answers, the same totals), the audit lines, and the
logs searched for the test users' personnummer.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import re
import shutil
import signal
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlencode

import pytest
import requests
from helpers import pnr_scan
from helpers.browser import Browser, choose_commission, log_in
from helpers.hsa import efos_login
from helpers.stack import Stack, start_stack
from prometheus_client.parser import text_string_to_metric_families

from satosa_efos.processes import stop_all

pytestmark = pytest.mark.flow

REPO = Path(__file__).resolve().parents[2]
HEX32 = re.compile(r"^[0-9a-f]{32}$")
MADE_UP = "https://made-up.example.org/sp"
LOGIN_FIELDS = {
    "event", "time", "outcome", "session_id", "sso_session", "client_address", "application",
    "requester", "organisation", "method", "upstream", "routing", "loa_requested",
    "loa_accepted", "loa", "attributes", "subject", "error_code", "error_id", "duration_ms",
}  # fmt: skip
#: The documented way to give the audit log a file of its own (docs/operations.md).
LOGGING = """
LOGGING:
  version: 1
  disable_existing_loggers: false
  formatters:
    json: {{"()": satosa_efos.logging_json.JsonFormatter}}
    audit: {{"()": satosa_efos.logging_json.AuditFormatter}}
  handlers:
    stderr: {{class: logging.StreamHandler, stream: "ext://sys.stderr", formatter: json}}
    audit: {{class: logging.handlers.WatchedFileHandler, filename: {audit_log}, formatter: audit}}
  loggers:
    saml2: {{level: WARNING}}
    satosa_efos.audit: {{level: INFO, handlers: [audit], propagate: false}}
  root: {{level: INFO, handlers: [stderr]}}
"""


@pytest.fixture(scope="module")
def obs(tmp_path_factory) -> Stack:
    tmp = tmp_path_factory.mktemp("observability")
    shutil.copytree(REPO / "conf", tmp / "conf", symlinks=True,
                    ignore=shutil.ignore_patterns("keys"))  # fmt: skip
    conf = tmp / "conf" / "demo"
    with (conf / "proxy_conf.yaml").open("a") as stream:
        stream.write(LOGGING.format(audit_log=json.dumps(str(tmp / "logs" / "audit.log"))))
    running = start_stack(tmp, workers=2, conf_dir=conf)
    yield running
    stop_all(running.servers)


@pytest.fixture(scope="module")
def logins(obs):
    """Eva through Göteborg's IdP, Bertil with Mobilt Efos, Ivar refused at Borås."""
    eva = log_in(obs, Browser())
    assert eva.status_code == 200 and eva.url.startswith(obs.urls.app), eva.text
    browser, bertil = efos_login(obs, "bertil", "vgr")
    bertil = choose_commission(browser, bertil)
    assert bertil.status_code == 200 and bertil.url.startswith(obs.urls.app), bertil.text
    browser = Browser()
    picker = browser.submit(browser.get(f"{obs.urls.app}/"))
    idp_page = browser.choose_method(browser.submit(picker, having="org", org="boras"))
    ivar = browser.submit(idp_page, username="ivar", password="demo")
    assert ivar.status_code == 403
    error_id = re.search(r'class="errorid">([0-9a-f]{12})<', ivar.text).group(1)
    return {"refused_error_id": error_id}


def scrape(stack: Stack) -> dict[tuple[str, frozenset], float]:
    response = requests.get(f"{stack.urls.proxy}/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def label_values(samples, label: str) -> set[str]:
    return {dict(key[1])[label] for key in samples if label in dict(key[1])}


def audit_lines(stack: Stack) -> list[dict]:
    lines = (stack.log_dir / "audit.log").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def test_metrics_of_all_workers_are_added_up(obs, logins):
    """Refusal pages served by both workers: every scrape, by either worker, counts them all."""

    def refused(_) -> int:
        return requests.get(f"{obs.urls.proxy}/no-such-page", timeout=10).status_code

    sent = 0
    for _ in range(5):  # concurrent requests, until both workers have served some
        with ThreadPoolExecutor(8) as pool:
            assert set(pool.map(refused, range(40))) == {404}
        sent += 40
        if len(worker_files(obs)) >= 2:
            break
    assert len(worker_files(obs)) >= 2, "both workers must have counted some of them"
    counts = {value(scrape(obs), "satosa_efos_refusals_total", code="not_found") for _ in range(8)}
    assert counts == {float(sent)}


def workers(stack: Stack) -> set[int]:
    """The proxy's gunicorn workers: the children of its master process."""
    master = next(s for s in stack.servers if s.name == "proxy").process.pid
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == master:
                found.add(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    return found


def worker_files(stack: Stack) -> set[str]:
    """The workers' metric files, found through the workers' memory maps."""
    folders = set()
    for pid in workers(stack):
        try:
            maps = Path(f"/proc/{pid}/maps").read_text()
        except OSError:
            continue
        folders |= {Path(m).parent for m in re.findall(r"(/\S+/counter_\d+\.db)$", maps, re.M)}
    assert folders, "no worker maps a metrics file: multiprocess metrics are not in use"
    return {p.name for folder in folders for p in folder.glob("counter_*.db")}


def test_logins_are_counted_by_application_organisation_method_and_outcome(obs, logins):
    samples = [_logins(scrape(obs)) for _ in range(6)]  # answered by either worker
    assert all(s == samples[0] for s in samples)
    metrics = scrape(obs)
    finished = "satosa_efos_logins_finished_total"
    assert value(metrics, finished, application="demo-app", organisation="goteborg",
                 method="own_idp", outcome="success") >= 1  # fmt: skip
    assert value(metrics, finished, application="demo-app", organisation="vgr",
                 method="efos_mobile", outcome="success") >= 1  # fmt: skip
    assert value(metrics, finished, application="demo-app", organisation="boras",
                 method="own_idp", outcome="refused") >= 1  # fmt: skip
    assert value(metrics, "satosa_efos_logins_started_total", application="demo-app") >= 3
    assert value(metrics, "satosa_efos_refusals_total", code="outside_scope") >= 1
    # The duration histogram, the upstreams' latency, the round trip to the login method.
    assert value(metrics, "satosa_efos_login_duration_seconds_count", method="own_idp",
                 outcome="success") >= 1  # fmt: skip
    assert value(metrics, "satosa_efos_login_duration_seconds_bucket", method="efos_mobile",
                 outcome="success", le="+Inf") >= 1  # fmt: skip
    assert value(metrics, "satosa_efos_upstream_request_duration_seconds_count",
                 upstream="hsa", operation="find_person") >= 1  # fmt: skip
    for operation in ("auth", "collect"):
        assert value(metrics, "satosa_efos_upstream_request_duration_seconds_count",
                     upstream="efos", operation=operation) >= 1  # fmt: skip
    assert value(metrics, "satosa_efos_upstream_round_trip_seconds_count", method="own_idp") >= 2
    # Computed when scraped: the proxy's certificates, the SSO sessions.
    certificates = {dict(labels)["plugin"]: v for (name, labels), v in metrics.items()
                    if name == "satosa_efos_certificate_expires_in_seconds"}  # fmt: skip
    assert {"idp", "orgidp"} <= set(certificates)
    assert all(300 * 86400 < v < 11 * 366 * 86400 for v in certificates.values())
    assert value(metrics, "satosa_efos_sso_sessions") >= 1


def _logins(samples) -> dict:
    return {k: v for k, v in samples.items() if k[0].startswith("satosa_efos_logins_")}


def test_refused_login_has_its_outcome_and_the_pages_error_id_in_the_audit_line(obs, logins):
    refused = [a for a in audit_lines(obs) if a["event"] == "login" and a["outcome"] == "refused"]
    line = next(a for a in refused if a["error_id"] == logins["refused_error_id"])
    assert line["error_code"] == "outside_scope"
    assert (line["organisation"], line["method"], line["application"]) == (
        "boras", "own_idp", "demo-app")  # fmt: skip
    assert line["upstream"] == f"{obs.urls.idps['boras']}/idp"
    assert line["attributes"] == []  # nothing was released
    # The proxy's log line of the refusal carries the same id.
    assert logins["refused_error_id"] in obs.logs("proxy")


def test_audit_lines_are_json_with_the_login_facts_and_no_attribute_values(obs, logins):
    lines = audit_lines(obs)
    logins_seen = [a for a in lines if a["event"] == "login"]
    assert len(logins_seen) >= 3
    for line in logins_seen:
        assert set(line) == LOGIN_FIELDS
        dt.datetime.fromisoformat(line["time"])
        assert line["session_id"].startswith("urn:uuid:")
        assert line["client_address"] == "127.0.0.1"
        assert line["subject"] is None or HEX32.match(line["subject"])
        assert line["loa_accepted"] == ["loa3"]
    eva = next(a for a in logins_seen if a["organisation"] == "goteborg")
    assert eva["outcome"] == "success" and eva["error_id"] is None
    assert eva["loa"] == "loa3" and eva["upstream"] == f"{obs.urls.idps['goteborg']}/idp"
    assert {"givenName", "mail", "personalIdentityNumber", "employeeHsaId"} <= set(
        eva["attributes"]
    )
    assert HEX32.match(eva["subject"]) and HEX32.match(eva["sso_session"])
    bertil = next(a for a in logins_seen if a["method"] == "efos_mobile")
    assert bertil["outcome"] == "success" and bertil["organisation"] == "vgr"
    # Names only: no value of the logins is anywhere in the audit log, nor the SSO cookie.
    text = (obs.log_dir / "audit.log").read_text()
    for secret in ("Eva", "Sjöberg", "eva.sjoberg@goteborg.se", "SE2120001355-E000000000101",
                   "Bertil", "SE2321000131-E000000001002", "ivar.lund@goteborg.se"):  # fmt: skip
        assert secret not in text
    # The audit logger writes only to its own file (propagate: false).
    assert '"satosa_efos.audit"' not in obs.logs("proxy")


def test_cancelled_login_is_counted_and_audited_with_the_error_id_of_its_log_line(obs, logins):
    browser = Browser()
    picker = browser.submit(browser.get(f"{obs.urls.app}/"))
    page = browser.choose_method(browser.submit(picker, having="org", org="vgr"), "efos_mobile")
    assert page.url.startswith(f"{obs.urls.proxy}/efos/page"), page.url
    browser.follow(browser.get(f"{obs.urls.proxy}/efos/cancel"))  # answered with a status
    line = [a for a in audit_lines(obs) if a["event"] == "login"][-1]
    assert (line["outcome"], line["error_code"], line["method"]) == (
        "cancelled", "cancelled", "efos_mobile")  # fmt: skip
    assert line["error_id"].startswith("urn:uuid:") and line["error_id"] in obs.logs("proxy")
    assert line["subject"] is None and line["attributes"] == []
    assert value(scrape(obs), "satosa_efos_logins_finished_total", application="demo-app",
                 organisation="vgr", method="efos_mobile", outcome="cancelled") == 1  # fmt: skip


def test_made_up_application_adds_no_label_value(obs, logins):
    before = scrape(obs)
    sso = f"{obs.urls.proxy}/orgidp/sso/redirect"
    request = (
        '<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
        'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_made_up" Version="2.0" '
        f'IssueInstant="{dt.datetime.now(dt.UTC):%Y-%m-%dT%H:%M:%SZ}" Destination="{sso}">'
        f"<saml:Issuer>{MADE_UP}</saml:Issuer></samlp:AuthnRequest>"
    )
    deflated = zlib.compress(request.encode())[2:-4]
    page = requests.get(f"{sso}?{urlencode({'SAMLRequest': base64.b64encode(deflated)})}",
                        timeout=10)  # fmt: skip
    assert page.status_code == 403
    discovery = requests.get(f"{obs.urls.proxy}/.well-known/openid-configuration", timeout=10)
    authorize = discovery.json()["authorization_endpoint"]
    query = {"client_id": MADE_UP, "redirect_uri": MADE_UP, "response_type": "code",
             "scope": "openid"}  # fmt: skip
    assert requests.get(f"{authorize}?{urlencode(query)}", timeout=10).status_code == 403
    after = scrape(obs)
    assert not [key for key in after if MADE_UP in str(key) or "made-up" in str(key)]
    assert label_values(after, "application") <= label_values(before, "application") | {"other"}
    assert value(after, "satosa_efos_refusals_total", code="unknown_application") >= value(
        before, "satosa_efos_refusals_total", code="unknown_application") + 2  # fmt: skip


def test_counts_survive_a_reload_of_the_configuration(obs, logins):
    """``HUP``: gunicorn replaces every worker; the new ones count on from the old ones' files."""
    before = value(scrape(obs), "satosa_efos_logins_started_total", application="demo-app")
    old = workers(obs)
    os.kill(next(s for s in obs.servers if s.name == "proxy").process.pid, signal.SIGHUP)
    deadline = time.monotonic() + 30
    while (len(workers(obs) - old) < 2 or workers(obs) & old) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert workers(obs) and not workers(obs) & old, "gunicorn did not replace its workers"
    for _ in range(3):
        assert value(scrape(obs), "satosa_efos_logins_started_total",
                     application="demo-app") == before  # fmt: skip
    browser, page = efos_login(obs, "bertil", "vgr")
    assert choose_commission(browser, page).url.startswith(obs.urls.app)
    after = scrape(obs)
    assert value(after, "satosa_efos_logins_started_total", application="demo-app") == before + 1


def test_no_personnummer_in_any_log_line(obs, logins, tmp_path_factory):
    """The logs of this module's stack, and every log the session wrote so far (the session's
    own check, tests/conftest.py, looks again at the very end)."""
    files = pnr_scan.log_files(obs.log_dir, tmp_path_factory.getbasetemp())
    assert obs.log_dir / "proxy.log" in files and obs.log_dir / "audit.log" in files
    assert os.path.getsize(obs.log_dir / "proxy.log") > 0
    assert pnr_scan.leaks(files) == []
    # The check itself finds a number, in any of its spellings.
    probe = tmp_path_factory.mktemp("probe") / "probe.txt"
    probe.write_text("a 19121212-1212 b\nc 5006262546\n")
    assert len(pnr_scan.leaks([probe])) == 2
