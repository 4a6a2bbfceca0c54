"""Prometheus metrics of the proxy, and the ``/metrics`` endpoint (docs/operations.md, "Metrics").

The proxy runs as several gunicorn workers: each worker writes its counters and histograms to
files in ``PROMETHEUS_MULTIPROC_DIR`` (prometheus_client's multiprocess mode, set up per gunicorn
instance by :mod:`satosa_efos.metrics_dir` from ``gunicorn_conf``), and whichever worker answers
a scrape adds up every worker's files, the dead ones' included. Without that variable (a test
that builds the application in-process) the metrics live in this process only.

What is true of the node rather than of a worker -- how long the certificates and the federation
metadata stay valid, how many SSO sessions are live -- is computed when scraped
(:class:`ScrapeCollector`), never written to the files.

Every label value comes from a bounded set: application and organisation ids from the
registries, login methods, outcomes and error codes from the code; anything else is counted as
``other`` (:func:`bounded`), so a request naming a made-up application cannot add a time series.
No label ever carries anything about a user.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

logger = logging.getLogger(__name__)

METRICS_PATH = "/metrics"
PREFIX = "satosa_efos"
OTHER = "other"
NONE = "none"

#: How a login ended (the ``outcome`` label; docs/operations.md lists what each means).
OUTCOMES = ("success", "refused", "cancelled", "failed", "unavailable", "error")
#: The upstreams whose calls are timed (the ``upstream`` label).
UPSTREAMS = ("idp", "efos", "hsa")

#: A login from the frontend's request to its answer: users read, type and scan QR codes.
LOGIN_BUCKETS = (1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0)
#: One machine-to-machine call (Efos API, HSA directory).
CALL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

#: Our metrics when not in multiprocess mode (never the global default registry, so building
#: the application twice in one test process is harmless).
LOCAL_REGISTRY = CollectorRegistry()

LOGINS_STARTED = Counter(
    f"{PREFIX}_logins_started",
    "Logins started: an application's request reached the proxy and was accepted.",
    ["application"],
    registry=LOCAL_REGISTRY,
)
LOGINS_FINISHED = Counter(
    f"{PREFIX}_logins_finished",
    "Logins that ended: answered to the application or refused with a page.",
    ["application", "organisation", "method", "outcome"],
    registry=LOCAL_REGISTRY,
)
LOGIN_DURATION = Histogram(
    f"{PREFIX}_login_duration_seconds",
    "From the application's request to the proxy's answer (the user's time included).",
    ["method", "outcome"],
    buckets=LOGIN_BUCKETS,
    registry=LOCAL_REGISTRY,
)
REFUSALS = Counter(
    f"{PREFIX}_refusals",
    "Refusal pages shown, by error code (also those outside any login).",
    ["code"],
    registry=LOCAL_REGISTRY,
)
UPSTREAM_DURATION = Histogram(
    f"{PREFIX}_upstream_request_duration_seconds",
    "One call to an upstream service (Mobilt Efos RP API, HSA directory), failures included.",
    ["upstream", "operation"],
    buckets=CALL_BUCKETS,
    registry=LOCAL_REGISTRY,
)
UPSTREAM_ERRORS = Counter(
    f"{PREFIX}_upstream_errors",
    "Upstream calls that failed, and upstream answers the proxy could not use.",
    ["upstream", "operation", "error"],
    registry=LOCAL_REGISTRY,
)
UPSTREAM_ROUND_TRIP = Histogram(
    f"{PREFIX}_upstream_round_trip_seconds",
    "From sending the user to the login method to its answer (the user's time included).",
    ["method"],
    buckets=LOGIN_BUCKETS,
    registry=LOCAL_REGISTRY,
)
LOGOUTS = Counter(
    f"{PREFIX}_logouts",
    "Single logouts, by who started them.",
    ["initiator", "outcome"],
    registry=LOCAL_REGISTRY,
)
#: Everything recorded in the workers' files.
RECORDED = (LOGINS_STARTED, LOGINS_FINISHED, LOGIN_DURATION, REFUSALS, UPSTREAM_DURATION,
            UPSTREAM_ERRORS, UPSTREAM_ROUND_TRIP, LOGOUTS)  # fmt: skip

# Computed when scraped (ScrapeCollector, filled in by satosa_efos.observe).
CERTIFICATE_EXPIRY = f"{PREFIX}_certificate_expires_in_seconds"
METADATA_EXPIRY = f"{PREFIX}_metadata_expires_in_seconds"
SSO_SESSIONS = f"{PREFIX}_sso_sessions"
READY = f"{PREFIX}_ready"
READINESS_CHECK = f"{PREFIX}_readiness_check_ok"
#: The gauges computed when scraped: name -> label names.
SCRAPE_GAUGES: dict[str, tuple[str, ...]] = {
    CERTIFICATE_EXPIRY: ("plugin", "file"),
    METADATA_EXPIRY: ("backend", "file"),
    SSO_SESSIONS: (),
    READY: (),
    READINESS_CHECK: ("check",),
}


def exported_series() -> dict[str, tuple[str, ...]]:
    """Every series name ``/metrics`` can carry -> its label names: the counters' ``_total``,
    the histograms' ``_bucket`` (with ``le``), ``_sum`` and ``_count``, and the gauges computed
    when scraped (multiprocess mode exports no ``_created``). The dashboards in docs/dashboards/
    are checked against it, so that a renamed metric cannot leave a panel empty."""
    series = dict(SCRAPE_GAUGES)
    for metric in RECORDED:
        (family,) = metric.describe()
        labels = tuple(metric._labelnames)  # prometheus_client has no public accessor
        if family.type == "counter":
            series[f"{family.name}_total"] = labels
            continue
        series[f"{family.name}_bucket"] = (*labels, "le")
        series[f"{family.name}_sum"] = series[f"{family.name}_count"] = labels
    return series


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR")


def bounded(value: object, allowed: Collection[str], missing: str = NONE) -> str:
    """``value`` when it is one of ``allowed``; ``missing`` for no value; else ``other``."""
    if value is None or value == "":
        return missing
    text = str(value)
    return text if text in allowed else OTHER


# -- upstream calls -------------------------------------------------------------------------------


@contextlib.contextmanager
def upstream_call(
    upstream: str, operation: str, classify: Callable[[BaseException], str | None] | None = None
) -> Iterator[None]:
    """Time one call; an exception counts as an error of the kind ``classify`` names (its
    ``code`` attribute by default; None: not the upstream's fault, no error counted)."""
    started = time.perf_counter()
    try:
        yield
    except Exception as exc:
        kind = classify(exc) if classify else getattr(exc, "code", None) or "error"
        if kind:
            safely(UPSTREAM_ERRORS.labels(upstream, operation, str(kind)).inc)
        raise
    finally:
        safely(UPSTREAM_DURATION.labels(upstream, operation).observe,
                time.perf_counter() - started)  # fmt: skip


def safely(record: Callable[..., None], *args: float) -> None:
    """A metric that cannot be written (a full disk) is logged, never the call's failure."""
    try:
        record(*args)
    except Exception:
        logger.exception("metric not recorded")


class TimedDirectory:
    """An HSA directory whose look-ups are timed (wrapped around the client, inside the cache:
    only questions that reach the directory are counted)."""

    def __init__(self, directory: Any):
        self.directory = directory

    def find_person(self, **identifier: str | None) -> Any:
        with upstream_call("hsa", "find_person", _directory_error):
            return self.directory.find_person(**identifier)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.directory, name)


