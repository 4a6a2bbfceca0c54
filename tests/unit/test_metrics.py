"""satosa_efos.metrics and metrics_dir: bounded labels, upstream timing, /metrics, the workers'
folder (prometheus_client's multiprocess mode, as gunicorn runs it)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from prometheus_client.core import GaugeMetricFamily

from satosa_efos import metrics, metrics_dir
from satosa_efos.hsa.memory import InMemoryDirectory
from satosa_efos.hsa.model import DirectoryUnavailable
from satosa_efos.metrics import LOCAL_REGISTRY

ANNA_HSA_ID = "SE2321000131-E000000001001"


def sample(name: str, **labels: str) -> float:
    return LOCAL_REGISTRY.get_sample_value(name, labels) or 0.0


def call(app, path: str, method: str = "GET") -> tuple[str, dict, bytes]:
    seen = {}

    def start_response(status, headers):
        seen["status"], seen["headers"] = status, dict(headers)

    body = b"".join(app({"PATH_INFO": path, "REQUEST_METHOD": method}, start_response))
    return seen["status"], seen["headers"], body


@pytest.mark.parametrize(("value", "expected"), [
    ("demo-app", "demo-app"), ("https://made-up.example/sp", "other"), (None, "none"), ("", "none"),
])  # fmt: skip
def test_label_values_outside_the_known_set_become_other(value, expected):
    assert metrics.bounded(value, {"demo-app"}) == expected


def test_upstream_call_times_every_call_and_counts_failures_by_code():
    before = sample("satosa_efos_upstream_request_duration_seconds_count", upstream="efos",
                    operation="collect")  # fmt: skip
    with metrics.upstream_call("efos", "collect"):
        pass
    error = DirectoryUnavailable("down")
    with pytest.raises(DirectoryUnavailable), metrics.upstream_call("efos", "collect"):
        raise error
    assert sample("satosa_efos_upstream_request_duration_seconds_count", upstream="efos",
                  operation="collect") == before + 2  # fmt: skip
    assert sample("satosa_efos_upstream_errors_total", upstream="efos", operation="collect",
                  error="hsa_unavailable") >= 1  # fmt: skip


def test_directory_is_timed_and_its_outage_counted_but_not_a_malformed_question():
    directory = metrics.TimedDirectory(InMemoryDirectory.from_ldif())
    count = "satosa_efos_upstream_request_duration_seconds_count"
    before = sample(count, upstream="hsa", operation="find_person")
    assert directory.find_person(hsa_id=ANNA_HSA_ID).given_name == "Anna"
    with pytest.raises(ValueError):
        directory.find_person(hsa_id=ANNA_HSA_ID, mail="anna@example.org")
    assert sample(count, upstream="hsa", operation="find_person") == before + 2
    errors_before = sample("satosa_efos_upstream_errors_total", upstream="hsa",
                           operation="find_person", error="hsa_unavailable")  # fmt: skip

    class Down:
        def find_person(self, **_):
            raise DirectoryUnavailable("timed out")

    with pytest.raises(DirectoryUnavailable):
        metrics.TimedDirectory(Down()).find_person(hsa_id=ANNA_HSA_ID)
    assert sample("satosa_efos_upstream_errors_total", upstream="hsa", operation="find_person",
                  error="hsa_unavailable") == errors_before + 1  # fmt: skip


def test_a_failing_source_leaves_out_its_metric_and_the_scrape_answers():
    def broken():
        raise OSError("store down")

    def fine():
        yield GaugeMetricFamily("satosa_efos_test_gauge", "a test", value=7)

    app = metrics.MetricsMiddleware(None, metrics.ScrapeCollector(broken, fine))
    status, headers, body = call(app, "/metrics")
    assert status == "200 OK" and headers["Content-Type"].startswith("text/plain")
    assert b"satosa_efos_test_gauge 7.0" in body
    assert b"satosa_efos_logins_started_total" in body or b"satosa_efos_logins_started" in body


def test_cached_value_is_computed_once_per_period_and_a_failure_is_no_value():
    calls, now = [], [0.0]

    def compute():
        calls.append(1)
        if len(calls) == 2:
            raise ConnectionError("redis down")
        return len(calls)

    cached = metrics.Cached(compute, 15, clock=lambda: now[0])
    assert cached() == 1 and cached() == 1
    now[0] = 16
    assert cached() is None  # the failure: no value, never an exception
    now[0] = 32
    assert cached() == 3
    assert metrics.sso_session_gauge(lambda: None)() == []


def test_only_get_and_head_and_only_metrics_path():
    def satosa(environ, start_response):
        start_response("200 OK", [])
        return [b"satosa"]

    app = metrics.MetricsMiddleware(satosa, None)
    assert call(app, "/metrics", "POST")[0].startswith("405")
    status, headers, body = call(app, "/metrics", "HEAD")
    assert status == "200 OK" and body == b"" and int(headers["Content-Length"]) > 0
    assert call(app, "/metricsx")[2] == b"satosa"


WORKER = """
import sys
from satosa_efos import metrics
metrics.LOGINS_STARTED.labels("demo-app").inc(int(sys.argv[1]))
metrics.LOGIN_DURATION.labels("own_idp", "success").observe(3.0)
"""


def test_the_workers_files_are_added_up(tmp_path, monkeypatch):
    """Two processes (like two gunicorn workers) count; one scrape sees the sum."""
    env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    for n in (2, 3):
        subprocess.run([sys.executable, "-c", WORKER, str(n)], env=env, check=True)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    text = metrics.exposition().decode()
    assert 'satosa_efos_logins_started_total{application="demo-app"} 5.0' in text
    assert 'satosa_efos_login_duration_seconds_count{method="own_idp",outcome="success"} 2.0' in (
        text
    )


def test_gunicorn_master_does_not_import_prometheus_client():
    """The workers fork from the master: had it imported prometheus_client before the folder
    was set, every worker would count for itself only."""
    code = textwrap.dedent("""
        import sys
        import satosa_efos.gunicorn_conf
        assert "prometheus_client" not in sys.modules, "imported by gunicorn_conf"
    """)
    subprocess.run([sys.executable, "-c", code], check=True)


def test_instance_folder_is_private_emptied_and_removed(tmp_path, monkeypatch):
    monkeypatch.delenv(metrics_dir.ENV, raising=False)
    folder = metrics_dir.prepare()
    assert folder.is_dir() and folder.name.startswith("satosa-efos-metrics-")
    assert Path(metrics_dir.os.environ[metrics_dir.ENV]) == folder
    metrics_dir.remove()
    assert not folder.exists()

    configured = tmp_path / "metrics"
    configured.mkdir()
    (configured / "counter_1.db").write_bytes(b"old run")
    (configured / "README").write_text("kept")
    monkeypatch.setenv(metrics_dir.ENV, str(configured))
    assert metrics_dir.prepare() == configured
    assert [p.name for p in configured.iterdir()] == ["README"]
    metrics_dir.remove()
    assert configured.exists()  # named by the environment: left for the next start


def test_dead_worker_keeps_its_counts_and_drops_its_live_gauges(tmp_path, monkeypatch):
    monkeypatch.setenv(metrics_dir.ENV, str(tmp_path))
    for name in ("counter_42.db", "histogram_42.db", "gauge_livesum_42.db", "gauge_liveall_42.db"):
        (tmp_path / name).write_bytes(b"")
    metrics_dir.worker_exited(42)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["counter_42.db", "histogram_42.db"]


EVERY_METRIC = """
from satosa_efos import metrics
for metric in metrics.RECORDED:
    (family,) = metric.describe()
    child = metric.labels(*["x"] * len(metric._labelnames))
    child.inc() if family.type == "counter" else child.observe(1.0)
