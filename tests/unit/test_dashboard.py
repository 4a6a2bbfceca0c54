"""The Grafana dashboard in docs/dashboards/ asks only for series the proxy exports.

Every PromQL expression of every panel (and of the dashboard's variables) is read apart: each
name in it must be a PromQL function or keyword, or a series of
:func:`satosa_efos.metrics.exported_series`; each label it selects, groups by or shows in a
legend must belong to those series (or be one Prometheus adds to every target). A metric renamed
or a label dropped in metrics.py fails here instead of leaving a panel empty.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from satosa_efos import metrics

DASHBOARDS = sorted((Path(__file__).resolve().parents[2] / "docs" / "dashboards").glob("*.json"))
#: Labels Prometheus adds to every series it scrapes.
TARGET_LABELS = {"instance", "job"}
#: PromQL's own words (functions, aggregations, modifiers) and Grafana's label_values().
PROMQL_WORDS = {
    "sum", "min", "max", "avg", "count", "stddev", "topk", "bottomk", "quantile", "group",
    "rate", "irate", "increase", "delta", "deriv", "changes", "resets", "histogram_quantile",
    "abs", "ceil", "floor", "round", "clamp_min", "clamp_max", "absent", "vector", "scalar",
    "time", "sort", "sort_desc", "label_replace", "max_over_time", "min_over_time",
    "avg_over_time", "by", "without", "on", "ignoring", "group_left", "group_right", "and",
    "or", "unless", "bool", "offset", "inf", "nan", "label_values",
}  # fmt: skip
GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
SELECTOR = re.compile(r"([A-Za-z_:][\w:]*)\s*\{([^}]*)\}")
MATCHER = re.compile(r'([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)\s*"(?:[^"\\]|\\.)*"')
NAME = re.compile(r"[A-Za-z_:][\w:]*")
#: What the panels must show (the operator guide describes each).
REQUIRED = {
    "satosa_efos_logins_finished_total",
    "satosa_efos_login_duration_seconds_bucket",
    "satosa_efos_upstream_request_duration_seconds_bucket",
    "satosa_efos_upstream_errors_total",
    "satosa_efos_certificate_expires_in_seconds",
    "satosa_efos_metadata_expires_in_seconds",
    "satosa_efos_sso_sessions",
    "satosa_efos_ready",
}


def panels(items: list[dict]) -> Iterator[dict]:
    for panel in items:
        yield panel
        yield from panels(panel.get("panels") or [])  # a collapsed row holds its panels


def expressions(dashboard: dict) -> Iterator[tuple[str, str, str]]:
    """(where, expression, legend) for every query of the dashboard."""
    for panel in panels(dashboard["panels"]):
        for target in panel.get("targets") or []:
            yield panel["title"], target["expr"], target.get("legendFormat", "")
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") == "query":
            query = variable["query"]
            query = query["query"] if isinstance(query, dict) else query
            yield f"variable {variable['name']}", query, ""


def read_apart(expr: str) -> tuple[set[str], set[str], set[str]]:
    """(series names, labels of selectors, labels of grouping clauses) of one expression."""
    text = re.sub(r"\$\{?\w+\}?", "", expr)  # Grafana's variables ($node, $__rate_interval)
    values_of = re.fullmatch(r"\s*label_values\((.+),\s*(\w+)\s*\)\s*", text)  # Grafana's
    if values_of:
        series, selected, grouped = read_apart(values_of.group(1))
        return series, selected, grouped | {values_of.group(2)}
    selected: set[str] = set()
    series: set[str] = set()
    for name, matchers in SELECTOR.findall(text):
        labels = set(MATCHER.findall(matchers))
        leftover = MATCHER.sub("", matchers).replace(",", "").strip()
        assert not leftover, f"cannot read the label matchers {{{matchers}}} in {expr}"
        series.add(name)
        selected |= {(name, label) for label in labels}
    text = SELECTOR.sub(r"\1", text)
    grouped = {label.strip() for _, labels in GROUPING.findall(text)
               for label in labels.split(",") if label.strip()}  # fmt: skip
    text = GROUPING.sub(" ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)  # range selectors
    text = re.sub(r'"(?:[^"\\]|\\.)*"', " ", text)  # strings
    text = re.sub(r"\b\d+(\.\d+)?(e[+-]?\d+)?\b", " ", text)  # numbers
    for word in NAME.findall(text):
        if word.lower() not in PROMQL_WORDS:
            series.add(word)
    return series, selected, grouped


@pytest.fixture(params=DASHBOARDS, ids=lambda p: p.name)
def dashboard(request) -> dict:
    return json.loads(request.param.read_text())


def test_there_is_a_dashboard():
    assert [p.name for p in DASHBOARDS] == ["satosa-efos.json"]


def test_every_series_and_label_a_panel_asks_for_is_exported(dashboard):
    exported = metrics.exported_series()
    problems = []
    for where, expr, legend in expressions(dashboard):
        series, selected, grouped = read_apart(expr)
        unknown = sorted(series - set(exported))
        if unknown:
            problems.append(f"{where}: {expr}: not exported by metrics.py: {unknown}")
            continue
        known = TARGET_LABELS.union(*(exported[name] for name in series))
        for name, label in sorted(selected):
            if label not in {*exported[name], *TARGET_LABELS}:
                problems.append(f"{where}: {expr}: {name} has no label {label!r}")
        problems += [f"{where}: {expr}: grouped by {label!r}, which none of its series has"
                     for label in sorted(grouped - known)]  # fmt: skip
        shown = set(re.findall(r"\{\{\s*(\w+)\s*\}\}", legend))
        if shown - (grouped or known):  # an aggregation keeps only the labels it groups by
            problems.append(f"{where}: legend {legend!r} shows labels the query drops")
    assert problems == []


def test_the_operators_panels_are_there(dashboard):
    used = set().union(*(read_apart(expr)[0] for _, expr, _ in expressions(dashboard)))
    assert used >= REQUIRED, REQUIRED - used


def test_panels_use_the_dashboards_datasource_and_have_unique_ids(dashboard):
    everything = list(panels(dashboard["panels"]))
    ids = [p["id"] for p in everything]
    assert len(ids) == len(set(ids))
    for panel in everything:
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel.get("description"), panel["title"]
        assert panel["targets"], panel["title"]
    names = [v["name"] for v in dashboard["templating"]["list"]]
    assert names == ["datasource", "node"]


@pytest.mark.parametrize(
    "expr",
    [
        "sum(rate(satosa_efos_logins_total[5m]))",  # a name metrics.py does not export
        "up",  # Prometheus's own series: not the proxy's
        'sum(rate(satosa_efos_logins_finished_total{result="success"}[5m]))',  # no such label
        "sum by (result) (rate(satosa_efos_logins_finished_total[5m]))",
    ],
)
def test_the_check_notices_a_panel_that_drifted(expr):
    dashboard = {
        "panels": [{"id": 1, "title": "drifted", "targets": [{"expr": expr}]}],
        "templating": {"list": []},
    }
    with pytest.raises(AssertionError):
        test_every_series_and_label_a_panel_asks_for_is_exported(dashboard)