def _directory_error(exc: BaseException) -> str | None:
    # A ValueError is a malformed question of ours (DirectoryUnavailable is deliberately not one).
    return None if isinstance(exc, ValueError) else getattr(exc, "code", None) or "error"


# -- what is computed when scraped ----------------------------------------------------------------

Gauges = Callable[[], Iterable[GaugeMetricFamily]]


class Cached:
    """A value computed at most once per ``seconds`` (per worker); a failure is remembered as
    "no value" for as long, so a dead store is not asked on every scrape."""

    def __init__(self, compute: Callable[[], Any], seconds: float, clock=time.monotonic):
        self.compute, self.seconds, self.clock = compute, seconds, clock
        self._lock = threading.Lock()
        self._value: tuple[float, Any] | None = None

    def __call__(self) -> Any:
        with self._lock:
            now = self.clock()
            if self._value is None or now - self._value[0] >= self.seconds:
                try:
                    value = self.compute()
                except Exception as exc:  # a metric is never worth a failed scrape
                    logger.warning("metric not available: %s", exc)
                    value = None
                self._value = (now, value)
            return self._value[1]


class ScrapeCollector:
    """Gauges computed by the worker that answers the scrape; any one failing is left out."""

    def __init__(self, *sources: Gauges):
        self.sources = sources

    def collect(self) -> Iterator[GaugeMetricFamily]:
        for source in self.sources:
            try:
                families = list(source())
            except Exception as exc:  # never a 500 for a metric
                logger.warning("metric source %s failed: %s", getattr(source, "__name__", source),
                               exc)  # fmt: skip
                continue
            yield from families