"""


def test_exported_series_are_exactly_what_a_scrape_carries(tmp_path, monkeypatch):
    """metrics.exported_series() is what the dashboards are checked against
    (tests/unit/test_dashboard.py): it must name every series of a real multiprocess scrape,
    with its labels, and nothing a scrape never carries."""
    from prometheus_client.parser import text_string_to_metric_families

    env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    subprocess.run([sys.executable, "-c", EVERY_METRIC], env=env, check=True)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    scrape = metrics.ScrapeCollector(
        lambda: [metrics.seconds_left_gauge(metrics.CERTIFICATE_EXPIRY, "c", ["plugin", "file"],
                                            [(["idp", "keys/frontend.crt"], 1.0)])],
        lambda: [metrics.seconds_left_gauge(metrics.METADATA_EXPIRY, "m", ["backend", "file"],
                                            [(["orgidp", "federation/sambi.xml"], 1.0)])],
        metrics.sso_session_gauge(lambda: 3),
        metrics.readiness_gauges(lambda: [("metadata", True), ("keys", True)]),
    )  # fmt: skip

    text = metrics.exposition(scrape).decode()

    scraped = {sample.name: tuple(sorted(sample.labels))
               for family in text_string_to_metric_families(text)
               for sample in family.samples}  # fmt: skip
    exported = {name: tuple(sorted(labels)) for name, labels in metrics.exported_series().items()}
    assert scraped == exported


def test_readiness_gauges_say_ready_only_when_every_check_passes():
    def gauges(*results):
        families = metrics.readiness_gauges(lambda: results)()
        return {(s.name, tuple(s.labels.values())): s.value for f in families for s in f.samples}

    assert gauges(("metadata", True), ("keys", True))[(metrics.READY, ())] == 1.0
    failing = gauges(("metadata", True), ("keys", False))
    assert failing[(metrics.READY, ())] == 0.0
    assert failing[(metrics.READINESS_CHECK, ("keys",))] == 0.0
    assert failing[(metrics.READINESS_CHECK, ("metadata",))] == 1.0