def seconds_left_gauge(name: str, documentation: str, labels: list[str],
                       items: Iterable[tuple[list[str], float]]) -> GaugeMetricFamily:  # fmt: skip
    family = GaugeMetricFamily(name, documentation, labels=labels)
    for values, seconds in items:
        family.add_metric(values, seconds)
    return family


def sso_session_gauge(count: Callable[[], int | None]) -> Gauges:
    def sso_sessions() -> list[GaugeMetricFamily]:
        value = count()
        if value is None:
            return []
        return [GaugeMetricFamily(SSO_SESSIONS, "Live SSO sessions in the store.", value=value)]

    return sso_sessions


def readiness_gauges(checks: Callable[[], Iterable[tuple[str, bool]]]) -> Gauges:
    """``/readyz`` as gauges: 1 when it would answer 200, and 1 or 0 per check (the answer is
    cached for a few seconds per worker, so a scrape costs no extra probes)."""

    def readiness() -> list[GaugeMetricFamily]:
        results = list(checks())
        ready = GaugeMetricFamily(READY, "1 when /readyz answers 200 (every check passes), else 0.",
                                  value=float(all(ok for _, ok in results)))  # fmt: skip
        each = GaugeMetricFamily(READINESS_CHECK, "1 when the /readyz check passes, else 0.",
                                 labels=["check"])  # fmt: skip
        for name, ok in results:
            each.add_metric([name], float(ok))
        return [ready, each]

    return readiness


class _Local:
    """This process's metrics (no multiprocess mode)."""

    def collect(self):
        return LOCAL_REGISTRY.collect()


def exposition(scrape: ScrapeCollector | None = None) -> bytes:
    registry = CollectorRegistry()
    path = multiprocess_dir()
    if path:
        MultiProcessCollector(registry, path=path)
    else:
        registry.register(_Local())
    if scrape is not None:
        registry.register(scrape)
    return generate_latest(registry)


class MetricsMiddleware:
    """Answers ``GET /metrics`` before anything of SATOSA runs (nginx keeps it internal)."""

    def __init__(self, app, scrape: ScrapeCollector | None = None):
        self.app, self.scrape = app, scrape

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO", "") != METRICS_PATH:
            return self.app(environ, start_response)
        method = environ.get("REQUEST_METHOD", "GET")
        if method not in ("GET", "HEAD"):
            start_response("405 Method Not Allowed", [("Content-Type", "text/plain"),
                                                      ("Allow", "GET, HEAD")])  # fmt: skip
            return [b"method not allowed\n"]
        try:
            body = exposition(self.scrape)
        except Exception:  # e.g. a half-written file of a dying worker: say so, stay up
            logger.exception("metrics exposition failed")
            start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"metrics unavailable\n"]
        start_response("200 OK", [
            ("Content-Type", CONTENT_TYPE_LATEST),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
        ])  # fmt: skip
        return [] if method == "HEAD" else [body]
